package certmgr

import (
	"context"
	"time"

	"github.com/certcustody/certcustody/certmgr/store"
)

// Store is what certmgr needs from persistence: the operations it runs on
// the database outside a transaction, and Tx and Group to run the rest
// atomically. One implementation, *store.DB, speaks both SQLite (the
// embedded default) and PostgreSQL (several nodes) through one dialect
// layer, and the store's test suite runs against both; certmgr depends
// only on this surface, so a Manager is built the same way over either.
type Store interface {
	AuditLog     // WalkAudit, AuditCheckpoints: audit verification
	keyCounter   // CountTokenKeys: the token-key quota
	statusReader // CAStatuses: issuance checks its chain

	AccessKeyByID(ctx context.Context, id string) (*store.AccessKey, error)
	AccessKeyAndNonce(ctx context.Context, id, nonce string, until time.Time) (*store.AccessKey, bool, error)
	AuditChain() string
	AuditFor(ctx context.Context, accountID string, resources, actions []string, code string, limit int) ([]*store.AuditRecord, error)
	AuditHead(ctx context.Context) (seq int64, hash []byte, signed bool, err error)
	CAByIdentifier(ctx context.Context, identifier string) (*store.CACertificate, error)
	ClientTokenClaim(ctx context.Context, accountID, token string, since time.Time) (*store.ClientToken, error)
	CRLState(ctx context.Context, ca string) (*store.CRL, error)
	CountCAs(ctx context.Context, accountID string) (int64, error)
	CountIssuedBy(ctx context.Context, accountID, ca string) (int64, error)
	CountIssuedMatching(ctx context.Context, f store.IssuedFilter) (int64, error)
	FilterCACertificates(ctx context.Context, accountID string, f store.CAFilter, offset, limit int) ([]*store.CACertificate, int, error)
	Flush(ctx context.Context, j *store.Journal, code string) error
	GetCACertificate(ctx context.Context, accountID, identifier string) (*store.CACertificate, error)
	GetCRL(ctx context.Context, ca string) (*store.CRL, error)
	GetIssuedCertificate(ctx context.Context, accountID, identifier string) (*store.IssuedCertificate, error)
	GetKMSCertificate(ctx context.Context, accountID, id string) (*store.KMSCertificate, error)
	Group(ctx context.Context, fn func(tx *store.Tx) error) error
	InsertAuditCheckpoint(ctx context.Context, c *store.AuditCheckpoint) error
	IssuedByCA(ctx context.Context, ca string) (certs, revoked, subCAs int64, lastIssued time.Time, err error)
	IssuedBySerial(ctx context.Context, accountID string, serials []string, withDeleted bool, limit int) ([]*store.IssuedCertificate, error)
	KeyRefs(ctx context.Context) (map[string]store.KeyRef, error)
	ListAccessKeys(ctx context.Context) ([]*store.AccessKey, error)
	ListCACertificates(ctx context.Context, accountID string, offset, limit int) ([]*store.CACertificate, int, error)
	ListCAsAfter(ctx context.Context, accountID string, after *store.Cursor, limit int) ([]*store.CACertificate, error)
	ListIssuedAfter(ctx context.Context, f store.IssuedFilter, after *store.Cursor, limit int) ([]*store.IssuedCertificate, error)
	ListIssuedCertificates(ctx context.Context, accountID string, revokedOnly bool, offset, limit int) ([]*store.IssuedCertificate, int, error)
	ListKMSCertificates(ctx context.Context, accountID string, offset, limit int) ([]*store.KMSCertificate, int, error)
	ListTags(ctx context.Context, tq store.TagQuery) ([]store.ResourceTag, error)
	LockCRLBuild(ctx context.Context, ca string) (func(), error)
	OtherChainHeads(ctx context.Context) ([]store.ChainHead, error)
	ReadCRLBuild(ctx context.Context, ca string, into func(size int) []byte) (*store.CRLBuildInput, error)
	RevokeCA(ctx context.Context, accountID, identifier string, at time.Time) error
	RevokeIssued(ctx context.Context, accountID, identifier string, reason int, at time.Time) (issuer string, err error)
	SaveCRL(ctx context.Context, ca string, c *store.CRL, in *store.CRLBuildInput) error
	SignAuditEvery(every int64, now func() time.Time, sign store.CheckpointSigner)
	TagsOf(ctx context.Context, accountID, rtype, rid string) ([]store.Tag, error)
	TagsOfMany(ctx context.Context, accountID, rtype string, ids []string) (map[string][]store.Tag, error)
	Tx(ctx context.Context, fn func(tx *store.Tx) error) error
	PoolKeys(ctx context.Context, algorithm string, exportable bool, limit int) ([]*store.PoolKey, error)
	CountPoolKeys(ctx context.Context, algorithm string, exportable bool) (int, error)
	AllPoolKeys(ctx context.Context) ([]*store.PoolKey, error)
	UseNonce(ctx context.Context, accessKeyID, nonce string, until, now time.Time) (bool, error)
	NonceUsed(ctx context.Context, accessKeyID, nonce string, until time.Time) (bool, error)
}

var _ Store = (*store.DB)(nil)
