package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// KMSCertificate is a KMS certificate row: the key reference, the CSR, and
// once uploaded the certificate and chain.
type KMSCertificate struct {
	ID                 string
	AccountID          string
	KeyID              string // keystore key ID (CKA_ID)
	KeySpec            string
	ProtectionLevel    string
	Exportable         bool
	Subject            string
	SANs               []string
	Status             string
	CSR                []byte // DER
	Certificate        []byte // DER; nil until uploaded
	Chain              string // PEM as uploaded (issuer first)
	Serial             string
	Issuer             string
	SignatureAlgorithm string
	NotBefore          *time.Time
	NotAfter           *time.Time
	CreatedAt          time.Time
	UpdatedAt          time.Time
	// KeyBlob is the key of a wrapped-custody certificate, wrapped under
	// the token's wrapping key and sealed under its KEK (keystore's
	// WrappedKMSKey.Blob); nil for a token-resident key, which KeyID names
	// in the token.
	KeyBlob []byte
}

const kmsColumns = `id, account_id, key_id, key_spec, protection_level, exportable, subject, sans, status, csr,
	certificate, chain, serial, issuer, signature_algorithm, not_before, not_after, created_at, updated_at, key_blob`

var insertKMS = positioned(`INSERT INTO kms_certificates (` + kmsColumns + `, pos) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,{pos})`)

// InsertKMSCertificate adds a new row, at its account's next list
// position. An error must fail the caller's transaction: its rollback
// gives the position back.
func (q writers) InsertKMSCertificate(ctx context.Context, c *KMSCertificate) error {
	_, err := q.insertAtNextPosition(ctx, c.AccountID, listKMS, insertKMS, nil,
		c.ID, c.AccountID, c.KeyID, c.KeySpec, c.ProtectionLevel, boolInt(c.Exportable), c.Subject, joinList(c.SANs),
		c.Status, c.CSR, c.Certificate, c.Chain, c.Serial, c.Issuer, c.SignatureAlgorithm,
		nullMS(c.NotBefore), nullMS(c.NotAfter), ms(c.CreatedAt), ms(c.UpdatedAt), c.KeyBlob)
	if err != nil {
		return fmt.Errorf("store: insert certificate: %w", mapErr(err))
	}
	return nil
}

// GetKMSCertificate returns the account's certificate; another account's
// row is ErrNotFound, like a missing one.
func (q queries) GetKMSCertificate(ctx context.Context, accountID, id string) (*KMSCertificate, error) {
	row := q.e.QueryRowContext(ctx, `SELECT `+kmsColumns+` FROM kms_certificates WHERE account_id = ? AND id = ?`, accountID, id)
	c, err := scanKMS(row)
	if err != nil {
		return nil, mapErr(err)
	}
	return c, nil
}

// UpdateKMSCertificate writes every mutable field of c, but only if the row
// still has status fromStatus (compare-and-set); otherwise ErrConflict.
func (q writers) UpdateKMSCertificate(ctx context.Context, c *KMSCertificate, fromStatus string) error {
	res, err := q.x.ExecContext(ctx, `UPDATE kms_certificates SET status = ?, certificate = ?, chain = ?, serial = ?, issuer = ?,
		signature_algorithm = ?, not_before = ?, not_after = ?, updated_at = ? WHERE account_id = ? AND id = ? AND status = ?`,
		c.Status, c.Certificate, c.Chain, c.Serial, c.Issuer, c.SignatureAlgorithm, nullMS(c.NotBefore), nullMS(c.NotAfter),
		ms(c.UpdatedAt), c.AccountID, c.ID, fromStatus)
	if err != nil {
		return fmt.Errorf("store: update certificate: %w", mapErr(err))
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("%w: certificate %s is no longer %s", ErrConflict, c.ID, fromStatus)
	}
	return nil
}

// DeleteKMSCertificate removes the account's row.
func (q writers) DeleteKMSCertificate(ctx context.Context, accountID, id string) error {
	var pos sql.NullInt64
	err := q.x.QueryRowContext(ctx, `DELETE FROM kms_certificates WHERE account_id = ? AND id = ? RETURNING pos`, accountID, id).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("store: delete certificate: %w", mapErr(err))
	}
	if pos.Valid {
		if err := q.countDeletedKMS(ctx, accountID, pos.Int64); err != nil {
			return err
		}
	}
	return q.DeleteTags(ctx, accountID, TagResourceKMS, id, nil)
}

// ListKMSCertificates returns the page at offset of the account's
// certificates, in creation order, and how many there are, from one
// snapshot; its cost does not grow with the offset (positions.go).
func (s *DB) ListKMSCertificates(ctx context.Context, accountID string, offset, limit int) ([]*KMSCertificate, int, error) {
	return readPage(ctx, s, accountID, listKMS, listLive, offset, limit, scanKMS, `SELECT `+kmsColumns+` FROM kms_certificates WHERE account_id = ? AND pos >= (
			SELECT pos FROM kms_certificates WHERE account_id = ? AND pos >= ? ORDER BY pos LIMIT 1 OFFSET ?)
			ORDER BY pos LIMIT ?`)
}

// CountKMSCertificates counts the rows of all accounts (tests use it to
// prove a failed request wrote nothing).
func (q queries) CountKMSCertificates(ctx context.Context) (int, error) {
	var n int
	err := q.e.QueryRowContext(ctx, `SELECT COUNT(*) FROM kms_certificates`).Scan(&n)
	return n, err
}

type scanner interface{ Scan(dest ...any) error }

func scanKMS(r scanner) (*KMSCertificate, error) {
	var (
		c                   KMSCertificate
		exportable          int
		sans                string
		notBefore, notAfter sql.NullInt64
		created, updated    int64
	)
	if err := r.Scan(&c.ID, &c.AccountID, &c.KeyID, &c.KeySpec, &c.ProtectionLevel, &exportable, &c.Subject, &sans,
		&c.Status, &c.CSR, &c.Certificate, &c.Chain, &c.Serial, &c.Issuer, &c.SignatureAlgorithm,
		&notBefore, &notAfter, &created, &updated, &c.KeyBlob); err != nil {
		return nil, err
	}
	c.Exportable, c.SANs = exportable != 0, splitList(sans)
	if notBefore.Valid {
		t := fromMS(notBefore.Int64)
		c.NotBefore = &t
	}
	if notAfter.Valid {
		t := fromMS(notAfter.Int64)
		c.NotAfter = &t
	}
	c.CreatedAt, c.UpdatedAt = fromMS(created), fromMS(updated)
	return &c, nil
}

// tokenKeyCount is CountTokenKeys' statement.
const tokenKeyCount = `SELECT
		(SELECT COUNT(*) FROM (SELECT 1 FROM kms_certificates WHERE account_id = ? AND key_blob IS NULL LIMIT ?) k)
		+ (SELECT COUNT(*) FROM (SELECT 1 FROM ca_certificates WHERE account_id = ? AND issuer_type = 'local' LIMIT ?) c)`

// CountTokenKeys counts an account's token-resident keys, up to upTo:
// one per KMS certificate whose key is a token object (a wrapped-custody
// key, kept in its row, is none) and one per local CA (a revoked CA keeps
// its key; an external CA's key is its owner's, never in our token). The
// quota needs only to know whether the count reaches its limit, so the
// count stops there, whatever the account holds; each part reads an index
// of those keys alone (kms_account_token_keys, ca_account_local). Run
// inside a Tx it counts the rows of that transaction, including those
// written earlier in the same group commit.
func (q queries) CountTokenKeys(ctx context.Context, accountID string, upTo int) (int, error) {
	var n int
	err := q.e.QueryRowContext(ctx, tokenKeyCount, accountID, upTo, accountID, upTo).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count token keys: %w", err)
	}
	return min(n, upTo), nil
}
