package certmgr

import (
	"context"
	"crypto"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/certcustody/certcustody/keystore"
)

// Keys is what certmgr needs from the keystore.
type Keys interface {
	Generate(ctx context.Context, req keystore.GenerateRequest) (*keystore.Key, error)
	Signer(ctx context.Context, id string) (*keystore.Signer, error)
	Destroy(ctx context.Context, id string) error
	Export(ctx context.Context, id string) ([]byte, error)
	Custody(ctx context.Context, id string) (*keystore.KeyCustody, error)
	ListKeys(ctx context.Context) ([]keystore.KeyCustody, error)
	Seal(ctx context.Context, aad keystore.AAD, plaintext []byte) ([]byte, error)
	Open(ctx context.Context, aad keystore.AAD, blob []byte) ([]byte, error)
	GenerateWrapped(ctx context.Context, alg keystore.Algorithm, owner keystore.AAD) (*keystore.WrappedKey, error)
	ExportWrapped(ctx context.Context, w *keystore.WrappedKey, owner keystore.AAD) ([]byte, error)
	// The wrapped custody class of KMS keys (kms_custody.go).
	GenerateWrappedKMS(ctx context.Context, req keystore.GenerateRequest, account string) (*keystore.WrappedKMSKey, error)
	WrappedSigner(ctx context.Context, k *keystore.WrappedKMSKey) (*keystore.Signer, error)
	ExportWrappedKMS(ctx context.Context, k *keystore.WrappedKMSKey) ([]byte, error)
	WrappedCustody(ctx context.Context, k *keystore.WrappedKMSKey) (*keystore.KeyCustody, error)
	ForgetWrapped(ctx context.Context, id string)
	Observe(fn keystore.Observer)
}

var _ Keys = (*keystore.Store)(nil)

// Config holds the manager's settings.
type Config struct {
	Region    string           // default region in ARNs (e.g. cn-hangzhou)
	PublicURL string           // base URL written into CRL distribution points
	Now       func() time.Time // clock; time.Now when nil
	Logger    *slog.Logger     // slog.Default() when nil
	// OrphanMaxAge is how old an unreferenced token key must be before the
	// orphan sweep destroys it (default 10 minutes; see SweepOrphanKeys).
	OrphanMaxAge time.Duration

	// MaxTokenKeysPerAccount caps the token-resident keys (KMS keys and CA
	// keys) one account may hold, since each is a token object (a file in
	// SoftHSM, a slot in an HSM) and costs key generation. nil means
	// DefaultMaxTokenKeysPerAccount; 0 means no limit. A create beyond it
	// fails with QuotaExceeded before any key is generated.
	MaxTokenKeysPerAccount *int

	// KeyPool sizes the token key pools CreateCertificate claims keys
	// from (keypool.go); a pool absent or of size 0 is off. RunKeyPool
	// fills them. Entries CheckKeyPool refuses are ignored.
	KeyPool map[PoolSpec]int

	// KMSKeyCustody chooses, per account, where new KMS keys live
	// (kms_custody.go); the zero value keeps every key in the token.
	// Validate it with Check first: an unknown class counts as token.
	KMSKeyCustody KMSKeyCustody
}

// DefaultMaxTokenKeysPerAccount is the quota of token-resident keys per
// account when Config leaves it unset.
const DefaultMaxTokenKeysPerAccount = 1000

// Manager implements the API's operations. It is safe for concurrent use.
type Manager struct {
	keys    Keys
	db      Store
	region  string
	now     func() time.Time
	secrets *secretCache
	crls    crlBuilders
	issuers issuerCache    // the fixed parts of CAs that issue (issuer_cache.go)
	facts   certFactsCache // what summaries read from certificates (cert_facts.go)
	public  string
	log     *slog.Logger
	// keyQuota is MaxTokenKeysPerAccount resolved; 0: no limit.
	keyQuota int

	unaudited atomic.Uint64                 // token-key uses no journal carried
	sweep     sweepState                    // orphan token-key sweep (sweep.go)
	pool      *keyPool                      // token key pool (keypool.go)
	custody   atomic.Pointer[KMSKeyCustody] // custody class of new KMS keys, per account

	// signerHook, when set, wraps the token signer of every certificate,
	// CSR and CRL certmgr signs. Only tests set it: it injects the failures a
	// real token rarely produces (a device error at signing, a client
	// hanging up mid-build) around the real SoftHSM signer.
	signerHook atomic.Pointer[func(keyID string, s crypto.Signer) crypto.Signer]
}

// signer returns the token signer of a key, through signerHook if set.
func (m *Manager) signer(ctx context.Context, keyID string) (crypto.Signer, error) {
	s, err := m.keys.Signer(ctx, keyID)
	if err != nil {
		return nil, err
	}
	return m.hooked(keyID, s), nil
}

// New returns a Manager over a keystore and a database.
func New(keys Keys, db Store, cfg Config) *Manager {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	region := cfg.Region
	if region == "" {
		region = "cn-hangzhou"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	quota := DefaultMaxTokenKeysPerAccount
	if cfg.MaxTokenKeysPerAccount != nil {
		quota = max(*cfg.MaxTokenKeysPerAccount, 0)
	}
	m := &Manager{keys: keys, db: db, region: region, now: func() time.Time { return now().UTC() }, secrets: newSecretCache(),
		public: strings.TrimRight(cfg.PublicURL, "/"), log: log, sweep: sweepState{maxAge: cfg.OrphanMaxAge}, keyQuota: quota,
		pool: newKeyPool(cfg.KeyPool), facts: newCertFactsCache()}
	m.SetKMSKeyCustody(cfg.KMSKeyCustody)
	keys.Observe(m.observeKeyUse)
	db.SignAuditEvery(checkpointEvery, m.now, m.signCheckpoint)
	return m
}

// Caller is the authenticated principal of a request.
type Caller struct {
	AccountID   string
	AccessKeyID string
	Region      string // RegionId of the request; the configured region when empty
	SourceIP    string
}

func (m *Manager) regionOf(c Caller) string {
	if c.Region != "" {
		return c.Region
	}
	return m.region
}

// kmsArn is the ARN of a KMS certificate.
func (m *Manager) kmsArn(c Caller, id string) string {
	return "acs:kms:" + m.regionOf(c) + ":" + c.AccountID + ":certificate/" + id
}

// caArn is the RAM resource name of a Private CA or issued certificate.
func (m *Manager) caArn(c Caller, id string) string {
	return "acs:yundun-cert:" + m.regionOf(c) + ":" + c.AccountID + ":certificate/" + id
}

// keyCounter counts an account's token-resident keys, from the database or
// inside a transaction.
type keyCounter interface {
	CountTokenKeys(ctx context.Context, accountID string, upTo int) (int, error)
}

// checkKeyQuota refuses a new token-resident key for an account that
// holds its quota. Creating calls run it before generating the key (so a
// refused call costs no key generation and leaves no token object) and
// again in the transaction that writes the row, so concurrent creates
// cannot overshoot it.
func (m *Manager) checkKeyQuota(ctx context.Context, q keyCounter, accountID string) error {
	if m.keyQuota == 0 {
		return nil
	}
	n, err := q.CountTokenKeys(ctx, accountID, m.keyQuota)
	if err != nil {
		return Internal(err)
	}
	if n >= m.keyQuota {
		return QuotaExceeded(m.keyQuota)
	}
	return nil
}
