package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestTagMigrationCopiesCreationTags: a database written before the tag
// store keeps its creation-time Tags: the migration copies them (of CAs
// and live certificates; malformed JSON reads as none, as before), and
// the tag writers keep the old column in step from then on.
func TestTagMigrationCopiesCreationTags(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite3", "file:"+path+"?_foreign_keys=on")
	if err != nil {
		t.Fatal(err)
	}
	tagStore := -1
	for i, m := range migrations {
		if strings.Contains(m, "CREATE TABLE resource_tags") {
			tagStore = i
		}
	}
	if tagStore < 0 {
		t.Fatal("no tag store migration")
	}
	if _, err := raw.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL DEFAULT (unixepoch()))`); err != nil {
		t.Fatal(err)
	}
	for i, m := range migrations[:tagStore] {
		if _, err := raw.Exec(m); err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Exec(`INSERT INTO schema_migrations(version) VALUES (?)`, i+1); err != nil {
			t.Fatal(err)
		}
	}
	for _, stmt := range []string{
		`INSERT INTO accounts VALUES ('acc', 'acme', 0)`,
		`INSERT INTO ca_certificates (identifier, account_id, certificate_type, key_id, algorithm, key_size, status, certificate, serial, subject_dn,
			years, path_len, enable_crl, crl_day, not_before, not_after, created_at, tags)
			VALUES ('ca1', 'acc', 'ROOT', 'k1', 'ECC', 256, 'ISSUE', x'00', '01', 'CN=r', 1, -1, 0, 30, 0, 1, 0, '[{"TagKey":"env","TagValue":"dev"},{"TagKey":"team"}]')`,
		`INSERT INTO ca_certificates (identifier, account_id, certificate_type, key_id, algorithm, key_size, status, certificate, serial, subject_dn,
			years, path_len, enable_crl, crl_day, not_before, not_after, created_at, tags)
			VALUES ('ca2', 'acc', 'ROOT', 'k2', 'ECC', 256, 'ISSUE', x'00', '02', 'CN=r', 1, -1, 0, 30, 0, 1, 0, 'not json')`,
		`INSERT INTO issued_certificates (identifier, account_id, issuer_identifier, serial, certificate_type, status, certificate, subject_dn,
			algorithm, key_size, not_before, not_after, created_at, tags) VALUES ('c1', 'acc', 'ca1', '0A', 'SERVER', 'ISSUE', x'00', 'CN=c', 'ECC', 256, 0, 1, 0,
			'[{"TagKey":"app","TagValue":"web"}]')`,
		`INSERT INTO issued_certificates (identifier, account_id, issuer_identifier, serial, certificate_type, status, certificate, subject_dn,
			algorithm, key_size, not_before, not_after, created_at, tags, deleted) VALUES ('c2', 'acc', 'ca1', '0B', 'SERVER', 'REVOKE', x'00', 'CN=c', 'ECC', 256, 0, 1, 0,
			'[{"TagKey":"gone","TagValue":"yes"}]', 1)`,
	} {
		if _, err := raw.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()

	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for id, want := range map[string]string{"ca1": "env=dev,team=", "ca2": "", "c1": "app=web", "c2": ""} {
		tags, err := db.TagsOf(ctx, "acc", TagResourcePCA, id)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, t := range tags {
			got = append(got, t.Key+"="+t.Value)
		}
		if strings.Join(got, ",") != want {
			t.Errorf("%s: %v, want %s", id, got, want)
		}
	}
	// Later changes keep the old column in step.
	if err := db.Tx(ctx, func(tx *Tx) error { return tx.UpsertTags(ctx, "acc", TagResourcePCA, "ca1", []Tag{{"env", "prod"}}) }); err != nil {
		t.Fatal(err)
	}
	ca, err := db.GetCACertificate(ctx, "acc", "ca1")
	if err != nil || ca.Tags != `[{"TagKey":"env","TagValue":"prod"},{"TagKey":"team","TagValue":""}]` || ca.IssuerType != IssuerLocal {
		t.Fatalf("mirrored %q, issuer type %q (%v)", ca.Tags, ca.IssuerType, err)
	}
}

// TestTagStoreLimitsAndScope: at most 20 tags per resource (the 21st
// fails and the caller's transaction rolls back), tags are per account
// and per resource type, and the listing pages by (resource, key).
func TestTagStoreLimitsAndScope(t *testing.T) { eachBackend(t, testTagStoreLimitsAndScope) }

func testTagStoreLimitsAndScope(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	var tags []Tag
	for i := range 20 {
		tags = append(tags, Tag{Key: string(rune('a' + i)), Value: "v"})
	}
	if err := db.Tx(ctx, func(tx *Tx) error { return tx.UpsertTags(ctx, "acc", TagResourceKMS, "k1", tags) }); err != nil {
		t.Fatal(err)
	}
	err := db.Tx(ctx, func(tx *Tx) error {
		return tx.UpsertTags(ctx, "acc", TagResourceKMS, "k1", []Tag{{"z", "v"}, {"a", "changed"}})
	})
	if !errors.Is(err, ErrTooManyTags) {
		t.Fatalf("21st tag: %v", err)
	}
	got, _ := db.TagsOf(ctx, "acc", TagResourceKMS, "k1")
	if len(got) != 20 || got[0].Value != "v" {
		t.Fatalf("rolled back: %v", got)
	}
	for _, q := range []struct {
		acc, typ string
	}{{"other", TagResourceKMS}, {"acc", TagResourcePCA}} {
		if got, _ := db.TagsOf(ctx, q.acc, q.typ, "k1"); len(got) != 0 {
			t.Fatalf("%v sees %v", q, got)
		}
	}
	page1, err := db.ListTags(ctx, TagQuery{AccountID: "acc", Type: TagResourceKMS, Limit: 15})
	if err != nil || len(page1) != 15 {
		t.Fatal(len(page1), err)
	}
	last := page1[14]
	page2, err := db.ListTags(ctx, TagQuery{AccountID: "acc", Type: TagResourceKMS, AfterResource: last.ResourceID, AfterKey: last.Key, Limit: 15})
	if err != nil || len(page2) != 5 || page2[0].Key != "p" {
		t.Fatalf("page 2: %v %v", page2, err)
	}
}
