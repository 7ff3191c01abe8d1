package store

import (
	"context"
	"fmt"
	"time"
)

// PoolKey is an unclaimed key of the token key pool: a KMS key pair
// generated ahead of time with its final attributes. The row names the
// token key, so the orphan sweep leaves it alone; claiming the key deletes
// the row in the transaction that writes the key's certificate row.
type PoolKey struct {
	KeyID           string // keystore key ID (CKA_ID), "kms-<uuid>"
	Algorithm       string // keystore algorithm, e.g. RSA_2048
	Exportable      bool   // CKA_EXTRACTABLE, fixed at generation
	ProtectionLevel string
	CreatedAt       time.Time
}

// poolLockSpace is the advisory lock space of the pools' fill checks.
const poolLockSpace = "keypool"

// InsertPoolKey adds a key to its pool unless the pool already holds size
// keys, and reports whether it did. The count and the insert are one step
// across nodes (PostgreSQL: under the pool's transaction advisory lock;
// SQLite has one writer), so concurrent refills never overfill a pool.
func (q writers) InsertPoolKey(ctx context.Context, k *PoolKey, size int) (bool, error) {
	if dialectOf(q.x) == postgresDialect {
		if _, err := q.x.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, lockKey(poolLockSpace, poolName(k.Algorithm, k.Exportable))); err != nil {
			return false, fmt.Errorf("store: key pool lock: %w", err)
		}
	}
	n, err := queries{e: q.x}.CountPoolKeys(ctx, k.Algorithm, k.Exportable)
	if err != nil {
		return false, err
	}
	if n >= size {
		return false, nil
	}
	_, err = q.x.ExecContext(ctx, `INSERT INTO key_pool (key_id, algorithm, exportable, protection_level, created_at) VALUES (?,?,?,?,?)`,
		k.KeyID, k.Algorithm, boolInt(k.Exportable), k.ProtectionLevel, ms(k.CreatedAt))
	if err != nil {
		return false, fmt.Errorf("store: insert pool key: %w", mapErr(err))
	}
	return true, nil
}

// ClaimPoolKey takes a key out of its pool: it deletes the key's row, and
// the caller writes the row that names the key from now on in the same
// transaction. A key already claimed, or being claimed by a transaction
// that has not ended (PostgreSQL: the row is locked; SKIP LOCKED does not
// wait for it), is ErrNotFound: the caller tries another key. A pool row
// whose key a certificate row names already (it must not be handed out
// again; the sweep removes the row) is ErrConflict.
func (q writers) ClaimPoolKey(ctx context.Context, keyID string) error {
	const unnamed = ` AND NOT EXISTS (SELECT 1 FROM kms_certificates WHERE key_id = ?)
		AND NOT EXISTS (SELECT 1 FROM ca_certificates WHERE key_id = ?)`
	stmt := `DELETE FROM key_pool WHERE key_id = ?` + unnamed
	if dialectOf(q.x) == postgresDialect {
		stmt = `DELETE FROM key_pool WHERE key_id = (SELECT key_id FROM key_pool WHERE key_id = ? FOR UPDATE SKIP LOCKED)` + unnamed
	}
	res, err := q.x.ExecContext(ctx, stmt, keyID, keyID, keyID)
	if err != nil {
		return fmt.Errorf("store: claim pool key: %w", mapErr(err))
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	var named bool
	err = q.x.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM kms_certificates WHERE key_id = ?)
		OR EXISTS (SELECT 1 FROM ca_certificates WHERE key_id = ?)`, keyID, keyID).Scan(&named)
	if err != nil {
		return fmt.Errorf("store: claim pool key: %w", err)
	}
	if named {
		return fmt.Errorf("%w: pool key %s is named by a certificate row", ErrConflict, keyID)
	}
	return fmt.Errorf("%w: pool key %s", ErrNotFound, keyID)
}

// DeletePoolKey removes a pool row the sweep found stale (its token key is
// gone, or a certificate row names the key); a missing row, or one a claim
// in flight holds (PostgreSQL), is ErrNotFound.
func (q writers) DeletePoolKey(ctx context.Context, keyID string) error {
	stmt := `DELETE FROM key_pool WHERE key_id = ?`
	if dialectOf(q.x) == postgresDialect {
		stmt = `DELETE FROM key_pool WHERE key_id = (SELECT key_id FROM key_pool WHERE key_id = ? FOR UPDATE SKIP LOCKED)`
	}
	res, err := q.x.ExecContext(ctx, stmt, keyID)
	if err != nil {
		return fmt.Errorf("store: delete pool key: %w", mapErr(err))
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("%w: pool key %s", ErrNotFound, keyID)
	}
	return nil
}

// PoolKeys returns up to limit unclaimed keys of one pool, oldest first.
func (q queries) PoolKeys(ctx context.Context, algorithm string, exportable bool, limit int) ([]*PoolKey, error) {
	return q.poolKeys(ctx, `SELECT key_id, algorithm, exportable, protection_level, created_at FROM key_pool
		WHERE algorithm = ? AND exportable = ? ORDER BY created_at, key_id LIMIT ?`, algorithm, boolInt(exportable), limit)
}

// AllPoolKeys returns every unclaimed key of every pool, for the sweep.
func (q queries) AllPoolKeys(ctx context.Context) ([]*PoolKey, error) {
	return q.poolKeys(ctx, `SELECT key_id, algorithm, exportable, protection_level, created_at FROM key_pool ORDER BY created_at, key_id`)
}

func (q queries) poolKeys(ctx context.Context, stmt string, args ...any) ([]*PoolKey, error) {
	rows, err := q.e.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, fmt.Errorf("store: read key pool: %w", err)
	}
	defer rows.Close()
	var out []*PoolKey
	for rows.Next() {
		var k PoolKey
		var exportable int
		var created int64
		if err := rows.Scan(&k.KeyID, &k.Algorithm, &exportable, &k.ProtectionLevel, &created); err != nil {
			return nil, fmt.Errorf("store: read key pool: %w", err)
		}
		k.Exportable, k.CreatedAt = exportable != 0, fromMS(created)
		out = append(out, &k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read key pool: %w", err)
	}
	return out, nil
}

// CountPoolKeys counts the unclaimed keys of one pool.
func (q queries) CountPoolKeys(ctx context.Context, algorithm string, exportable bool) (int, error) {
	var n int
	err := q.e.QueryRowContext(ctx, `SELECT COUNT(*) FROM key_pool WHERE algorithm = ? AND exportable = ?`, algorithm, boolInt(exportable)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count pool keys: %w", err)
	}
	return n, nil
}

// poolName names a pool in lock keys and logs.
func poolName(algorithm string, exportable bool) string {
	if exportable {
		return algorithm + "/exportable"
	}
	return algorithm + "/non_exportable"
}
