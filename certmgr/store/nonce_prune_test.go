package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestNoncePruneIsBounded: 2,500 expired nonces are pruned 1,000 at a
// time, oldest first, one batch per nonce-recording transaction while the
// batches come out full; after a short batch the next prune waits its
// second, so expired rows made meanwhile stay until then.
func TestNoncePruneIsBounded(t *testing.T) { eachBackend(t, testNoncePruneIsBounded) }

func testNoncePruneIsBounded(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	insertExpired := func(from, n int) {
		t.Helper()
		err := db.Tx(ctx, func(tx *Tx) error {
			for i := from; i < from+n; i++ {
				// expires_at grows with i: the oldest are the lowest.
				if _, err := tx.e.ExecContext(ctx, `INSERT INTO nonces (access_key_id, nonce, expires_at) VALUES (?,?,?)`,
					"ak", fmt.Sprint("old-", i), ms(now.Add(-time.Hour).Add(time.Duration(i)*time.Millisecond))); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	left := func() (expired int, oldest string) {
		t.Helper()
		if err := db.db.QueryRowContext(ctx, db.d.rebind(`SELECT COUNT(*) FROM nonces WHERE expires_at < ?`), ms(now)).Scan(&expired); err != nil {
			t.Fatal(err)
		}
		if expired > 0 {
			if err := db.db.QueryRowContext(ctx, db.d.rebind(`SELECT nonce FROM nonces WHERE expires_at < ? ORDER BY expires_at LIMIT 1`), ms(now)).Scan(&oldest); err != nil {
				t.Fatal(err)
			}
		}
		return expired, oldest
	}
	use := func(i int, at time.Time) {
		t.Helper()
		if ok, err := db.UseNonce(ctx, "ak", fmt.Sprint("fresh-", i), at.Add(15*time.Minute), at); err != nil || !ok {
			t.Fatalf("fresh nonce %d: %v %v", i, ok, err)
		}
	}
	insertExpired(0, 2500)
	for i, want := range []struct {
		expired int
		oldest  string
	}{{1500, "old-1000"}, {500, "old-2000"}, {0, ""}} {
		use(i, now)
		if n, oldest := left(); n != want.expired || oldest != want.oldest {
			t.Fatalf("after prune %d: %d expired left, oldest %q; want %d, %q", i+1, n, oldest, want.expired, want.oldest)
		}
	}
	insertExpired(5000, 10)
	use(10, now.Add(500*time.Millisecond))
	if n, _ := left(); n != 10 {
		t.Fatalf("a prune within a second of a short batch: %d expired left, want 10", n)
	}
	use(11, now.Add(1500*time.Millisecond))
	if n, _ := left(); n != 0 {
		t.Fatalf("a prune a second and a half later: %d expired left, want 0", n)
	}
}
