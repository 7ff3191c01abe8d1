package certmgr

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/certcustody/certcustody/certmgr/store"
	"github.com/certcustody/certcustody/keystore"
)

// Orphan token keys. A key is generated in the token before its row is
// committed (the CSR or certificate needs the key), so a process killed in
// between leaves a token key that no row names. The sweep destroys such
// keys once they are older than the longest a request can take: a key that
// young may still be waiting for its row. Keys are listed before rows are
// read, so a row that commits during the sweep is seen unless its request
// started more than OrphanMaxAge ago, which no request outlives.
//
// A key's age comes from the creation time the keystore records on the
// object. Keys made before that was recorded have an unknown age: the
// automatic sweep never touches them; only an operator's explicit
// SweepOrphanKeysOfUnknownAge does. Only IDs of the form certmgr itself
// gives keys ("kms-<uuid>", "ca-<uuid>") are ever swept, so the objects of
// another application on a shared token are safe whatever their IDs.
//
// Unclaimed keys of the key pool are named by their key_pool rows, so the
// sweep never destroys them. It removes the pool rows that can no longer
// serve instead: one whose key a certificate row names (the key is that
// certificate's), and one older than OrphanMaxAge whose token key is gone.

// DefaultOrphanMaxAge is the age past which an unreferenced token key is
// swept when Config.OrphanMaxAge is zero: far longer than any request.
const DefaultOrphanMaxAge = 10 * time.Minute

// SweepEvery is how often serve runs the sweep (and once at start).
const SweepEvery = time.Hour

var sweepableKeyID = regexp.MustCompile(`^(kms|ca)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

type sweepState struct {
	maxAge time.Duration
	mu     sync.Mutex // one sweep at a time
	swept  atomic.Uint64
}

// TokenKey is one key in the token with the row that references it: what
// `certcustody token keys` prints.
type TokenKey struct {
	keystore.KeyCustody
	// Owner is the row (or service role) the key belongs to; nil for an
	// orphan.
	Owner *KeyOwner `json:"Owner"`
	// Orphan: no row references the key and it is not a service key.
	Orphan bool `json:"Orphan"`
}

// KeyOwner names what a token key belongs to.
type KeyOwner struct {
	Kind      string `json:"Kind"`                // KMSCertificate, CACertificate or ServiceKey
	ID        string `json:"Id"`                  // CertificateId, CA Identifier or service key ID
	AccountID string `json:"AccountId,omitempty"` // empty for service keys
}

// TokenKeys lists every key of ours in the token, live, with its owner.
// An unclaimed pool key's owner is Kind KeyPool, ID its pool.
func (m *Manager) TokenKeys(ctx context.Context) ([]TokenKey, error) {
	out, _, err := m.tokenKeys(ctx)
	return out, err
}

// tokenKeys is TokenKeys and the references it read, read after the keys
// were listed.
func (m *Manager) tokenKeys(ctx context.Context) ([]TokenKey, map[string]store.KeyRef, error) {
	keys, err := m.keys.ListKeys(ctx)
	if err != nil {
		return nil, nil, Internal(err)
	}
	refs, err := m.db.KeyRefs(ctx)
	if err != nil {
		return nil, nil, Internal(err)
	}
	out := make([]TokenKey, 0, len(keys))
	for _, k := range keys {
		tk := TokenKey{KeyCustody: k}
		switch ref, ok := refs[k.KeyID]; {
		case ok:
			tk.Owner = &KeyOwner{Kind: ref.Kind, ID: ref.ID, AccountID: ref.AccountID}
		case keystore.IsServiceKeyID(k.KeyID):
			tk.Owner = &KeyOwner{Kind: "ServiceKey", ID: k.KeyID}
		default:
			tk.Orphan = true
		}
		out = append(out, tk)
	}
	return out, refs, nil
}

// SweepOrphanKeys destroys the token keys that no row references and that
// are older than OrphanMaxAge, and returns how many it destroyed. Keys of
// unknown age are left alone. Destroyed keys are counted (SweptOrphanKeys)
// and audited: an internal:SweepOrphanKeys record with a token:destroy
// record per key. Stale key pool rows are removed in the same operation,
// each with a keypool:drop record.
func (m *Manager) SweepOrphanKeys(ctx context.Context) (int, error) {
	return m.sweepOrphans(ctx, false)
}

// SweepOrphanKeysOfUnknownAge is SweepOrphanKeys that also destroys
// orphans whose creation time the token does not record (keys made before
// it was recorded). Run it only on an operator's explicit command, with no
// key creation in flight anywhere on the token.
func (m *Manager) SweepOrphanKeysOfUnknownAge(ctx context.Context) (int, error) {
	return m.sweepOrphans(ctx, true)
}

// SweptOrphanKeys counts the orphan token keys destroyed since start, for
// /metrics.
func (m *Manager) SweptOrphanKeys() uint64 { return m.sweep.swept.Load() }

func (m *Manager) sweepOrphans(ctx context.Context, unknownAge bool) (int, error) {
	m.sweep.mu.Lock()
	defer m.sweep.mu.Unlock()
	maxAge := m.sweep.maxAge
	if maxAge <= 0 {
		maxAge = DefaultOrphanMaxAge
	}
	keys, refs, err := m.tokenKeys(ctx)
	if err != nil {
		return 0, err
	}
	pooled, err := m.db.AllPoolKeys(ctx)
	if err != nil {
		return 0, Internal(err)
	}
	cutoff := m.now().Add(-maxAge)
	inToken := make(map[string]bool, len(keys))
	var doomed []string
	for _, k := range keys {
		inToken[k.KeyID] = true
		if !k.Orphan || !sweepableKeyID.MatchString(k.KeyID) {
			continue
		}
		if k.CreatedAt == nil && !unknownAge || k.CreatedAt != nil && k.CreatedAt.After(cutoff) {
			continue
		}
		doomed = append(doomed, k.KeyID)
	}
	var stale []string // pool rows that cannot serve
	for _, k := range pooled {
		// A pool row younger than the cutoff may name a key generated
		// after the token was listed.
		ref := refs[k.KeyID]
		if ref.Kind != store.KeyRefKeyPool || !inToken[k.KeyID] && k.CreatedAt.Before(cutoff) {
			stale = append(stale, k.KeyID)
		}
	}
	if len(doomed) == 0 && len(stale) == 0 {
		return 0, nil
	}
	ctx, finish := m.internalAudit(ctx, "", "internal:SweepOrphanKeys", "token")
	n := 0
	var errs []error
	for _, id := range stale {
		err := m.db.Group(ctx, func(tx *store.Tx) error {
			if err := tx.DeletePoolKey(ctx, id); err != nil {
				return err
			}
			store.JournalFrom(ctx).AddChange("keypool:drop", id, "OK")
			return nil
		})
		switch {
		case err == nil:
			m.log.Info("removed a stale key pool row", "key_id", id, "in_token", inToken[id])
		case errors.Is(err, store.ErrNotFound): // claimed or removed meanwhile
		default:
			errs = append(errs, fmt.Errorf("remove stale pool key %s: %w", id, err))
		}
	}
	for _, id := range doomed {
		err := m.keys.Destroy(ctx, id)
		switch {
		case err == nil:
			n++
			m.sweep.swept.Add(1)
			m.log.Info("destroyed orphan token key", "key_id", id)
		case errors.Is(err, keystore.ErrNotFound): // gone meanwhile (a DeleteCertificate)
		default:
			errs = append(errs, fmt.Errorf("destroy orphan key %s: %w", id, err))
		}
	}
	err = errors.Join(errs...)
	if err != nil {
		err = Internal(err)
	}
	finish(err)
	return n, err
}
