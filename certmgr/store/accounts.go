package store

import (
	"context"
	"fmt"
	"time"
)

// Account owns resources; AccessKeys belong to one account.
type Account struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// AccessKey is an API credential. The secret is stored only sealed under
// the token's KEK.
type AccessKey struct {
	ID           string
	AccountID    string
	SecretSealed []byte
	Status       string // Active or Inactive
	Policy       string // RAM-style policy JSON; empty means full access to the account
	CreatedAt    time.Time
}

// InsertAccount adds an account; a taken name is ErrConflict.
func (q writers) InsertAccount(ctx context.Context, a *Account) error {
	_, err := q.x.ExecContext(ctx, `INSERT INTO accounts (id, name, created_at) VALUES (?,?,?)`, a.ID, a.Name, ms(a.CreatedAt))
	if err != nil {
		return fmt.Errorf("store: insert account: %w", mapErr(err))
	}
	return nil
}

// AccountByName finds an account by name.
func (q queries) AccountByName(ctx context.Context, name string) (*Account, error) {
	var a Account
	var created int64
	err := q.e.QueryRowContext(ctx, `SELECT id, name, created_at FROM accounts WHERE name = ?`, name).Scan(&a.ID, &a.Name, &created)
	if err != nil {
		return nil, mapErr(err)
	}
	a.CreatedAt = fromMS(created)
	return &a, nil
}

// InsertAccessKey adds an access key.
func (q writers) InsertAccessKey(ctx context.Context, k *AccessKey) error {
	_, err := q.x.ExecContext(ctx, `INSERT INTO access_keys (id, account_id, secret_sealed, status, policy, created_at) VALUES (?,?,?,?,?,?)`,
		k.ID, k.AccountID, k.SecretSealed, k.Status, k.Policy, ms(k.CreatedAt))
	if err != nil {
		return fmt.Errorf("store: insert access key: %w", mapErr(err))
	}
	return nil
}

// AccessKeyByID returns an access key.
func (q queries) AccessKeyByID(ctx context.Context, id string) (*AccessKey, error) {
	var k AccessKey
	var created int64
	err := q.e.QueryRowContext(ctx, `SELECT id, account_id, secret_sealed, status, policy, created_at FROM access_keys WHERE id = ?`, id).
		Scan(&k.ID, &k.AccountID, &k.SecretSealed, &k.Status, &k.Policy, &created)
	if err != nil {
		return nil, mapErr(err)
	}
	k.CreatedAt = fromMS(created)
	return &k, nil
}

// AccessKeyAndNonce returns an access key by ID and, read in the same
// statement, whether a signature nonce is recorded for it with the expiry
// until (see NonceUsed): authentication needs both, and on PostgreSQL each
// read is a round trip.
func (q queries) AccessKeyAndNonce(ctx context.Context, id, nonce string, until time.Time) (*AccessKey, bool, error) {
	var k AccessKey
	var created int64
	var used bool
	err := q.e.QueryRowContext(ctx, `SELECT id, account_id, secret_sealed, status, policy, created_at,
		EXISTS (SELECT 1 FROM nonces WHERE expires_at = ? AND access_key_id = ? AND nonce = ?) FROM access_keys WHERE id = ?`, ms(until), id, nonce, id).
		Scan(&k.ID, &k.AccountID, &k.SecretSealed, &k.Status, &k.Policy, &created, &used)
	if err != nil {
		return nil, false, mapErr(err)
	}
	k.CreatedAt = fromMS(created)
	return &k, used, nil
}

// ListAccessKeys returns every access key (sealed secrets included; callers
// must not print them).
func (q queries) ListAccessKeys(ctx context.Context) ([]*AccessKey, error) {
	rows, err := q.e.QueryContext(ctx, `SELECT id, account_id, secret_sealed, status, policy, created_at FROM access_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("store: list access keys: %w", err)
	}
	defer rows.Close()
	var out []*AccessKey
	for rows.Next() {
		var k AccessKey
		var created int64
		if err := rows.Scan(&k.ID, &k.AccountID, &k.SecretSealed, &k.Status, &k.Policy, &created); err != nil {
			return nil, err
		}
		k.CreatedAt = fromMS(created)
		out = append(out, &k)
	}
	return out, rows.Err()
}

// SetAccessKeyStatus sets Active or Inactive.
func (q writers) SetAccessKeyStatus(ctx context.Context, id, status string) error {
	res, err := q.x.ExecContext(ctx, `UPDATE access_keys SET status = ? WHERE id = ?`, status, id)
	if err != nil {
		return fmt.Errorf("store: update access key: %w", mapErr(err))
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return ErrNotFound
	}
	return nil
}

// DeleteAccessKey removes an access key.
func (q writers) DeleteAccessKey(ctx context.Context, id string) error {
	res, err := q.x.ExecContext(ctx, `DELETE FROM access_keys WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("store: delete access key: %w", mapErr(err))
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return ErrNotFound
	}
	return nil
}
