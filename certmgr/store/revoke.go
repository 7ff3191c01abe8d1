package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// RevokeIssued marks an issued certificate revoked and its CA's CRL dirty,
// in one transaction. Revoking costs the same however many certificates
// are already revoked. A certificate already revoked is ErrConflict.
func (s *DB) RevokeIssued(ctx context.Context, accountID, identifier string, reason int, at time.Time) (issuer string, err error) {
	err = s.Tx(ctx, func(tx *Tx) error {
		if err := tx.e.QueryRowContext(ctx, `SELECT issuer_identifier FROM issued_certificates WHERE account_id = ? AND identifier = ?`, accountID, identifier).Scan(&issuer); err != nil {
			return mapErr(err)
		}
		res, err := tx.e.ExecContext(ctx, `UPDATE issued_certificates SET status = 'REVOKE', revoked_at = ?, revoke_reason = ? WHERE identifier = ? AND status = 'ISSUE'`, ms(at), reason, identifier)
		if err != nil {
			return fmt.Errorf("store: revoke: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("%w: already revoked", ErrConflict)
		}
		return markCRLDirty(ctx, tx, issuer)
	})
	return issuer, err
}

// RevokeCA marks a CA revoked and its parent's CRL dirty.
func (s *DB) RevokeCA(ctx context.Context, accountID, identifier string, at time.Time) error {
	return s.Tx(ctx, func(tx *Tx) error {
		var parent sql.NullString
		if err := tx.e.QueryRowContext(ctx, `SELECT parent_identifier FROM ca_certificates WHERE account_id = ? AND identifier = ?`, accountID, identifier).Scan(&parent); err != nil {
			return mapErr(err)
		}
		res, err := tx.e.ExecContext(ctx, `UPDATE ca_certificates SET status = 'REVOKE', revoked_at = ? WHERE identifier = ? AND status = 'ISSUE'`, ms(at), identifier)
		if err != nil {
			return fmt.Errorf("store: revoke CA: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("%w: already revoked", ErrConflict)
		}
		if parent.Valid {
			return markCRLDirty(ctx, tx, parent.String)
		}
		return nil
	})
}

func markCRLDirty(ctx context.Context, tx *Tx, ca string) error {
	_, err := tx.e.ExecContext(ctx, `INSERT INTO crls (ca_identifier, crl_number, dirty) VALUES (?, 0, 1)
		ON CONFLICT (ca_identifier) DO UPDATE SET dirty = 1`, ca)
	if err != nil {
		return fmt.Errorf("store: mark CRL dirty: %w", err)
	}
	return nil
}

// CRL is the stored state of a CA's CRL.
type CRL struct {
	Number     int64
	Dirty      bool
	DER        []byte
	ThisUpdate time.Time
	NextUpdate time.Time
}

// GetCRL returns the CRL state of a CA (a zero CRL, dirty, if none yet).
func (q queries) GetCRL(ctx context.Context, ca string) (*CRL, error) {
	var c CRL
	var dirty int
	var this, next sql.NullInt64
	err := q.e.QueryRowContext(ctx, `SELECT crl_number, dirty, der, this_update, next_update FROM crls WHERE ca_identifier = ?`, ca).
		Scan(&c.Number, &dirty, &c.DER, &this, &next)
	if errors.Is(err, sql.ErrNoRows) {
		return &CRL{Dirty: true}, nil
	}
	if err != nil {
		return nil, err
	}
	c.Dirty = dirty != 0
	if this.Valid {
		c.ThisUpdate, c.NextUpdate = fromMS(this.Int64), fromMS(next.Int64)
	}
	return &c, nil
}

// Revoked is one CRL entry.
type Revoked struct {
	Serial    string
	RevokedAt time.Time
	Reason    int
}

// RevokedBy lists what a CA has revoked: its end-entity certificates and
// its revoked subordinate CAs.
func (q queries) RevokedBy(ctx context.Context, ca string) ([]Revoked, error) {
	rows, err := q.e.QueryContext(ctx, `SELECT serial, revoked_at, revoke_reason FROM issued_certificates WHERE issuer_identifier = ? AND status = 'REVOKE'
		UNION ALL SELECT serial, revoked_at, 0 FROM ca_certificates WHERE parent_identifier = ? AND status = 'REVOKE'`, ca, ca)
	if err != nil {
		return nil, fmt.Errorf("store: revoked list: %w", err)
	}
	defer rows.Close()
	var out []Revoked
	for rows.Next() {
		var r Revoked
		var at int64
		if err := rows.Scan(&r.Serial, &at, &r.Reason); err != nil {
			return nil, err
		}
		r.RevokedAt = fromMS(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

// ClaimCRLBuild starts a CRL build: in one transaction it clears the dirty
// flag and reads the revoked entries and the last CRL number. A revocation
// that commits after the claim sets the flag again, so it is never lost.
func (s *DB) ClaimCRLBuild(ctx context.Context, ca string) (entries []Revoked, lastNumber int64, err error) {
	err = s.Tx(ctx, func(tx *Tx) error {
		if _, err := tx.e.ExecContext(ctx, `INSERT INTO crls (ca_identifier, crl_number, dirty) VALUES (?, 0, 0)
			ON CONFLICT (ca_identifier) DO UPDATE SET dirty = 0`, ca); err != nil {
			return err
		}
		if err := tx.e.QueryRowContext(ctx, `SELECT crl_number FROM crls WHERE ca_identifier = ?`, ca).Scan(&lastNumber); err != nil {
			return err
		}
		entries, err = tx.RevokedBy(ctx, ca)
		return err
	})
	return entries, lastNumber, err
}

// SaveCRL stores a built CRL; the dirty flag is left as revocations set it.
func (s *DB) SaveCRL(ctx context.Context, ca string, c *CRL) error {
	return s.Tx(ctx, func(tx *Tx) error {
		_, err := tx.e.ExecContext(ctx, `UPDATE crls SET crl_number = ?, der = ?, this_update = ?, next_update = ? WHERE ca_identifier = ?`,
			c.Number, c.DER, ms(c.ThisUpdate), ms(c.NextUpdate), ca)
		if err != nil {
			return fmt.Errorf("store: save CRL: %w", err)
		}
		return nil
	})
}

// MarkCRLDirty forces the next fetch of a CA's CRL to rebuild it.
func (s *DB) MarkCRLDirty(ctx context.Context, ca string) error {
	return s.Tx(ctx, func(tx *Tx) error { return markCRLDirty(ctx, tx, ca) })
}

// BulkRevokeForBenchmark revokes every live certificate of a CA in one
// statement. Benchmarks use it to reach a million revoked entries quickly;
// the API revokes one certificate at a time through RevokeIssued.
func (s *DB) BulkRevokeForBenchmark(ctx context.Context, ca string, at time.Time) error {
	return s.Tx(ctx, func(tx *Tx) error {
		if _, err := tx.e.ExecContext(ctx, `UPDATE issued_certificates SET status = 'REVOKE', revoked_at = ?, revoke_reason = 1 WHERE issuer_identifier = ? AND status = 'ISSUE'`, ms(at), ca); err != nil {
			return err
		}
		return markCRLDirty(ctx, tx, ca)
	})
}
