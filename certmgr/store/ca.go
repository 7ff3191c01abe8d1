package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// CACertificate is a root or subordinate CA whose key lives in the token.
type CACertificate struct {
	Identifier       string
	AccountID        string
	ParentIdentifier string // empty for a root
	CertificateType  string // ROOT or SUB_ROOT
	KeyID            string
	Algorithm        string // RSA, ECC or SM2
	KeySize          int
	Status           string // ISSUE or REVOKE
	Certificate      []byte // DER
	Serial           string
	SubjectDN        string
	Years            int
	PathLen          int // -1: unlimited
	EnableCRL        bool
	CRLDay           int
	NotBefore        time.Time
	NotAfter         time.Time
	CreatedAt        time.Time
	Tags             string // JSON [{"TagKey","TagValue"}]; a mirror of the tag store
	ResourceGroupID  string
	AliasName        string
	IssuerType       string // IssuerLocal (key in the token; "" reads as local) or IssuerExternal
}

// Issuer types of a CA row.
const (
	IssuerLocal    = "local"    // the CA's key is a token key (KeyID)
	IssuerExternal = "external" // signed by one of our roots for a key held elsewhere; KeyID names no token key
)

const caColumns = `identifier, account_id, parent_identifier, certificate_type, key_id, algorithm, key_size, status, certificate,
	serial, subject_dn, years, path_len, enable_crl, crl_day, not_before, not_after, created_at, tags, resource_group_id,
	alias_name, issuer_type`

// InsertCACertificate adds a CA.
func (q writers) InsertCACertificate(ctx context.Context, c *CACertificate) error {
	var parent any
	if c.ParentIdentifier != "" {
		parent = c.ParentIdentifier
	}
	issuerType := c.IssuerType
	if issuerType == "" {
		issuerType = IssuerLocal
	}
	_, err := q.x.ExecContext(ctx, `INSERT INTO ca_certificates (`+caColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		c.Identifier, c.AccountID, parent, c.CertificateType, c.KeyID, c.Algorithm, c.KeySize, c.Status, c.Certificate,
		c.Serial, c.SubjectDN, c.Years, c.PathLen, boolInt(c.EnableCRL), c.CRLDay, ms(c.NotBefore), ms(c.NotAfter), ms(c.CreatedAt),
		tagsOrEmpty(c.Tags), c.ResourceGroupID, c.AliasName, issuerType)
	if err != nil {
		return fmt.Errorf("store: insert CA: %w", mapErr(err))
	}
	return q.insertTagsJSON(ctx, c.AccountID, TagResourcePCA, c.Identifier, c.Tags)
}

// GetCACertificate returns the account's CA; another account's is ErrNotFound.
func (q queries) GetCACertificate(ctx context.Context, accountID, identifier string) (*CACertificate, error) {
	c, err := scanCA(q.e.QueryRowContext(ctx, `SELECT `+caColumns+` FROM ca_certificates WHERE account_id = ? AND identifier = ?`, accountID, identifier))
	if err != nil {
		return nil, mapErr(err)
	}
	return c, nil
}

// ListCACertificates returns a page of the account's CAs and the total.
func (q queries) ListCACertificates(ctx context.Context, accountID string, offset, limit int) ([]*CACertificate, int, error) {
	return q.FilterCACertificates(ctx, accountID, CAFilter{}, offset, limit)
}

func scanCA(r scanner) (*CACertificate, error) {
	var c CACertificate
	var parent *string
	var enable int
	var nb, na, created int64
	if err := r.Scan(&c.Identifier, &c.AccountID, &parent, &c.CertificateType, &c.KeyID, &c.Algorithm, &c.KeySize, &c.Status,
		&c.Certificate, &c.Serial, &c.SubjectDN, &c.Years, &c.PathLen, &enable, &c.CRLDay, &nb, &na, &created, &c.Tags, &c.ResourceGroupID,
		&c.AliasName, &c.IssuerType); err != nil {
		return nil, err
	}
	if parent != nil {
		c.ParentIdentifier = *parent
	}
	c.EnableCRL = enable != 0
	c.NotBefore, c.NotAfter, c.CreatedAt = fromMS(nb), fromMS(na), fromMS(created)
	return &c, nil
}

// IssuedCertificate is a server or client certificate issued by a CA.
type IssuedCertificate struct {
	Identifier       string
	AccountID        string
	IssuerIdentifier string
	Serial           string
	CertificateType  string // SERVER or CLIENT
	Status           string // ISSUE or REVOKE
	Certificate      []byte
	SubjectDN        string
	Algorithm        string
	KeySize          int
	NotBefore        time.Time
	NotAfter         time.Time
	RevokedAt        *time.Time
	CreatedAt        time.Time
	KeyAlgorithm     string // keystore algorithm of a service-generated key
	KeyBlob          []byte // the wrapped key; nil when the customer sent a CSR
	Tags             string // JSON [{"TagKey","TagValue"}]; a mirror of the tag store
	ResourceGroupID  string
	AliasName        string
	CustomIdentifier string // unique per account when set
}

const issuedColumns = `identifier, account_id, issuer_identifier, serial, certificate_type, status, certificate, subject_dn,
	algorithm, key_size, not_before, not_after, revoked_at, created_at, key_algorithm, key_blob, tags, resource_group_id,
	alias_name, custom_identifier`

var insertIssued = positioned(`INSERT INTO issued_certificates (`+issuedColumns+`, pos) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,{pos})`,
	`c AS (`+countIssuedUpsert+`)`)

// countIssuedUpsert adds one certificate (its third placeholder's count)
// to a CA's counter in a node's shard.
const countIssuedUpsert = `INSERT INTO ca_issued_counts (ca_identifier, shard, issued) VALUES (?, ?, ?)
		ON CONFLICT (ca_identifier, shard) DO UPDATE SET issued = ca_issued_counts.issued + excluded.issued`

// ErrCustomIdentifierTaken: another certificate of the account already
// carries the CustomIdentifier. It is an ErrConflict too.
var ErrCustomIdentifierTaken = fmt.Errorf("%w: custom identifier already used in this account", ErrConflict)

// InsertIssuedCertificate adds an issued certificate, at its account's
// next list position; a serial already used by the same issuer is
// ErrConflict, a CustomIdentifier already used in the account
// ErrCustomIdentifierTaken. An error must fail the caller's transaction
// (return it from the Tx or Group function): its rollback gives the
// position back.
func (q writers) InsertIssuedCertificate(ctx context.Context, c *IssuedCertificate) error {
	// On PostgreSQL the CA's counter rides in the INSERT (one round trip);
	// SQLite counts below.
	pos, err := q.insertAtNextPosition(ctx, c.AccountID, listPCA, insertIssued, []any{c.IssuerIdentifier, q.shard, 1},
		c.Identifier, c.AccountID, c.IssuerIdentifier, c.Serial, c.CertificateType, c.Status, c.Certificate, c.SubjectDN,
		c.Algorithm, c.KeySize, ms(c.NotBefore), ms(c.NotAfter), nullMS(c.RevokedAt), ms(c.CreatedAt), c.KeyAlgorithm, c.KeyBlob,
		tagsOrEmpty(c.Tags), c.ResourceGroupID, c.AliasName, c.CustomIdentifier)
	if err != nil {
		if violates(err, "issued_custom_identifier") {
			return ErrCustomIdentifierTaken
		}
		err = mapErr(err)
		// SQLite names no constraint in its error, and both unique
		// constraints report the same code: which one failed is asked of
		// the data (SQLite rolls back only the failed statement, so the
		// transaction can still read).
		if errors.Is(err, ErrConflict) && c.CustomIdentifier != "" && q.d != postgresDialect {
			var n int
			if qerr := q.x.QueryRowContext(ctx, `SELECT COUNT(*) FROM issued_certificates WHERE account_id = ? AND custom_identifier = ?`,
				c.AccountID, c.CustomIdentifier).Scan(&n); qerr == nil && n > 0 {
				return ErrCustomIdentifierTaken
			}
		}
		return fmt.Errorf("store: insert certificate: %w", err)
	}
	if c.Status == "REVOKE" {
		if err := q.countRevoked(ctx, c.AccountID, pos); err != nil {
			return err
		}
	}
	if q.d != postgresDialect {
		if err := q.countIssued(ctx, c.IssuerIdentifier, 1); err != nil {
			return err
		}
	}
	return q.insertTagsJSON(ctx, c.AccountID, TagResourcePCA, c.Identifier, c.Tags)
}

// countIssued adds n to what the CA has issued, in this writer's shard.
func (q writers) countIssued(ctx context.Context, ca string, n int) error {
	if _, err := q.x.ExecContext(ctx, countIssuedUpsert, ca, q.shard, n); err != nil {
		return fmt.Errorf("store: count an issued certificate: %w", err)
	}
	return nil
}

// issuedCount is how many certificates a CA has issued (deleted ones
// included), summed over the nodes' shards.
const issuedCount = `SELECT COALESCE(SUM(issued), 0) FROM ca_issued_counts WHERE ca_identifier = ?`

// GetIssuedCertificate returns the account's issued certificate.
func (q queries) GetIssuedCertificate(ctx context.Context, accountID, identifier string) (*IssuedCertificate, error) {
	c, err := scanIssued(q.e.QueryRowContext(ctx, `SELECT `+issuedColumns+` FROM issued_certificates WHERE account_id = ? AND identifier = ? AND deleted = 0`, accountID, identifier))
	if err != nil {
		return nil, mapErr(err)
	}
	return c, nil
}

func scanIssued(r scanner) (*IssuedCertificate, error) {
	var c IssuedCertificate
	var revoked *int64
	var nb, na, created int64
	if err := r.Scan(&c.Identifier, &c.AccountID, &c.IssuerIdentifier, &c.Serial, &c.CertificateType, &c.Status, &c.Certificate, &c.SubjectDN,
		&c.Algorithm, &c.KeySize, &nb, &na, &revoked, &created, &c.KeyAlgorithm, &c.KeyBlob, &c.Tags, &c.ResourceGroupID,
		&c.AliasName, &c.CustomIdentifier); err != nil {
		return nil, err
	}
	c.NotBefore, c.NotAfter, c.CreatedAt = fromMS(nb), fromMS(na), fromMS(created)
	if revoked != nil {
		t := fromMS(*revoked)
		c.RevokedAt = &t
	}
	return &c, nil
}

// CountIssued counts an account's CAs and issued certificates (tests use it
// to prove a refused request wrote nothing).
func (q queries) CountIssued(ctx context.Context) (cas, certs int, err error) {
	if err = q.e.QueryRowContext(ctx, `SELECT COUNT(*) FROM ca_certificates`).Scan(&cas); err != nil {
		return 0, 0, err
	}
	err = q.e.QueryRowContext(ctx, `SELECT COUNT(*) FROM issued_certificates`).Scan(&certs)
	return cas, certs, err
}

// CAByIdentifier returns a CA of any account (for the public CRL endpoint).
func (q queries) CAByIdentifier(ctx context.Context, identifier string) (*CACertificate, error) {
	c, err := scanCA(q.e.QueryRowContext(ctx, `SELECT `+caColumns+` FROM ca_certificates WHERE identifier = ?`, identifier))
	if err != nil {
		return nil, mapErr(err)
	}
	return c, nil
}

// ListIssuedCertificates returns the page at offset of an account's live
// issued certificates (only the revoked ones when revokedOnly), in issue
// order, and how many there are in all, from one snapshot. Its cost does
// not grow with the offset or the total: see positions.go.
func (s *DB) ListIssuedCertificates(ctx context.Context, accountID string, revokedOnly bool, offset, limit int) ([]*IssuedCertificate, int, error) {
	// The predicates are written as literals: a partial index
	// (issued_account_pos, issued_account_revoked_pos) serves a query whose
	// WHERE states its predicate.
	l, filter := listLive, ` AND deleted = 0`
	if revokedOnly {
		l, filter = listRevoked, ` AND deleted = 0 AND status = 'REVOKE'`
	}
	return readPage(ctx, s, accountID, listPCA, l, offset, limit, scanIssued, `SELECT `+issuedColumns+` FROM issued_certificates WHERE account_id = ?`+filter+` AND pos >= (
			SELECT pos FROM issued_certificates WHERE account_id = ?`+filter+` AND pos >= ? ORDER BY pos LIMIT 1 OFFSET ?)
			ORDER BY pos LIMIT ?`)
}

// DeleteRevokedCertificate hides an account's revoked certificate (it stays
// on its CA's CRL); a live one is ErrConflict.
func (q writers) DeleteRevokedCertificate(ctx context.Context, accountID, identifier string) error {
	var pos sql.NullInt64
	err := q.x.QueryRowContext(ctx, `UPDATE issued_certificates SET deleted = 1 WHERE account_id = ? AND identifier = ? AND status = 'REVOKE' AND deleted = 0
		RETURNING pos`, accountID, identifier).Scan(&pos)
	if err == nil {
		if pos.Valid {
			if err := q.countDeletedRevoked(ctx, accountID, pos.Int64); err != nil {
				return err
			}
		}
		// A deleted certificate is gone for its owner: its tags go with it.
		return q.DeleteTags(ctx, accountID, TagResourcePCA, identifier, nil)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: delete certificate: %w", mapErr(err))
	}
	r := queries{e: q.x}
	if _, err := r.GetIssuedCertificate(ctx, accountID, identifier); err != nil {
		return err
	}
	return fmt.Errorf("%w: certificate is not revoked", ErrConflict)
}

func tagsOrEmpty(t string) string {
	if t == "" {
		return "[]"
	}
	return t
}

// maxCADepth bounds the walk up a CA chain; chains are at most root → sub,
// and the bound keeps a corrupted parent link from looping.
const maxCADepth = 16

// CAStatuses returns the status of each named CA, by identifier; a CA
// that does not exist is absent from the map. Issuance keeps a CA chain's
// identifiers (they never change) and reads only their statuses per
// request: one indexed read instead of a walk up the chain. Run inside a
// Tx it reads that transaction's snapshot, so a revocation cannot slip
// between the check and the row it guards.
func (q queries) CAStatuses(ctx context.Context, identifiers []string) (map[string]string, error) {
	if len(identifiers) == 0 || len(identifiers) > maxCADepth+1 {
		return nil, fmt.Errorf("store: CA statuses of %d CAs (1 to %d)", len(identifiers), maxCADepth+1)
	}
	args := make([]any, len(identifiers))
	for i, id := range identifiers {
		args[i] = id
	}
	rows, err := q.e.QueryContext(ctx, `SELECT identifier, status FROM ca_certificates WHERE identifier IN (?`+strings.Repeat(",?", len(identifiers)-1)+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: CA statuses: %w", err)
	}
	defer rows.Close()
	out := make(map[string]string, len(identifiers))
	for rows.Next() {
		var id, status string
		if err := rows.Scan(&id, &status); err != nil {
			return nil, fmt.Errorf("store: CA statuses: %w", err)
		}
		out[id] = status
	}
	return out, rows.Err()
}

// MaxCAChain is the longest CA chain (the CA itself up to its root) the
// store walks.
const MaxCAChain = maxCADepth + 1
