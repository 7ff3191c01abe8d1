package store

import (
	"context"
	"fmt"
	"strings"
)

// seedChunk is how many rows one seeding statement writes.
const seedChunk = 50_000

// SeedIssuedForBenchmark copies an issued certificate n times, for
// benchmarks that need a million rows in minutes: row i is the template
// with identifier "<template's>-<position>" and the template's serial
// with 10^13 + the position appended, created i
// milliseconds after it, issued by issuers[i % len(issuers)] (the
// template's issuer when issuers is empty), at the account's next
// positions, with the counters moved on to match. Each chunk of rows is
// one INSERT ... SELECT in its own transaction. The API writes one
// certificate at a time through InsertIssuedCertificate.
func (s *DB) SeedIssuedForBenchmark(ctx context.Context, templateID string, issuers []string, n int) error {
	tmpl, err := s.issuedTemplate(ctx, templateID)
	if err != nil {
		return err
	}
	if len(issuers) == 0 {
		issuers = []string{tmpl.IssuerIdentifier}
	}
	issuer := `CASE (p.n + g.i) % ` + fmt.Sprint(len(issuers)) + strings.Repeat(` WHEN ? THEN CAST(? AS TEXT)`, len(issuers)) + ` END`
	for done := 0; done < n; done += seedChunk {
		k := min(seedChunk, n-done)
		err := s.Tx(ctx, func(tx *Tx) error {
			t, err := tx.listTotals(ctx, tmpl.AccountID, listPCA)
			if err != nil {
				return err
			}
			args := []any{0, k, templateID}
			for j, id := range issuers {
				args = append(args, j, id)
			}
			args = append(args, t.next, templateID)
			// Every column but the ones made from the position is the
			// template's; the serial gets 10^13 + the position appended:
			// 14 decimal digits, so still hexadecimal of whole bytes (a
			// CRL entry decodes it) and unique per issuer.
			_, err = tx.x.ExecContext(ctx, `WITH RECURSIVE g(i) AS (SELECT CAST(? AS BIGINT) UNION ALL SELECT i + 1 FROM g WHERE i + 1 < ?)
				INSERT INTO issued_certificates (identifier, account_id, issuer_identifier, serial, certificate_type, status, certificate, subject_dn,
					algorithm, key_size, not_before, not_after, revoked_at, created_at, key_algorithm, key_blob, tags, resource_group_id,
					alias_name, custom_identifier, revoke_reason, deleted, pos)
				SELECT CAST(? AS TEXT) || '-' || CAST(p.n + g.i AS TEXT), t.account_id, `+issuer+`, t.serial || CAST(10000000000000 + p.n + g.i AS TEXT),
					t.certificate_type, 'ISSUE', t.certificate, t.subject_dn, t.algorithm, t.key_size, t.not_before, t.not_after, NULL,
					t.created_at + p.n + g.i, t.key_algorithm, t.key_blob, '[]', t.resource_group_id, t.alias_name, '', 0, 0, p.n + g.i
				FROM g, (SELECT CAST(? AS BIGINT) AS n) p, issued_certificates t WHERE t.identifier = ?`, args...)
			if err != nil {
				return fmt.Errorf("store: seed: %w", err)
			}
			_, err = tx.x.ExecContext(ctx, `UPDATE list_positions SET next_pos = next_pos + ? WHERE account_id = ? AND list = 'pca'`, k, tmpl.AccountID)
			if err != nil {
				return err
			}
			per := make([]int, len(issuers))
			for pos := t.next; pos < t.next+int64(k); pos++ {
				per[pos%int64(len(issuers))]++
			}
			for j, id := range issuers {
				if err := tx.countIssued(ctx, id, per[j]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *DB) issuedTemplate(ctx context.Context, id string) (*IssuedCertificate, error) {
	c, err := scanIssued(s.e.QueryRowContext(ctx, `SELECT `+issuedColumns+` FROM issued_certificates WHERE identifier = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("store: seed template %s: %w", id, mapErr(err))
	}
	return c, nil
}
