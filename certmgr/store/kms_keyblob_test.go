package store

import (
	"bytes"
	"context"
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
	if n, err := db.CountTokenKeys(ctx, "a"); err != nil || n != 1 {
		t.Fatalf("token keys %d, %v; want 1 (the wrapped row holds no token key)", n, err)
	}
}
