package certmgr

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/certcustody/certcustody/certmgr/store"
	"github.com/certcustody/certcustody/keystore"
	"github.com/google/uuid"
)

// NewAccessKey is a freshly created credential. Secret is shown once.
type NewAccessKey struct {
	AccessKeyID     string `json:"AccessKeyId"`
	AccessKeySecret string `json:"AccessKeySecret"`
	AccountID       string `json:"AccountId"`
}

// AccessKeyInfo describes a credential without its secret.
type AccessKeyInfo struct {
	AccessKeyID string `json:"AccessKeyId"`
	AccountID   string `json:"AccountId"`
	Status      string `json:"Status"`
	HasPolicy   bool   `json:"HasPolicy"`
	CreatedAt   string `json:"CreatedAt"`
}

const (
	secretPurpose   = "accesskey-secret"
	secretCacheTTL  = 5 * time.Minute
	accessKeyStatus = "Active"
)

// CreateAccessKey creates the account if it does not exist and a new
// AccessKey in it. policy is a RAM-style policy document, or empty for full
// access to the account.
func (m *Manager) CreateAccessKey(ctx context.Context, accountName, policy string) (*NewAccessKey, error) {
	if accountName == "" {
		accountName = "default"
	}
	if policy != "" {
		if _, err := ParsePolicy(policy); err != nil {
			return nil, InvalidParameter("Policy", "%v", err)
		}
	}
	id, err := randomString("LTAI", 20)
	if err != nil {
		return nil, Internal(err)
	}
	secret, err := randomString("", 30)
	if err != nil {
		return nil, Internal(err)
	}
	now := m.now()
	var out *NewAccessKey
	ctx, finish := m.internalAudit(ctx, "", "admin:CreateAccessKey", "accesskey/"+id)
	defer func() { finish(err) }()
	err = m.db.Tx(ctx, func(tx *store.Tx) error {
		acct, err := tx.AccountByName(ctx, accountName)
		if errors.Is(err, store.ErrNotFound) {
			acct = &store.Account{ID: accountIDFor(), Name: accountName, CreatedAt: now}
			err = tx.InsertAccount(ctx, acct)
		}
		if err != nil {
			return err
		}
		store.JournalFrom(ctx).SetAccount(acct.ID)
		sealed, err := m.keys.Seal(ctx, secretAAD(acct.ID, id), []byte(secret))
		if err != nil {
			return err
		}
		if err := tx.InsertAccessKey(ctx, &store.AccessKey{ID: id, AccountID: acct.ID, SecretSealed: sealed, Status: accessKeyStatus, Policy: policy, CreatedAt: now}); err != nil {
			return err
		}
		out = &NewAccessKey{AccessKeyID: id, AccessKeySecret: secret, AccountID: acct.ID}
		return nil
	})
	if err != nil {
		return nil, AsError(err)
	}
	return out, nil
}

// accountIDFor returns a 16-digit numeric account ID, the cloud's form.
func accountIDFor() string {
	u := uuid.New()
	n := uint64(0)
	for _, b := range u[:8] {
		n = n<<8 | uint64(b)
	}
	return fmt.Sprintf("%016d", n%1e16)
}

func secretAAD(accountID, accessKeyID string) keystore.AAD {
	return keystore.AAD{Purpose: secretPurpose, Account: accountID, KeyID: accessKeyID}
}

// randomString returns prefix plus n characters from [A-Za-z0-9] without
// modulo bias.
func randomString(prefix string, n int) (string, error) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	out := make([]byte, 0, len(prefix)+n)
	out = append(out, prefix...)
	buf := make([]byte, 1)
	for len(out) < len(prefix)+n {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		if int(buf[0]) < 256-256%len(alphabet) {
			out = append(out, alphabet[int(buf[0])%len(alphabet)])
		}
	}
	return string(out), nil
}

// Principal is what authentication learns about an AccessKey.
type Principal struct {
	AccessKeyID string
	AccountID   string
	Secret      string  // never log
	Policy      *Policy // nil: full access to the account
}

// LookupAccessKey returns the principal behind an AccessKey ID, with its
// secret unsealed. The row is read on every call, so a key disabled or
// deleted by another process (the accesskey command beside a running
// server) is refused at once; only the unsealed secret is cached, for at
// most five minutes, and only while the row still holds the same sealed
// blob. Unknown keys are InvalidAccessKeyId.NotFound (404); inactive ones
// InvalidAccessKeyId.Inactive.
func (m *Manager) LookupAccessKey(ctx context.Context, id string) (*Principal, error) {
	k, err := m.db.AccessKeyByID(ctx, id)
	return m.principalOf(ctx, id, k, err)
}

// LookupAccessKeyAndNonce is LookupAccessKey that also reports, from the
// same read, whether the request's signature nonce is already recorded
// for the key with the request's expiry until (see NonceUsed): one
// database round trip instead of two for every authenticated call.
func (m *Manager) LookupAccessKeyAndNonce(ctx context.Context, id, nonce string, until time.Time) (*Principal, bool, error) {
	k, used, err := m.db.AccessKeyAndNonce(ctx, id, nonce, until)
	p, err := m.principalOf(ctx, id, k, err)
	if err != nil {
		return nil, false, err
	}
	return p, used, nil
}

// principalOf turns the access key row read for id (or the error reading
// it) into its principal.
func (m *Manager) principalOf(ctx context.Context, id string, k *store.AccessKey, err error) (*Principal, error) {
	if errors.Is(err, store.ErrNotFound) {
		m.secrets.drop(id)
		return nil, &Error{Code: "InvalidAccessKeyId.NotFound", HTTPStatus: http.StatusNotFound, Message: "Specified access key is not found."}
	}
	if err != nil {
		return nil, Internal(err)
	}
	if k.Status != accessKeyStatus {
		m.secrets.drop(id)
		return nil, &Error{Code: "InvalidAccessKeyId.Inactive", HTTPStatus: http.StatusBadRequest, Message: "Specified access key is disabled."}
	}
	if p, ok := m.secrets.get(k, m.now()); ok {
		return p, nil
	}
	secret, err := m.keys.Open(ctx, secretAAD(k.AccountID, k.ID), k.SecretSealed)
	if err != nil {
		return nil, Internal(fmt.Errorf("unseal access key %s: %w", k.ID, err))
	}
	p := &Principal{AccessKeyID: k.ID, AccountID: k.AccountID, Secret: string(secret)}
	if k.Policy != "" {
		if p.Policy, err = ParsePolicy(k.Policy); err != nil {
			// Policies are validated when stored; a broken one denies all.
			p.Policy = &Policy{}
		}
	}
	m.secrets.put(k, p, m.now())
	return p, nil
}

// ListAccessKeys describes every AccessKey; secrets are never listed.
func (m *Manager) ListAccessKeys(ctx context.Context) ([]AccessKeyInfo, error) {
	keys, err := m.db.ListAccessKeys(ctx)
	if err != nil {
		return nil, Internal(err)
	}
	out := make([]AccessKeyInfo, 0, len(keys))
	for _, k := range keys {
		out = append(out, AccessKeyInfo{AccessKeyID: k.ID, AccountID: k.AccountID, Status: k.Status, HasPolicy: k.Policy != "", CreatedAt: isoTime(k.CreatedAt)})
	}
	return out, nil
}

// DisableAccessKey marks an AccessKey Inactive.
func (m *Manager) DisableAccessKey(ctx context.Context, id string) error {
	m.secrets.drop(id)
	ctx, finish := m.internalAudit(ctx, "", "admin:DisableAccessKey", "accesskey/"+id)
	err := m.db.Tx(ctx, func(tx *store.Tx) error {
		if err := auditAccessKeyAccount(ctx, tx, id); err != nil {
			return err
		}
		return tx.SetAccessKeyStatus(ctx, id, "Inactive")
	})
	if err != nil {
		err = akErr(err)
	}
	finish(err)
	return err
}

// DeleteAccessKey removes an AccessKey.
func (m *Manager) DeleteAccessKey(ctx context.Context, id string) error {
	m.secrets.drop(id)
	ctx, finish := m.internalAudit(ctx, "", "admin:DeleteAccessKey", "accesskey/"+id)
	err := m.db.Tx(ctx, func(tx *store.Tx) error {
		if err := auditAccessKeyAccount(ctx, tx, id); err != nil {
			return err
		}
		return tx.DeleteAccessKey(ctx, id)
	})
	if err != nil {
		err = akErr(err)
	}
	finish(err)
	return err
}

// auditAccessKeyAccount names the key's account in the operation's audit
// record.
func auditAccessKeyAccount(ctx context.Context, tx *store.Tx, id string) error {
	k, err := tx.AccessKeyByID(ctx, id)
	if err != nil {
		return err
	}
	store.JournalFrom(ctx).SetAccount(k.AccountID)
	return nil
}

func akErr(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return NotFound("InvalidAccessKeyId.NotFound", "Specified access key is not found.")
	}
	return Internal(err)
}

// UseNonce records a signature nonce for the timestamp window in a commit
// of its own; false means it was already used. A call with an audit
// journal records it with its first commit instead (NonceUsed, then
// Journal.ClaimNonce).
func (m *Manager) UseNonce(ctx context.Context, accessKeyID, nonce string, until time.Time) (bool, error) {
	return m.db.UseNonce(ctx, accessKeyID, nonce, until, m.now())
}

// NonceUsed reports whether a signature nonce is already recorded for the
// access key with the request's expiry until: its signed timestamp plus
// the window, which a replay repeats. It writes nothing.
func (m *Manager) NonceUsed(ctx context.Context, accessKeyID, nonce string, until time.Time) (bool, error) {
	return m.db.NonceUsed(ctx, accessKeyID, nonce, until)
}

// secretCache keeps unsealed secrets briefly so that each request does not
// cost a token decryption. An entry serves only the row it was made from
// (same sealed blob, same policy) and expires after secretCacheTTL.
type secretCache struct {
	mu sync.Mutex
	m  map[string]cachedSecret
}

type cachedSecret struct {
	p       *Principal
	sealed  []byte // the row's sealed secret the entry was unsealed from
	policy  string // the row's policy text the entry parsed
	expires time.Time
}

func newSecretCache() *secretCache { return &secretCache{m: map[string]cachedSecret{}} }

func (c *secretCache) get(k *store.AccessKey, now time.Time) (*Principal, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k.ID]
	if !ok || now.After(e.expires) || !bytes.Equal(e.sealed, k.SecretSealed) || e.policy != k.Policy {
		delete(c.m, k.ID)
		return nil, false
	}
	return e.p, true
}

func (c *secretCache) put(k *store.AccessKey, p *Principal, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k.ID] = cachedSecret{p: p, sealed: k.SecretSealed, policy: k.Policy, expires: now.Add(secretCacheTTL)}
}

func (c *secretCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }
