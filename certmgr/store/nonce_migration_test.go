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
	rebuild := -1
	for i, m := range migrations {
		if strings.Contains(m, "CREATE TABLE nonces_by_expiry") {
			rebuild = i + 1
		}
	}
	if rebuild < 0 {
		t.Fatal("no nonce rebuild migration")
	}
	url := testURL(t)
	old, err := OpenURL(ctx, url, func(s *DB) { s.migrateTo = rebuild - 1 })
	if err != nil {
		t.Fatal(err)
	}
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
	old.Close()

	db, err := OpenURL(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
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
