package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// Every authenticated request records its signature nonce, so nonce writes
// are the hottest writes in the system; they go through group commit.

const nonceGCEvery = time.Minute

// atomicTime is a time readable and writable from several goroutines.
type atomicTime struct{ v atomic.Int64 }

func (a *atomicTime) get() time.Time  { return time.UnixMilli(a.v.Load()) }
func (a *atomicTime) set(t time.Time) { a.v.Store(t.UnixMilli()) }

// UseNonce records a nonce for an access key until the given time. It
// returns false when the nonce was already used and has not expired.
// Expired nonces are pruned at most once a minute.
func (s *DB) UseNonce(ctx context.Context, accessKeyID, nonce string, until, now time.Time) (bool, error) {
	var fresh bool
	err := s.Group(ctx, func(tx *Tx) error {
		if now.Sub(s.lastGC.get()) > nonceGCEvery {
			if _, err := tx.e.ExecContext(ctx, `DELETE FROM nonces WHERE expires_at < ?`, ms(now)); err != nil {
				return fmt.Errorf("store: prune nonces: %w", err)
			}
			s.lastGC.set(now)
		}
		// An expired row does not count: it is taken over as if pruned.
		res, err := tx.e.ExecContext(ctx, `INSERT INTO nonces (access_key_id, nonce, expires_at) VALUES (?,?,?)
			ON CONFLICT (access_key_id, nonce) DO UPDATE SET expires_at = excluded.expires_at WHERE nonces.expires_at < ?`,
			accessKeyID, nonce, ms(until), ms(now))
		if err != nil {
			return fmt.Errorf("store: record nonce: %w", err)
		}
		n, _ := res.RowsAffected()
		fresh = n == 1
		return nil
	})
	return fresh, err
}
