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
		var pos sql.NullInt64
		err := tx.e.QueryRowContext(ctx, `UPDATE issued_certificates SET status = 'REVOKE', revoked_at = ?, revoke_reason = ? WHERE identifier = ? AND status = 'ISSUE'
			RETURNING pos`, ms(at), reason, identifier).Scan(&pos)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: already revoked", ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("store: revoke: %w", err)
		}
		if pos.Valid {
			if err := tx.countRevoked(ctx, accountID, pos.Int64); err != nil {
				return err
			}
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

// markCRLDirty marks a CA's CRL dirty and bumps its change counter, so a
// build that read its entries before this revocation cannot clear the mark.
func markCRLDirty(ctx context.Context, tx *Tx, ca string) error {
	_, err := tx.e.ExecContext(ctx, `INSERT INTO crls (ca_identifier, crl_number, dirty, generation) VALUES (?, 0, 1, 1)
		ON CONFLICT (ca_identifier) DO UPDATE SET dirty = 1, generation = crls.generation + 1`, ca)
	if err != nil {
		return fmt.Errorf("store: mark CRL dirty: %w", err)
	}
	return nil
}

// CRL is the stored state of a CA's CRL.
type CRL struct {
	Number     int64
	Dirty      bool
	Generation int64 // change counter: bumped by every revocation the CRL must list
	DER        []byte
	ThisUpdate time.Time
	NextUpdate time.Time
}

// GetCRL returns the CRL state of a CA (a zero CRL, dirty, if none yet).
func (q queries) GetCRL(ctx context.Context, ca string) (*CRL, error) {
	var c CRL
	var dirty int
	var this, next sql.NullInt64
	err := q.e.QueryRowContext(ctx, `SELECT crl_number, dirty, generation, der, this_update, next_update FROM crls WHERE ca_identifier = ?`, ca).
		Scan(&c.Number, &dirty, &c.Generation, &c.DER, &this, &next)
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

// CRLBuildInput is what a CRL build reads, from one snapshot.
type CRLBuildInput struct {
	Entries    []Revoked
	LastNumber int64 // the number of the CRL stored now
	Generation int64 // the change counter the entries were read at
}

// ReadCRLBuild reads, in one transaction, what a CRL build needs: the
// revoked entries, the last CRL number and the change counter they go
// with. It changes nothing but creating the CRL's row; the dirty mark
// stays until SaveCRL stores a CRL built from this snapshot.
func (s *DB) ReadCRLBuild(ctx context.Context, ca string) (*CRLBuildInput, error) {
	in := &CRLBuildInput{}
	err := s.Tx(ctx, func(tx *Tx) error {
		if _, err := tx.e.ExecContext(ctx, `INSERT INTO crls (ca_identifier, crl_number, dirty, generation) VALUES (?, 0, 1, 0)
			ON CONFLICT (ca_identifier) DO NOTHING`, ca); err != nil {
			return fmt.Errorf("store: CRL row: %w", err)
		}
		if err := tx.e.QueryRowContext(ctx, `SELECT crl_number, generation FROM crls WHERE ca_identifier = ?`, ca).Scan(&in.LastNumber, &in.Generation); err != nil {
			return fmt.Errorf("store: CRL state: %w", err)
		}
		var err error
		in.Entries, err = tx.RevokedBy(ctx, ca)
		return err
	})
	if err != nil {
		return nil, err
	}
	return in, nil
}

// SaveCRL stores a CRL built from in, and in the same transaction clears
// the dirty mark, but only if no revocation arrived since in was read (the
// change counter is unchanged): a CRL that lacks a revocation never
// clears the mark that asks for it. The CRL number must follow the one in
// was read with; a CRL saved in between by another builder is ErrConflict.
func (s *DB) SaveCRL(ctx context.Context, ca string, c *CRL, in *CRLBuildInput) error {
	return s.Tx(ctx, func(tx *Tx) error {
		res, err := tx.e.ExecContext(ctx, `UPDATE crls SET crl_number = ?, der = ?, this_update = ?, next_update = ?,
			dirty = CASE WHEN generation = ? THEN 0 ELSE 1 END
			WHERE ca_identifier = ? AND crl_number = ?`,
			c.Number, c.DER, ms(c.ThisUpdate), ms(c.NextUpdate), in.Generation, ca, in.LastNumber)
		if err != nil {
			return fmt.Errorf("store: save CRL: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("%w: CRL %d of %s was saved by another build", ErrConflict, in.LastNumber+1, ca)
		}
		return nil
	})
}

// MarkCRLDirty forces the next fetch of a CA's CRL to rebuild it.
func (s *DB) MarkCRLDirty(ctx context.Context, ca string) error {
	return s.Tx(ctx, func(tx *Tx) error { return markCRLDirty(ctx, tx, ca) })
}

// BulkRevokeForBenchmark revokes every live certificate of a CA in one
// statement and recounts its account's listing counts. Benchmarks use it
// to reach a million revoked entries quickly; the API revokes one
// certificate at a time through RevokeIssued.
func (s *DB) BulkRevokeForBenchmark(ctx context.Context, ca string, at time.Time) error {
	return s.Tx(ctx, func(tx *Tx) error {
		var account string
		if err := tx.e.QueryRowContext(ctx, `SELECT account_id FROM ca_certificates WHERE identifier = ?`, ca).Scan(&account); err != nil {
			return mapErr(err)
		}
		if _, err := tx.e.ExecContext(ctx, `UPDATE issued_certificates SET status = 'REVOKE', revoked_at = ?, revoke_reason = 1 WHERE issuer_identifier = ? AND status = 'ISSUE'`, ms(at), ca); err != nil {
			return err
		}
		if err := tx.recountPCA(ctx, account); err != nil {
			return err
		}
		return markCRLDirty(ctx, tx, ca)
	})
}
