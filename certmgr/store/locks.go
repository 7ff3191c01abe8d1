package store

import (
	"context"
	"fmt"
	"hash/fnv"
)

// Advisory lock keys of the cluster-wide locks (PostgreSQL); SQLite has one
// process per file, so its locks are no-ops.
const (
	firstStartLock = 0x66697273 // "firs": service keys and the bootstrap account
)

// lockKey turns a name (a CA identifier) into an advisory lock key in its
// own space, apart from the constants above.
func lockKey(space, name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(space + "\x00" + name))
	return int64(h.Sum64() >> 1)
}

// sessionLock holds a PostgreSQL advisory lock on a connection of its own
// until the returned func is called; with SQLite it returns at once.
func (s *DB) sessionLock(ctx context.Context, key int64) (func(), error) {
	if s.d != postgresDialect {
		return func() {}, nil
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: lock: %w", err)
	}
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		conn.Close()
		return nil, fmt.Errorf("store: lock: %w", err)
	}
	return func() {
		_, _ = conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, key)
		conn.Close()
	}, nil
}

// LockFirstStart holds the cluster-wide first-start lock: nodes starting
// together on an empty database and token create the service keys and the
// bootstrap account once, one after the other finding them made.
func (s *DB) LockFirstStart(ctx context.Context) (func(), error) {
	return s.sessionLock(ctx, firstStartLock)
}

// HasAccounts reports whether any account exists: the bootstrap account
// is made only in an empty database.
func (s *DB) HasAccounts(ctx context.Context) (bool, error) {
	var n int
	if err := s.e.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts`).Scan(&n); err != nil {
		return false, fmt.Errorf("store: count accounts: %w", err)
	}
	return n > 0, nil
}

// LockCRLBuild holds a CA's CRL-build lock across the cluster: one node
// builds a CA's CRL at a time, and the next finds it built.
func (s *DB) LockCRLBuild(ctx context.Context, ca string) (func(), error) {
	return s.sessionLock(ctx, lockKey("crl", ca))
}
