package store

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestKMSKeyBlob: a wrapped-custody row keeps its key blob (migration 17),
// a token-key row has none, and only token-key rows count toward the
// token-key quota.
func TestKMSKeyBlob(t *testing.T) { eachBackend(t, testKMSKeyBlob) }

func testKMSKeyBlob(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	now := time.Now().UTC()
	blob := []byte{0, 1, 2, 0xff}
	err := db.Tx(ctx, func(tx *Tx) error {
		if err := tx.InsertAccount(ctx, &Account{ID: "a", Name: "a", CreatedAt: now}); err != nil {
			return err
		}
		for _, r := range []*KMSCertificate{
			{ID: "wrapped", KeyID: "kms-w", KeyBlob: blob},
			{ID: "token", KeyID: "kms-t"},
		} {
			r.AccountID, r.KeySpec, r.ProtectionLevel, r.Subject, r.Status, r.CSR, r.CreatedAt, r.UpdatedAt = "a", "EC_P256", "HSM", "CN=x", "PENDING", []byte{1}, now, now
			if err := tx.InsertKMSCertificate(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	w, err := db.GetKMSCertificate(ctx, "a", "wrapped")
	if err != nil || !bytes.Equal(w.KeyBlob, blob) {
		t.Fatalf("wrapped row: blob %x, %v", w.KeyBlob, err)
	}
	tk, err := db.GetKMSCertificate(ctx, "a", "token")
	if err != nil || tk.KeyBlob != nil {
		t.Fatalf("token row: blob %x, %v", tk.KeyBlob, err)
	}
	if rows, _, err := db.ListKMSCertificates(ctx, "a", 0, 10); err != nil || len(rows) != 2 {
		t.Fatalf("list: %d rows, %v", len(rows), err)
	}
	if n, err := db.CountTokenKeys(ctx, "a", 10); err != nil || n != 1 {
		t.Fatalf("token keys %d, %v; want 1 (the wrapped row holds no token key)", n, err)
	}
}

// TestTokenKeyCountReadsOnlyTokenKeys: an account of 3,000 wrapped keys
// and 5 token keys. The quota's count is 5, stops at its bound (3 when
// asked up to 3), and reads the token keys' own index: SQLite's plan names
// kms_account_token_keys and scans no table, and no PostgreSQL plan node
// touches more than the 5 token keys.
func TestTokenKeyCountReadsOnlyTokenKeys(t *testing.T) {
	eachBackend(t, testTokenKeyCountReadsOnlyTokenKeys)
}

func testTokenKeyCountReadsOnlyTokenKeys(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	now := time.Now().UTC()
	err := db.Tx(ctx, func(tx *Tx) error {
		if err := tx.InsertAccount(ctx, &Account{ID: "a", Name: "a", CreatedAt: now}); err != nil {
			return err
		}
		for i := range 3005 {
			r := &KMSCertificate{ID: fmt.Sprint("c-", i), KeyID: fmt.Sprint("kms-", i), AccountID: "a", KeySpec: "EC_P256", ProtectionLevel: "HSM",
				Subject: "CN=x", Status: "PENDING", CSR: []byte{1}, CreatedAt: now, UpdatedAt: now}
			if i >= 5 {
				r.KeyBlob = []byte{byte(i)}
			}
			if err := tx.InsertKMSCertificate(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.db.ExecContext(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	for upTo, want := range map[int]int{100: 5, 5: 5, 3: 3} {
		if n, err := db.CountTokenKeys(ctx, "a", upTo); err != nil || n != want {
			t.Fatalf("token keys up to %d: %d, %v; want %d", upTo, n, err, want)
		}
	}
	plan := planOf(t, db, tokenKeyCount, "a", 100, "a", 100)
	if db.d == postgresDialect {
		if n := planMaxRows(plan); n > 5 {
			t.Fatalf("a plan node touches %d rows:\n%s", n, plan)
		}
	} else if !strings.Contains(plan, "kms_account_token_keys") || strings.Contains(plan, "SCAN kms_certificates") {
		t.Fatalf("the count does not read the token keys' index alone:\n%s", plan)
	}
}
