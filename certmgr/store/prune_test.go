package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestPruneIsBounded: for expired nonces and expired ClientToken claims,
// 2,500 expired rows are pruned 1,000 at a time, oldest first, one batch
// per transaction that adds such a row while the batches come out full;
// after a short batch the next prune waits its second, so rows that
// expire meanwhile stay until then.
func TestPruneIsBounded(t *testing.T) { eachBackend(t, testPruneIsBounded) }

func testPruneIsBounded(t *testing.T) {
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	for _, kind := range []struct {
		e      expiring
		insert string // (key, time) of an expired row
		add    func(db *DB, i int, at time.Time) error
	}{
		{expiredNonces, `INSERT INTO nonces (access_key_id, nonce, expires_at) VALUES ('ak', ?, ?)`,
			func(db *DB, i int, at time.Time) error {
				ok, err := db.UseNonce(ctx, "ak", fmt.Sprint("fresh-", i), at.Add(15*time.Minute), at)
				if err == nil && !ok {
					err = fmt.Errorf("fresh nonce %d refused", i)
				}
				return err
			}},
		{expiredClientTokens, `INSERT INTO client_tokens (account_id, token, action, fingerprint, resource, created_at) VALUES ('a1', ?, 'x', 'f', 'r', ?)`,
			func(db *DB, i int, at time.Time) error {
				return db.Tx(ctx, func(tx *Tx) error {
					return tx.insertClientToken(ctx, &ClientToken{AccountID: "a1", Token: fmt.Sprint("fresh-", i), Action: "x", Fingerprint: "f",
						Resource: "r", CreatedAt: at}, at.Add(-24*time.Hour))
				})
			}},
	} {
		t.Run(kind.e.table, func(t *testing.T) {
			db := openTest(t)
			// Expired rows: an hour before the cutoff of nonces (now) and
			// of claims (a day before now); the oldest have the lowest i.
			base := now.Add(-time.Hour)
			if kind.e.table == "client_tokens" {
				base = now.Add(-25 * time.Hour)
			}
			insertExpired := func(from, n int) {
				t.Helper()
				if err := db.Tx(ctx, func(tx *Tx) error {
					for i := from; i < from+n; i++ {
						if _, err := tx.e.ExecContext(ctx, kind.insert, fmt.Sprint("old-", i), ms(base.Add(time.Duration(i)*time.Millisecond))); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			left := func() (n int, oldest string) {
				t.Helper()
				q := `SELECT COUNT(*) FROM ` + kind.e.table + ` WHERE ` + kind.e.at + ` < ?`
				if err := db.db.QueryRowContext(ctx, db.d.rebind(q), ms(base.Add(time.Hour))).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if n > 0 {
					key := "nonce"
					if kind.e.table == "client_tokens" {
						key = "token"
					}
					q := `SELECT ` + key + ` FROM ` + kind.e.table + ` WHERE ` + kind.e.at + ` < ? ORDER BY ` + kind.e.at + ` LIMIT 1`
					if err := db.db.QueryRowContext(ctx, db.d.rebind(q), ms(base.Add(time.Hour))).Scan(&oldest); err != nil {
						t.Fatal(err)
					}
				}
				return n, oldest
			}
			insertExpired(0, 2500)
			for i, want := range []struct {
				n      int
				oldest string
			}{{1500, "old-1000"}, {500, "old-2000"}, {0, ""}} {
				if err := kind.add(db, i, now); err != nil {
					t.Fatal(err)
				}
				if n, oldest := left(); n != want.n || oldest != want.oldest {
					t.Fatalf("after prune %d: %d expired left, oldest %q; want %d, %q", i+1, n, oldest, want.n, want.oldest)
				}
			}
			insertExpired(5000, 10)
			if err := kind.add(db, 10, now.Add(500*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			if n, _ := left(); n != 10 {
				t.Fatalf("a prune within a second of a short batch: %d expired left, want 10", n)
			}
			if err := kind.add(db, 11, now.Add(1500*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			if n, _ := left(); n != 0 {
				t.Fatalf("a prune a second and a half later: %d expired left, want 0", n)
			}
		})
	}
}
