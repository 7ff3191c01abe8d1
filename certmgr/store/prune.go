package store

import (
	"context"
	"fmt"
	"time"
)

// Rows that expire (signature nonces, ClientToken claims) are pruned
// inside the write transactions that add such rows, so a prune holds the
// write lock (SQLite) or the chain's lock (PostgreSQL) while it runs. It
// deletes at most pruneBatch of the oldest at a time, at most once a
// pruneEvery per process and kind, and again in the next transaction
// while batches come out full, so a backlog drains in bounded steps. A
// minute's worth of nonces at once was 60,000 rows at 1,000 calls/s,
// about 0.8 s of stalled writes on SQLite.
const (
	pruneEvery = time.Second
	pruneBatch = 1000
)

// expiring names a table of rows that expire: its key columns, the column
// compared with the cutoff (indexed), and which of the store's clocks
// remembers its last prune.
type expiring struct {
	table, key, at string
	last           func(*Tx) *atomicTime
}

var (
	expiredNonces = expiring{table: "nonces", key: "expires_at, access_key_id, nonce", at: "expires_at",
		last: func(tx *Tx) *atomicTime { return tx.lastGC }}
	expiredClientTokens = expiring{table: "client_tokens", key: "account_id, token", at: "created_at",
		last: func(tx *Tx) *atomicTime { return tx.lastTokenGC }}
)

// statement is the batch delete; PostgreSQL skips rows another node's
// prune holds rather than wait for that node's commit.
func (e expiring) statement(d dialect) string {
	sel := `SELECT ` + e.key + ` FROM ` + e.table + ` WHERE ` + e.at + ` < ? ORDER BY ` + e.at + ` LIMIT ?`
	if d == postgresDialect {
		sel += ` FOR UPDATE SKIP LOCKED`
	}
	return `DELETE FROM ` + e.table + ` WHERE (` + e.key + `) IN (` + sel + `)`
}

// pruneExpired deletes up to pruneBatch rows of e whose time is before
// cutoff, oldest first, unless this process pruned e less than pruneEvery
// before now and its batch then was short.
func (tx *Tx) pruneExpired(ctx context.Context, e expiring, cutoff, now time.Time) error {
	last := e.last(tx)
	if now.Sub(last.get()) <= pruneEvery {
		return nil
	}
	res, err := tx.e.ExecContext(ctx, e.statement(tx.d), ms(cutoff), pruneBatch)
	if err != nil {
		return fmt.Errorf("store: prune %s: %w", e.table, err)
	}
	if n, err := res.RowsAffected(); err != nil || n < pruneBatch {
		last.set(now)
	}
	return nil
}
