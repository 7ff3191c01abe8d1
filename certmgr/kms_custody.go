package certmgr

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/certcustody/certcustody/certmgr/store"
	"github.com/certcustody/certcustody/csrgen"
	"github.com/certcustody/certcustody/keystore"
)

// KMS key custody classes: where CreateCertificate keeps a new key. The
// class is chosen per account by configuration (KMSKeyCustody), never by
// the service on its own: a token that is full refuses new token keys
// rather than quietly keeping them wrapped.
const (
	// KeyCustodyToken: the key pair is a token object (the default). The
	// token's own CKA_NEVER_EXTRACTABLE proves a non-exportable key never
	// left it.
	KeyCustodyToken = "token"
	// KeyCustodyWrapped: the key pair is generated in the token, kept in
	// its database row only wrapped under the token's wrapping key (and
	// sealed under the KEK), and unwrapped into a sensitive session object
	// for each use: no token object per key, for fleets larger than a
	// token holds. The key was extractable once, to be wrapped, so
	// CKA_NEVER_EXTRACTABLE cannot hold; KeyCustody says so.
	KeyCustodyWrapped = "wrapped"
)

// KMSKeyCustody chooses the custody class of new KMS keys per account.
// Existing keys keep the class they were created with (their row says
// which), whatever the configuration says later.
type KMSKeyCustody struct {
	Default  string            // class of accounts not listed; "" means KeyCustodyToken
	Accounts map[string]string // account ID → class
}

// Check reports a class name that is neither KeyCustodyToken nor
// KeyCustodyWrapped.
func (c KMSKeyCustody) Check() error {
	if !validCustody(c.Default) {
		return fmt.Errorf("kms key custody: default %q: want %s or %s", c.Default, KeyCustodyToken, KeyCustodyWrapped)
	}
	ids := make([]string, 0, len(c.Accounts))
	for id := range c.Accounts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if id == "" || !validCustody(c.Accounts[id]) || c.Accounts[id] == "" {
			return fmt.Errorf("kms key custody: account %q: %q: want %s or %s", id, c.Accounts[id], KeyCustodyToken, KeyCustodyWrapped)
		}
	}
	return nil
}

func validCustody(class string) bool {
	switch strings.ToLower(class) {
	case "", KeyCustodyToken, KeyCustodyWrapped:
		return true
	}
	return false
}

// classOf returns the custody class of an account's new KMS keys.
func (c KMSKeyCustody) classOf(accountID string) string {
	class, ok := c.Accounts[accountID]
	if !ok {
		class = c.Default
	}
	if strings.EqualFold(class, KeyCustodyWrapped) {
		return KeyCustodyWrapped
	}
	return KeyCustodyToken
}

// KMSKeyCustodyOf returns the custody class CreateCertificate gives an
// account's new keys.
func (m *Manager) KMSKeyCustodyOf(accountID string) string {
	return m.custody.Load().classOf(accountID)
}

// SetKMSKeyCustody replaces the custody classes of new KMS keys (a
// configuration reload; accounts are created at run time, so their IDs
// reach the configuration later). Keys already created keep their class.
// Validate c with Check first: an unknown class counts as token.
func (m *Manager) SetKMSKeyCustody(c KMSKeyCustody) { m.custody.Store(&c) }

// createWrapped is CreateCertificate for an account of the wrapped class:
// the key costs no token object, so neither the token-key quota nor the
// key pool applies.
func (m *Manager) createWrapped(ctx context.Context, c Caller, id string, alg keystore.Algorithm, dn csrgen.DN, sans []string, exportable bool) (*CreateCertificateResult, error) {
	keyID := "kms-" + id
	w, err := m.keys.GenerateWrappedKMS(ctx, keystore.GenerateRequest{ID: keyID, Algorithm: alg, Purpose: keystore.PurposeKMS, Exportable: exportable, RandomID: true}, c.AccountID)
	if err != nil {
		if errors.Is(err, keystore.ErrUnsupported) {
			return nil, RuleViolation("KeyCustody", "%s keys are not offered in wrapped key custody, which this account's KMS keys are configured for.", kmsSpecName(alg))
		}
		return nil, Internal(err)
	}
	result, err := m.finishCreate(ctx, c, id, keyID, alg, keystore.ProtectionHSM, dn, sans, exportable, false, w)
	// The unwrapped object made for the CSR's signature is not needed
	// again soon; on failure nothing else of the key exists.
	m.keys.ForgetWrapped(ctx, keyID)
	if err != nil {
		return nil, AsError(err)
	}
	return result, nil
}

// wrappedKeyOf is the keystore's view of a wrapped-class row's key; nil for
// a token-resident key.
func wrappedKeyOf(row *store.KMSCertificate) (*keystore.WrappedKMSKey, error) {
	if row.KeyBlob == nil {
		return nil, nil
	}
	pub, err := kmsPublicKey(row)
	if err != nil {
		return nil, err
	}
	return &keystore.WrappedKMSKey{ID: row.KeyID, Account: row.AccountID, Algorithm: kmsKeySpecs[row.KeySpec],
		Exportable: row.Exportable, Public: pub, Blob: row.KeyBlob}, nil
}

// kmsSigner returns the signer of a KMS certificate's key, whichever its
// custody class.
func (m *Manager) kmsSigner(ctx context.Context, row *store.KMSCertificate) (*keystore.Signer, error) {
	w, err := wrappedKeyOf(row)
	if err != nil {
		return nil, err
	}
	if w != nil {
		return m.keys.WrappedSigner(ctx, w)
	}
	return m.keys.Signer(ctx, row.KeyID)
}

// kmsExport returns the PKCS#8 form of a KMS certificate's key.
func (m *Manager) kmsExport(ctx context.Context, row *store.KMSCertificate) ([]byte, error) {
	w, err := wrappedKeyOf(row)
	if err != nil {
		return nil, err
	}
	if w != nil {
		return m.keys.ExportWrappedKMS(ctx, w)
	}
	return m.keys.Export(ctx, row.KeyID)
}

// kmsCustody reads a KMS certificate's key custody live from the token.
func (m *Manager) kmsCustody(ctx context.Context, row *store.KMSCertificate) (*keystore.KeyCustody, error) {
	w, err := wrappedKeyOf(row)
	if err != nil {
		return nil, err
	}
	if w != nil {
		return m.keys.WrappedCustody(ctx, w)
	}
	return m.keys.Custody(ctx, row.KeyID)
}

// hooked wraps a signer with signerHook when a test set one.
func (m *Manager) hooked(keyID string, s crypto.Signer) crypto.Signer {
	if h := m.signerHook.Load(); h != nil {
		return (*h)(keyID, s)
	}
	return s
}
