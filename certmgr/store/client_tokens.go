package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErrClientTokenUsed: another call with the same account and ClientToken
// committed first; the caller's change was rolled back.
var ErrClientTokenUsed = errors.New("store: client token already used")

// ClientToken is the claim of a creating call's ClientToken: which call
// (action and a fingerprint of its parameters) made which resource.
type ClientToken struct {
	AccountID   string
	Token       string
	Action      string
	Fingerprint string
	Resource    string
	CreatedAt   time.Time
}

// insertClientToken claims a token inside the transaction of the change
// it guards. A claim older than expired is replaced: a token is a retry
// key for a bounded time, not forever.
func (tx *Tx) insertClientToken(ctx context.Context, c *ClientToken, expired time.Time) error {
	// Claims of other tokens that have expired go too, a bounded batch at a
	// time (prune.go): a token is not kept once it can no longer match.
	if err := tx.pruneExpired(ctx, expiredClientTokens, expired, c.CreatedAt); err != nil {
		return err
	}
	if _, err := tx.e.ExecContext(ctx, `DELETE FROM client_tokens WHERE account_id = ? AND token = ? AND created_at < ?`,
		c.AccountID, c.Token, ms(expired)); err != nil {
		return fmt.Errorf("store: expire client token: %w", err)
	}
	_, err := tx.e.ExecContext(ctx, `INSERT INTO client_tokens (account_id, token, action, fingerprint, resource, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		c.AccountID, c.Token, c.Action, c.Fingerprint, c.Resource, ms(c.CreatedAt))
	if err != nil {
		if errors.Is(mapErr(err), ErrConflict) {
			return ErrClientTokenUsed
		}
		return fmt.Errorf("store: claim client token: %w", err)
	}
	return nil
}

// ClientTokenClaim returns the account's claim of token made after since,
// or ErrNotFound.
func (q queries) ClientTokenClaim(ctx context.Context, accountID, token string, since time.Time) (*ClientToken, error) {
	c := ClientToken{AccountID: accountID, Token: token}
	var created int64
	err := q.e.QueryRowContext(ctx, `SELECT action, fingerprint, resource, created_at FROM client_tokens WHERE account_id = ? AND token = ? AND created_at >= ?`,
		accountID, token, ms(since)).Scan(&c.Action, &c.Fingerprint, &c.Resource, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: read client token: %w", err)
	}
	c.CreatedAt = time.UnixMilli(created).UTC()
	return &c, nil
}
