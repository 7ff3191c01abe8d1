package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// RevokeIssued marks an issued certificate revoked, marks its CA's CRL
// dirty and adds the certificate to the CA's kept CRL entries, in one
// transaction. Revoking costs the same however many certificates are
// already revoked. A certificate already revoked is ErrConflict.
func (s *DB) RevokeIssued(ctx context.Context, accountID, identifier string, reason int, at time.Time) (issuer string, err error) {
	at = fromMS(ms(at)) // the entry says what the row says
	err = s.Tx(ctx, func(tx *Tx) error {
		var serial string
		if err := tx.e.QueryRowContext(ctx, `SELECT issuer_identifier, serial FROM issued_certificates WHERE account_id = ? AND identifier = ?`, accountID, identifier).Scan(&issuer, &serial); err != nil {
			return mapErr(err)
		}
		entry, err := CRLEntryDER(serial, at, reason)
		if err != nil {
			return err
		}
		var pos sql.NullInt64
		err = tx.e.QueryRowContext(ctx, `UPDATE issued_certificates SET status = 'REVOKE', revoked_at = ?, revoke_reason = ? WHERE identifier = ? AND status = 'ISSUE'
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
		return markCRLDirty(ctx, tx, issuer, entry, 1)
	})
	return issuer, err
}

// RevokeCA marks a CA revoked, and its parent's CRL dirty with the CA
// added to the parent's kept CRL entries.
func (s *DB) RevokeCA(ctx context.Context, accountID, identifier string, at time.Time) error {
	at = fromMS(ms(at))
	return s.Tx(ctx, func(tx *Tx) error {
		var parent sql.NullString
		var serial string
		if err := tx.e.QueryRowContext(ctx, `SELECT parent_identifier, serial FROM ca_certificates WHERE account_id = ? AND identifier = ?`, accountID, identifier).Scan(&parent, &serial); err != nil {
			return mapErr(err)
		}
		res, err := tx.e.ExecContext(ctx, `UPDATE ca_certificates SET status = 'REVOKE', revoked_at = ? WHERE identifier = ? AND status = 'ISSUE'`, ms(at), identifier)
		if err != nil {
			return fmt.Errorf("store: revoke CA: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("%w: already revoked", ErrConflict)
		}
		if !parent.Valid {
			return nil
		}
		entry, err := CRLEntryDER(serial, at, 0)
		if err != nil {
			return err
		}
		return markCRLDirty(ctx, tx, parent.String, entry, 0)
	})
}

// markCRLDirty marks a CA's CRL dirty and bumps its change counter, so a
// build that read its entries before this revocation cannot clear the
// mark, adds revokes (the CA's end-entity certificates this change
// revokes) to its revoked count, and appends the revocation's entry (nil:
// none) to the CA's list if it is kept. The upsert takes the CA's crls
// row (PostgreSQL: until commit), which is what makes the CA's appends,
// and its count, take turns.
func markCRLDirty(ctx context.Context, tx *Tx, ca string, entry []byte, revokes int64) error {
	var kept int
	err := tx.e.QueryRowContext(ctx, `INSERT INTO crls (ca_identifier, crl_number, dirty, generation, revoked) VALUES (?, 0, 1, 1, ?)
		ON CONFLICT (ca_identifier) DO UPDATE SET dirty = 1, generation = crls.generation + 1, revoked = crls.revoked + excluded.revoked
		RETURNING entries_kept`, ca, revokes).Scan(&kept)
	if err != nil {
		return fmt.Errorf("store: mark CRL dirty: %w", err)
	}
	if kept == 0 || entry == nil {
		return nil // the build that keeps the list reads this revocation from the tables
	}
	return appendCRLEntry(ctx, tx, ca, entry)
}

// MarkCRLDirty forces the next fetch of a CA's CRL to rebuild it.
func (s *DB) MarkCRLDirty(ctx context.Context, ca string) error {
	return s.Tx(ctx, func(tx *Tx) error { return markCRLDirty(ctx, tx, ca, nil, 0) })
}

// BulkRevokeForBenchmark revokes every live certificate of a CA in one
// statement, recounts its account's listing counts, and writes the CA's
// kept CRL entries afresh from the tables, as a CA's first build does.
// Benchmarks use it to reach a million revoked entries quickly; the API
// revokes one certificate at a time through RevokeIssued.
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
		if err := markCRLDirty(ctx, tx, ca, nil, 0); err != nil {
			return err
		}
		if _, err := tx.e.ExecContext(ctx, `UPDATE crls SET revoked = (SELECT COUNT(*) FROM issued_certificates
			WHERE issuer_identifier = ? AND status = 'REVOKE') WHERE ca_identifier = ?`, ca, ca); err != nil {
			return err
		}
		return keepCRLEntries(ctx, tx, ca)
	})
}

// ForgetCRLEntriesForBenchmark puts a CA's CRL back in the state an
// upgrade leaves it in (entries not kept, CRL dirty), so that a benchmark
// can time the build that writes the list from the tables.
func (s *DB) ForgetCRLEntriesForBenchmark(ctx context.Context, ca string) error {
	return s.Tx(ctx, func(tx *Tx) error {
		if _, err := tx.x.ExecContext(ctx, `UPDATE crls SET entries_kept = 0 WHERE ca_identifier = ?`, ca); err != nil {
			return err
		}
		return markCRLDirty(ctx, tx, ca, nil, 0)
	})
}
