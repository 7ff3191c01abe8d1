package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestNonceMigrationKeepsEveryNonce: rebuilding nonces with the expiry
// first (migration 21) keeps every recorded nonce, spent for its expiry,
// and the table then holds the expiry-first key and no separate expiry
// index.
func TestNonceMigrationKeepsEveryNonce(t *testing.T) {
	eachBackend(t, testNonceMigrationKeepsEveryNonce)
}

func testNonceMigrationKeepsEveryNonce(t *testing.T) {
	ctx := context.Background()
	old, url := openBeforeMigration(t, "CREATE TABLE nonces_by_expiry")
	now := time.Now().UTC().Truncate(time.Millisecond)
	until := func(i int) time.Time { return now.Add(time.Duration(i) * time.Second) }
	const n = 300
	if err := old.Tx(ctx, func(tx *Tx) error {
		for i := range n {
			if _, err := tx.x.ExecContext(ctx, `INSERT INTO nonces (access_key_id, nonce, expires_at) VALUES (?,?,?)`,
				fmt.Sprint("ak-", i%3), fmt.Sprint("n-", i), ms(until(i))); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	db := reopenMigrated(t, old, url)
	for i := range n {
		used, err := db.NonceUsed(ctx, fmt.Sprint("ak-", i%3), fmt.Sprint("n-", i), until(i))
		if err != nil || !used {
			t.Fatalf("nonce %d after the migration: used=%v %v", i, used, err)
		}
	}
	if fresh, err := db.UseNonce(ctx, "ak-0", "n-0", until(0), now); err != nil || fresh {
		t.Fatalf("a migrated nonce was spent again: fresh=%v %v", fresh, err)
	}
	var indexes int
	q := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'nonces_expiry'`
	if db.d == postgresDialect {
		q = `SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'nonces_expiry'`
	}
	if err := db.db.QueryRowContext(ctx, q).Scan(&indexes); err != nil || indexes != 0 {
		t.Fatalf("nonces_expiry indexes left: %d (%v)", indexes, err)
	}
}

// openBeforeMigration opens a fresh database of the test's backend at the
// schema just before the migration whose text contains marker, and
// returns it with its URL, so that a test can write rows in the old shape
// and then reopen the database to run the migration.
func openBeforeMigration(t *testing.T, marker string) (*DB, string) {
	t.Helper()
	v := -1
	for i, m := range migrations {
		if strings.Contains(m, marker) {
			v = i + 1
		}
	}
	if v < 0 {
		t.Fatalf("no migration contains %q", marker)
	}
	url := testURL(t)
	old, err := OpenURL(context.Background(), url, func(s *DB) { s.migrateTo = v - 1 })
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := old.SchemaVersion(context.Background()); got != v-1 {
		t.Fatalf("old schema at %d, want %d", got, v-1)
	}
	return old, url
}

// reopenMigrated closes old and opens its database again, running the
// migrations it was opened without; the store closes with the test.
func reopenMigrated(t *testing.T, old *DB, url string) *DB {
	t.Helper()
	old.Close()
	db, err := OpenURL(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
