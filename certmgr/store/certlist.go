package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Keyset listings: every page is WHERE (created_at, identifier) > (last
// row's) ORDER BY created_at, identifier LIMIT n over an index that has
// those columns in that order, so page k costs what page 1 does.

// Cursor is the key of the last row of a page.
type Cursor struct {
	CreatedAt time.Time
	ID        string
}

// IssuedFilter selects an account's live (not deleted) issued
// certificates; zero fields select everything.
type IssuedFilter struct {
	AccountID     string
	Issuer        string    // issuer_identifier
	Status        string    // ISSUE or REVOKE
	CertType      string    // SERVER or CLIENT
	NotBeforeFrom time.Time // notBefore >= this
	NotAfterTo    time.Time // notAfter <= this
}

func (f IssuedFilter) where() (string, []any) {
	var b strings.Builder
	var args []any
	if f.Issuer != "" {
		// issued_issuer_keyset drives the walk; the account check stays so
		// another account's CA identifier selects nothing.
		b.WriteString(`issuer_identifier = ? AND account_id = ?`)
		args = append(args, f.Issuer, f.AccountID)
	} else {
		b.WriteString(`account_id = ?`)
		args = append(args, f.AccountID)
	}
	b.WriteString(` AND deleted = 0`)
	if f.Status != "" {
		b.WriteString(` AND status = ?`)
		args = append(args, f.Status)
	}
	if f.CertType != "" {
		b.WriteString(` AND certificate_type = ?`)
		args = append(args, f.CertType)
	}
	if !f.NotBeforeFrom.IsZero() {
		b.WriteString(` AND not_before >= ?`)
		args = append(args, ms(f.NotBeforeFrom))
	}
	if !f.NotAfterTo.IsZero() {
		b.WriteString(` AND not_after <= ?`)
		args = append(args, ms(f.NotAfterTo))
	}
	return b.String(), args
}

// ListIssuedAfter returns up to limit issued certificates matching f,
// oldest first, after the cursor (nil: from the start).
func (q queries) ListIssuedAfter(ctx context.Context, f IssuedFilter, after *Cursor, limit int) ([]*IssuedCertificate, error) {
	where, args := f.where()
	if after != nil {
		where += ` AND (created_at, identifier) > (?, ?)`
		args = append(args, ms(after.CreatedAt), after.ID)
	}
	args = append(args, limit)
	rows, err := q.e.QueryContext(ctx, `SELECT `+issuedColumns+` FROM issued_certificates WHERE `+where+` ORDER BY created_at, identifier LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list certificates: %w", err)
	}
	defer rows.Close()
	var out []*IssuedCertificate
	for rows.Next() {
		c, err := scanIssued(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// CountIssuedMatching counts the certificates f selects (an index scan;
// no rows are read into memory).
func (q queries) CountIssuedMatching(ctx context.Context, f IssuedFilter) (int64, error) {
	where, args := f.where()
	var n int64
	if err := q.e.QueryRowContext(ctx, `SELECT COUNT(*) FROM issued_certificates WHERE `+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count certificates: %w", err)
	}
	return n, nil
}

// IssuedBySerial returns up to limit of an account's issued certificates
// whose stored serial is one of serials (callers pass each spelling that
// may be stored); deleted ones too when withDeleted.
func (q queries) IssuedBySerial(ctx context.Context, accountID string, serials []string, withDeleted bool, limit int) ([]*IssuedCertificate, error) {
	args := []any{accountID}
	for _, s := range serials {
		args = append(args, s)
	}
	filter := ` AND deleted = 0`
	if withDeleted {
		filter = ``
	}
	args = append(args, limit)
	rows, err := q.e.QueryContext(ctx, `SELECT `+issuedColumns+` FROM issued_certificates WHERE account_id = ? AND serial IN (`+placeholders(len(serials))+`)`+
		filter+` ORDER BY created_at, identifier LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: certificates by serial: %w", err)
	}
	defer rows.Close()
	var out []*IssuedCertificate
	for rows.Next() {
		c, err := scanIssued(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ListCAsAfter returns up to limit of an account's CAs, oldest first,
// after the cursor (nil: from the start).
func (q queries) ListCAsAfter(ctx context.Context, accountID string, after *Cursor, limit int) ([]*CACertificate, error) {
	where, args := `account_id = ?`, []any{accountID}
	if after != nil {
		where += ` AND (created_at, identifier) > (?, ?)`
		args = append(args, ms(after.CreatedAt), after.ID)
	}
	args = append(args, limit)
	rows, err := q.e.QueryContext(ctx, `SELECT `+caColumns+` FROM ca_certificates WHERE `+where+` ORDER BY created_at, identifier LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list CAs: %w", err)
	}
	defer rows.Close()
	var out []*CACertificate
	for rows.Next() {
		c, err := scanCA(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// CountCAs counts an account's CAs.
func (q queries) CountCAs(ctx context.Context, accountID string) (int64, error) {
	var n int64
	err := q.e.QueryRowContext(ctx, `SELECT COUNT(*) FROM ca_certificates WHERE account_id = ?`, accountID).Scan(&n)
	return n, err
}

// IssuedByCA counts what a CA has signed: end-entity certificates
// (deleted ones included: they were issued), how many of them are
// revoked, subordinate CAs, and when the newest of them all was made. The
// caller has checked that ca is its account's. The certificates are
// counted by their counters (ca_issued_counts), the revoked ones by the
// count each revocation adds to the CA's crls row (migration 22); the
// newest is answered from an index alone (issued_issuer_keyset).
func (q queries) IssuedByCA(ctx context.Context, ca string) (certs, revoked, subCAs int64, lastIssued time.Time, err error) {
	var last *int64
	if err = q.e.QueryRowContext(ctx, issuedCount, ca).Scan(&certs); err != nil {
		return 0, 0, 0, time.Time{}, fmt.Errorf("store: count issued: %w", err)
	}
	if err = q.e.QueryRowContext(ctx, `SELECT MAX(created_at) FROM issued_certificates WHERE issuer_identifier = ?`, ca).Scan(&last); err != nil {
		return 0, 0, 0, time.Time{}, fmt.Errorf("store: last issued: %w", err)
	}
	if last != nil {
		lastIssued = fromMS(*last)
	}
	if err = q.e.QueryRowContext(ctx, `SELECT COALESCE(MAX(revoked), 0) FROM crls WHERE ca_identifier = ?`, ca).Scan(&revoked); err != nil {
		return 0, 0, 0, time.Time{}, fmt.Errorf("store: count revoked: %w", err)
	}
	var lastSub *int64
	if err = q.e.QueryRowContext(ctx, `SELECT COUNT(*), MAX(created_at) FROM ca_certificates WHERE parent_identifier = ?`, ca).Scan(&subCAs, &lastSub); err != nil {
		return 0, 0, 0, time.Time{}, fmt.Errorf("store: count sub CAs: %w", err)
	}
	if lastSub != nil && fromMS(*lastSub).After(lastIssued) {
		lastIssued = fromMS(*lastSub)
	}
	return certs, revoked, subCAs, lastIssued, nil
}

// AuditFor returns the newest limit records of an account that name one
// of resources and have one of actions and the given code, oldest first.
// audit_account_resource makes it a lookup per (resource, action) pair,
// so the records of other resources and of reads are never scanned.
func (q queries) AuditFor(ctx context.Context, accountID string, resources, actions []string, code string, limit int) ([]*AuditRecord, error) {
	args := []any{accountID}
	for _, r := range resources {
		args = append(args, r)
	}
	for _, a := range actions {
		args = append(args, a)
	}
	args = append(args, code, limit)
	rows, err := q.e.QueryContext(ctx, `SELECT seq, at, request_id, account_id, access_key_id, action, resource, code, source_ip, client_cert, prev_hash, hash
		FROM audit_log WHERE account_id = ? AND resource IN (`+placeholders(len(resources))+`) AND action IN (`+placeholders(len(actions))+`)
		AND code = ? ORDER BY at DESC, seq DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: audit of resource: %w", err)
	}
	defer rows.Close()
	var out []*AuditRecord
	for rows.Next() {
		var r AuditRecord
		var at int64
		if err := rows.Scan(&r.Seq, &at, &r.RequestID, &r.AccountID, &r.AccessKeyID, &r.Action, &r.Resource, &r.Code, &r.SourceIP, &r.ClientCert, &r.PrevHash, &r.Hash); err != nil {
			return nil, err
		}
		r.At = fromMS(at)
		out = append(out, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}
