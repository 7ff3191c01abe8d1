package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMigrationsApplyOnceAndReopen(t *testing.T) { eachBackend(t, testMigrationsApplyOnceAndReopen) }

func testMigrationsApplyOnceAndReopen(t *testing.T) {
	path := testURL(t)
	for range 2 {
		db, err := OpenURL(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		v, err := db.SchemaVersion(context.Background())
		if err != nil || v != len(migrations) {
			t.Fatalf("schema version %d (%v), want %d", v, err, len(migrations))
		}
		db.Close()
	}
}

func TestKMSCertificateScopedToAccount(t *testing.T) {
	eachBackend(t, testKMSCertificateScopedToAccount)
}

func testKMSCertificateScopedToAccount(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	for _, a := range []string{"a1", "a2"} {
		if err := db.Tx(ctx, func(tx *Tx) error { return tx.InsertAccount(ctx, &Account{ID: a, Name: a, CreatedAt: now}) }); err != nil {
			t.Fatal(err)
		}
	}
	c := &KMSCertificate{ID: "c1", AccountID: "a1", KeyID: "k1", KeySpec: "EC_P256", ProtectionLevel: "HSM", Subject: "CN=x", SANs: []string{"a.example", "b.example"}, Status: "PENDING", CSR: []byte{1}, CreatedAt: now, UpdatedAt: now}
	if err := db.Tx(ctx, func(tx *Tx) error { return tx.InsertKMSCertificate(ctx, c) }); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetKMSCertificate(ctx, "a2", "c1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("other account sees the row: %v", err)
	}
	got, err := db.GetKMSCertificate(ctx, "a1", "c1")
	if err != nil || len(got.SANs) != 2 || got.SANs[1] != "b.example" || !got.CreatedAt.Equal(now) {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	dup := *c
	dup.ID = "c2"
	if err := db.Tx(ctx, func(tx *Tx) error { return tx.InsertKMSCertificate(ctx, &dup) }); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate key ID: %v", err)
	}
	got.Status = "ACTIVE"
	if err := db.Tx(ctx, func(tx *Tx) error { return tx.UpdateKMSCertificate(ctx, got, "PENDING") }); err != nil {
		t.Fatal(err)
	}
	if err := db.Tx(ctx, func(tx *Tx) error { return tx.UpdateKMSCertificate(ctx, got, "PENDING") }); !errors.Is(err, ErrConflict) {
		t.Fatalf("compare-and-set on a changed status: %v", err)
	}
	if err := db.Tx(ctx, func(tx *Tx) error { return tx.DeleteKMSCertificate(ctx, "a2", "c1") }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("other account deleted the row: %v", err)
	}
	rows, total, err := db.ListKMSCertificates(ctx, "a1", 0, 10)
	if err != nil || total != 1 || len(rows) != 1 {
		t.Fatalf("list: %d %d %v", total, len(rows), err)
	}
}

func TestTxRollsBackOnError(t *testing.T) { eachBackend(t, testTxRollsBackOnError) }

func testTxRollsBackOnError(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	boom := errors.New("token refused")
	err := db.Tx(ctx, func(tx *Tx) error {
		if err := tx.InsertAccount(ctx, &Account{ID: "a", Name: "a", CreatedAt: time.Now()}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if _, err := db.AccountByName(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rolled-back row is visible: %v", err)
	}
}

func TestNonceIsSingleUseUntilExpiry(t *testing.T) { eachBackend(t, testNonceIsSingleUseUntilExpiry) }

func testNonceIsSingleUseUntilExpiry(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	now := time.Now()
	var wg sync.WaitGroup
	fresh := make(chan bool, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := db.UseNonce(ctx, "ak", "n1", now.Add(time.Minute), now)
			if err != nil {
				t.Error(err)
			}
			fresh <- ok
		}()
	}
	wg.Wait()
	close(fresh)
	n := 0
	for ok := range fresh {
		if ok {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("nonce accepted %d times, want once", n)
	}
	if ok, _ := db.UseNonce(ctx, "other-ak", "n1", now.Add(time.Minute), now); !ok {
		t.Fatal("nonces are not per access key")
	}
}

// TestNonceIsKeyedByItsExpiry: a nonce is spent for its request's expiry
// (the signed timestamp plus the window). A replay repeats both and is
// refused; the nonce under a new timestamp, which takes a new signature,
// is a new request. The lookup is one probe of the key that leads with
// the expiry, so new nonces go after older ones instead of to random
// pages.
func TestNonceIsKeyedByItsExpiry(t *testing.T) { eachBackend(t, testNonceIsKeyedByItsExpiry) }

func testNonceIsKeyedByItsExpiry(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	until := now.Add(15 * time.Minute)
	for i, step := range []struct {
		until time.Time
		fresh bool
	}{{until, true}, {until, false}, {until.Add(time.Second), true}, {until.Add(time.Second), false}} {
		if fresh, err := db.UseNonce(ctx, "ak", "n1", step.until, now); err != nil || fresh != step.fresh {
			t.Fatalf("use %d (expiry %v): fresh=%v %v, want %v", i, step.until, fresh, err, step.fresh)
		}
	}
	for _, c := range []struct {
		until time.Time
		used  bool
	}{{until, true}, {until.Add(time.Second), true}, {until.Add(2 * time.Second), false}} {
		if used, err := db.NonceUsed(ctx, "ak", "n1", c.until); err != nil || used != c.used {
			t.Fatalf("NonceUsed at %v: %v %v, want %v", c.until, used, err, c.used)
		}
	}
	// Enough other nonces, analyzed, that a scan would show.
	if err := db.Tx(ctx, func(tx *Tx) error {
		for i := range 2000 {
			if _, err := tx.recordNonce(ctx, fmt.Sprint("ak-", i%7), fmt.Sprint("other-", i), until.Add(time.Duration(i)*time.Millisecond), now); err != nil {
				return err
			}
		}
		_, err := tx.e.ExecContext(ctx, `ANALYZE nonces`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	q := `SELECT 1 FROM nonces WHERE expires_at = ? AND access_key_id = ? AND nonce = ?`
	plan := planOf(t, db, q, ms(until), "ak", "n1")
	if db.d == postgresDialect {
		if !strings.Contains(plan, "Index") || planMaxRows(plan) > 1 {
			t.Fatalf("the nonce lookup is not one probe of the key:\n%s", plan)
		}
	} else if !strings.Contains(plan, "USING PRIMARY KEY (expires_at=? AND access_key_id=? AND nonce=?)") {
		t.Fatalf("the nonce lookup does not use the expiry-first key:\n%s", plan)
	}
}

// TestCurrentSchemaIssuesNoDDL: against a current schema a node opens the
// database with a role that has no DDL rights (PostgreSQL 15 gives PUBLIC
// no CREATE on the public schema), reads and writes, and a schema behind
// the binary is refused for a node opened WithoutMigrations.
func TestCurrentSchemaIssuesNoDDL(t *testing.T) {
	ctx := context.Background()
	url := pgclustertestDatabase(t)
	db, err := OpenURL(ctx, url) // the operator's migrate
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`CREATE ROLE app LOGIN`, `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO app`} {
		if _, err := db.db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	appURL := strings.Replace(url, "postgres://postgres@", "postgres://app@", 1)
	node, err := OpenURL(ctx, appURL, WithAuditChain("node-app"))
	if err != nil {
		t.Fatalf("a node without DDL rights could not open a current schema: %v", err)
	}
	defer node.Close()
	now := time.Now().UTC()
	if err := node.Tx(ctx, func(tx *Tx) error { return tx.InsertAccount(ctx, &Account{ID: "a", Name: "a", CreatedAt: now}) }); err != nil {
		t.Fatalf("the node cannot write: %v", err)
	}
	if _, err := node.db.ExecContext(ctx, `CREATE TABLE probe (x int)`); err == nil {
		t.Fatal("the role can issue DDL; the test proves nothing")
	}
	empty := pgclustertestDatabase(t)
	if _, err := OpenURL(ctx, empty, WithoutMigrations()); !errors.Is(err, ErrSchemaBehind) {
		t.Fatalf("an empty database opened WithoutMigrations: %v, want ErrSchemaBehind", err)
	}
}
