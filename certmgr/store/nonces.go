package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Every authenticated request records its signature nonce, so nonce writes
// are the hottest writes in the system. A call that carries a Journal
// records its nonce in the transaction that commits its first record (see
// Journal.SetNonce), so it pays no commit of its own; UseNonce, a
// group-committed write of its own, serves callers without a journal.

// ErrNonceUsed: a transaction tried to record a signature nonce that
// another call had already recorded, unexpired. That call committed first
// (or is committing now); the transaction rolled back.
var ErrNonceUsed = errors.New("store: signature nonce already used")

// atomicTime is a time readable and writable from several goroutines.
type atomicTime struct{ v atomic.Int64 }

func (a *atomicTime) get() time.Time  { return time.UnixMilli(a.v.Load()) }
func (a *atomicTime) set(t time.Time) { a.v.Store(t.UnixMilli()) }

// UseNonce records a nonce for an access key until the given time. It
// returns false when the nonce was already used and has not expired.
func (s *DB) UseNonce(ctx context.Context, accessKeyID, nonce string, until, now time.Time) (bool, error) {
	var fresh bool
	err := s.Group(ctx, func(tx *Tx) error {
		var err error
		fresh, err = tx.recordNonce(ctx, accessKeyID, nonce, until, now)
		return err
	})
	return fresh, err
}

// NonceUsed reports whether a nonce is recorded for the access key with
// the expiry until. It writes nothing: it lets a replay of a committed
// request be refused before any work, while the record itself commits
// with the call (a replay racing its original is caught there).
//
// A nonce is recorded with its request's expiry, the signed timestamp plus
// the window, and that expiry leads the key (migration 21): a replay
// carries the same timestamp, so it finds its original's row, while
// another request with the same nonce and a new timestamp is a request
// with a new signature, which only the key's holder can make. Whatever
// the expiry, a request is only accepted while it lies ahead (the
// timestamp is at most a window old), so a recorded row is unexpired.
func (q queries) NonceUsed(ctx context.Context, accessKeyID, nonce string, until time.Time) (bool, error) {
	var one int
	err := q.e.QueryRowContext(ctx, `SELECT 1 FROM nonces WHERE expires_at = ? AND access_key_id = ? AND nonce = ?`,
		ms(until), accessKeyID, nonce).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: read nonce: %w", err)
	}
	return true, nil
}

// nonceInsert records a nonce (expiry, access key, nonce); a row already
// there (unexpired, see NonceUsed) makes it write nothing.
const nonceInsert = `INSERT INTO nonces (expires_at, access_key_id, nonce) VALUES (?,?,?)
		ON CONFLICT (expires_at, access_key_id, nonce) DO NOTHING`

// pruneNonces deletes a bounded batch of expired nonces (prune.go).
func (tx *Tx) pruneNonces(ctx context.Context, now time.Time) error {
	return tx.pruneExpired(ctx, expiredNonces, now, now)
}

// recordNonce records a nonce in tx and reports whether it was fresh.
// Expired nonces are pruned a bounded batch at a time (pruneNonces). Two
// transactions recording one nonce serialize on its key: the second waits
// for the first to commit and then finds it taken.
func (tx *Tx) recordNonce(ctx context.Context, accessKeyID, nonce string, until, now time.Time) (bool, error) {
	if err := tx.pruneNonces(ctx, now); err != nil {
		return false, err
	}
	res, err := tx.e.ExecContext(ctx, nonceInsert, ms(until), accessKeyID, nonce)
	if err != nil {
		return false, fmt.Errorf("store: record nonce: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: record nonce: %w", err)
	}
	return n == 1, nil
}
