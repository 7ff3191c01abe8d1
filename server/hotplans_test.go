package server

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/certcustody/certcustody/certmgr/store"
	"github.com/certcustody/certcustody/pgcluster"
)

// growingTables are the tables that grow with use: a plan that reads one
// of them whole costs more every day the service runs.
var growingTables = []string{"issued_certificates", "audit_log", "nonces", "kms_certificates"}

// TestHotCallsReadNoGrowingTableWhole drives the calls a service makes all
// day (issuance, describe, list pages, revocation and deletion, the CA
// views, KMS create, tags, sign, describe and delete, a CRL fetch, and the
// audit checkpoints they cause)
// against PostgreSQL with every growing table holding thousands of rows
// (another node's audit chain, another account's KMS keys and nonces,
// 5,000 certificates of this account), analyzed. auto_explain logs the
// plan of every statement they run; none may read a growing table with a
// sequential scan. Two such scans, found by hand, each cost a call time in
// proportion to the data (a checkpoint's read of the whole audit log, the
// token-key count through wrapped keys); this keeps the next one out.
func TestHotCallsReadNoGrowingTableWhole(t *testing.T) {
	ctx := context.Background()
	cluster, err := pgcluster.Start("")
	if err != nil {
		t.Fatalf("%v (%s)", err, pgcluster.InstallHint)
	}
	t.Cleanup(func() { _ = cluster.Stop() })
	dbURL, err := cluster.CreateDatabase(ctx, "hotplans")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	name := strings.TrimPrefix(u.Path, "/")
	for _, q := range []string{
		`ALTER DATABASE "` + name + `" SET session_preload_libraries = 'auto_explain'`,
		`ALTER DATABASE "` + name + `" SET auto_explain.log_min_duration = 0`,
	} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v (auto_explain ships with Debian's postgresql)", q, err)
		}
	}
	db, err := store.OpenURL(ctx, dbURL) // its sessions start after the settings
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := newEnvOn(t, db)
	f := newFixtures(t, e)

	if err := db.SeedIssuedForBenchmark(ctx, f.leaf, nil, 5000); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO accounts (id, name, created_at) VALUES ('seed', 'seed', 0)`,
		`INSERT INTO kms_certificates (id, account_id, key_id, key_spec, protection_level, exportable, subject, status, csr, created_at, updated_at, pos, key_blob)
			SELECT 'seed-' || g, 'seed', 'seed-key-' || g, 'EC_P256', 'HSM', 0, 'CN=seed', 'PENDING', '\x01', 0, 0, g, '\x01' FROM generate_series(1, 5000) g`,
		`INSERT INTO nonces (access_key_id, nonce, expires_at) SELECT 'seed', 'n-' || g, 9000000000000 FROM generate_series(1, 5000) g`,
		`INSERT INTO audit_log (chain, seq, at, request_id, account_id, access_key_id, action, resource, code, source_ip, prev_hash, hash)
			SELECT 'seed-node', g, 0, 'r', 'seed', 'k', 'x', 'y', 'OK', '127.0.0.1', '\x00', '\x00' FROM generate_series(1, 5000) g`,
		`ANALYZE`,
	} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatalf("seed: %v\n%s", err, q)
		}
	}
	before, err := cluster.Log()
	if err != nil {
		t.Fatal(err)
	}

	seeded := fmt.Sprintf("%s-%d", f.leaf, 2500)
	// Six rounds: pgx prepares each statement, and PostgreSQL may plan it
	// generically from the sixth execution on; both plans are checked.
	for round := range 6 {
		leaf := f.newLeaf(t, false)
		e.rawOK(t, caVersion, "CreateServerCertificateWithCsr", map[string]string{"ParentIdentifier": f.sub, "Csr": clientCSR(t, "ECC", "hot.example.com"),
			"Domain": "hot.example.com", "Days": "30"})
		e.rawOK(t, caVersion, "DescribeClientCertificate", map[string]string{"Identifier": seeded})
		e.rawOK(t, caVersion, "DescribeClientCertificateStatus", map[string]string{"Identifier": seeded})
		e.rawOK(t, caVersion, "ListClientCertificate", map[string]string{"CurrentPage": "1", "ShowSize": "20"})
		e.rawOK(t, caVersion, "ListClientCertificate", map[string]string{"CurrentPage": "200", "ShowSize": "20"})
		e.rawOK(t, caVersion, "CreateRevokeClientCertificate", map[string]string{"Identifier": leaf})
		e.rawOK(t, caVersion, "ListRevokeCertificate", map[string]string{"CurrentPage": "1", "ShowSize": "20"})
		e.rawOK(t, caVersion, "DeleteClientCertificate", map[string]string{"Identifier": leaf})
		e.rawOK(t, caVersion, "CreateServerCertificate", map[string]string{"ParentIdentifier": f.sub, "Algorithm": "ECC_256",
			"CommonName": "gen.example.com", "Domain": "gen.example.com", "Days": "30"})
		e.rawOK(t, caVersion, "DescribeCACertificateCount", nil)
		e.rawOK(t, caVersion, "DescribeCACertificateList", map[string]string{"CurrentPage": "1", "ShowSize": "20"})
		e.rawOK(t, caVersion, "DescribeCACertificate", map[string]string{"Identifier": f.sub})
		kms := f.newKMS(t, round%2 == 0)
		e.rawOK(t, kmsVersion, "DescribeCertificate", map[string]string{"CertificateId": kms})
		e.rawOK(t, kmsVersion, "ListCertificates", map[string]string{"CurrentPage": "1", "ShowSize": "20"})
		e.rawOK(t, kmsVersion, "TagResource", map[string]string{"CertificateId": kms, "Tags": `[{"TagKey":"team","TagValue":"ops"}]`})
		e.rawOK(t, kmsVersion, "ListResourceTags", map[string]string{"CertificateId": kms})
		e.rawOK(t, kmsVersion, "GetCertificate", map[string]string{"CertificateId": f.kms})
		e.rawOK(t, kmsVersion, "CertificatePrivateKeySign", map[string]string{"CertificateId": f.kms, "Algorithm": "ECDSA_SHA_256",
			"Message": "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI=", "MessageType": "DIGEST"})
		e.rawOK(t, kmsVersion, "DeleteCertificate", map[string]string{"CertificateId": kms})
		resp, err := http.Get(e.URL + "/crl/" + f.sub + ".crl")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("CRL fetch: HTTP %d", resp.StatusCode)
		}
	}
	if cps, err := db.AuditCheckpoints(ctx); err != nil || len(cps) == 0 {
		t.Fatalf("no audit checkpoint was signed during the calls (%v): the heads query went unchecked", err)
	}

	after, err := cluster.Log()
	if err != nil {
		t.Fatal(err)
	}
	plans := string(after[len(before):])
	if !strings.Contains(plans, "Query Text:") {
		t.Fatalf("auto_explain logged no plan:\n%.2000s", plans)
	}
	// One entry per logged plan, from its LOG line to the next.
	for _, entry := range regexp.MustCompile(`(?m)^.*LOG:  duration: `).Split(plans, -1) {
		for _, table := range growingTables {
			if regexp.MustCompile(`Seq Scan on ` + table + `\b`).MatchString(entry) {
				t.Errorf("a hot statement reads %s whole:\n%s", table, entry)
			}
		}
	}
}
