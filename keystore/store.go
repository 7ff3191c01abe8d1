package keystore

import (
	"context"
	"crypto"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/miekg/pkcs11"
)

// Store is an open, logged-in token. It is safe for concurrent use.
type Store struct {
	cfg    Config
	ctx    *pkcs11.Ctx
	slot   uint
	pool   *sessionPool
	keygen chan struct{}
	mechs  map[uint]bool

	mu      sync.RWMutex
	handles map[string]*keyEntry // the ID → handle index (index.go), by key ID
	// indexEpoch counts index builds; an entry records the epoch it was
	// indexed in, so a build keeps entries indexed while it scanned.
	indexEpoch uint64
	// droppedDuring, while a build scans, names the keys unindexed since
	// it began (the scan may have seen them).
	droppedDuring map[string]bool
	buildMu       sync.Mutex // one index build at a time
	finds         atomic.Uint64
	staleHandles  atomic.Uint64
	// trustEpoch moves each time a token call meets a stale handle; an
	// entry is trusted without a check while its trusted field equals it
	// (index.go).
	trustEpoch  atomic.Uint64
	indexBuilds atomic.Uint64

	unwrapped *unwrapCache // wrapped-class KMS keys unwrapped for use (wrapped_kms.go)

	// oaepSHA256 is 0 until probed, 1 when the token accepts OAEP with
	// SHA-256 parameters, 2 when it refuses them (SoftHSM 2.6.1).
	oaepSHA256 atomic.Int32
	closed     atomic.Bool
	service    serviceKeys
	obs        *observers
	recoveries atomic.Uint64

	// objLock keeps finds apart from creations and destructions of token
	// objects (see objectLock); shared by the Stores on this token.
	objLock       *objectLock
	keygenRetries atomic.Uint64 // generations retried after a token fault
	// keygenFault, when set by a test, wraps each C_GenerateKeyPair call of
	// Generate to inject faults SoftHSM produces only under races.
	keygenFault func(call func() (pub, priv pkcs11.ObjectHandle, err error)) (pub, priv pkcs11.ObjectHandle, err error)
}

// keyEntry is what the Store remembers about a key between calls.
type keyEntry struct {
	id        string
	alg       Algorithm
	priv, pub pkcs11.ObjectHandle
	data      pkcs11.ObjectHandle // sealed scalar of a software SM2 key
	secret    bool                // priv is a secret key (a service key)
	public    crypto.PublicKey    // nil until the key's first use
	soft      *softwareRecord     // set for software SM2 keys
	epoch     uint64              // Store.indexEpoch when indexed
	trusted   uint64              // Store.trustEpoch when last known right; guarded by Store.mu
}

// Open loads the module, finds the token by label, logs in, builds the ID →
// handle index (one pass over the token's objects; see index.go) and makes
// sure the service keys (KEK, wrapping key, audit key) exist.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	p11, err := acquireModule(c.Module)
	if err != nil {
		return nil, err
	}
	s := &Store{cfg: c, ctx: p11, handles: map[string]*keyEntry{}, obs: newObservers(), objLock: tokenObjectLock(c.Module, c.TokenLabel)}
	fail := func(err error) (*Store, error) {
		if s.pool != nil {
			s.pool.close()
		}
		releaseModule(c.Module)
		return nil, err
	}
	slot, ti, err := findToken(p11, c.TokenLabel)
	if err != nil {
		return fail(err)
	}
	s.slot = slot
	max := c.MaxSessions
	if lim := ti.MaxRwSessionCount; lim > 0 && lim != pkcs11.CK_UNAVAILABLE_INFORMATION && lim != pkcs11.CK_EFFECTIVELY_INFINITE && int(lim) < max {
		max = int(lim) - 1 // one for the persistent login session
	}
	if max < 1 {
		max = 1
	}
	s.cfg.MaxSessions = max
	s.keygen = make(chan struct{}, c.MaxConcurrentKeygen)
	if s.mechs, err = mechanismSet(p11, slot); err != nil {
		return fail(err)
	}
	if s.pool, err = newSessionPool(p11, slot, c.PIN, max); err != nil {
		return fail(err)
	}
	s.unwrapped = newUnwrapCache(c.UnwrappedKeys)
	if err := s.buildIndex(ctx); err != nil {
		return fail(err)
	}
	if err := s.ensureServiceKeys(ctx); err != nil {
		return fail(err)
	}
	return s, nil
}

func findToken(ctx *pkcs11.Ctx, label string) (uint, pkcs11.TokenInfo, error) {
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		return 0, pkcs11.TokenInfo{}, fmt.Errorf("keystore: C_GetSlotList: %w", err)
	}
	for _, s := range slots {
		ti, err := ctx.GetTokenInfo(s)
		if err == nil && ti.Label == label && ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED != 0 {
			return s, ti, nil
		}
	}
	return 0, pkcs11.TokenInfo{}, fmt.Errorf("keystore: no initialised token labelled %q", label)
}

func mechanismSet(ctx *pkcs11.Ctx, slot uint) (map[uint]bool, error) {
	list, err := ctx.GetMechanismList(slot)
	if err != nil {
		return nil, fmt.Errorf("keystore: C_GetMechanismList: %w", err)
	}
	m := make(map[uint]bool, len(list))
	for _, x := range list {
		m[x.Mechanism] = true
	}
	return m, nil
}

// Close releases the sessions and, when this was the last Store on the
// module, finalises it. Keys stay in the token.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.pool.close()
	releaseModule(s.cfg.Module)
	return nil
}

// Slot returns the slot ID the token sits in.
func (s *Store) Slot() uint { return s.slot }

// TokenLabel returns the label of the open token.
func (s *Store) TokenLabel() string { return s.cfg.TokenLabel }

// Mechanisms returns the mechanism codes the token lists.
func (s *Store) Mechanisms() []uint {
	out := make([]uint, 0, len(s.mechs))
	for m := range s.mechs {
		out = append(out, m)
	}
	return out
}

func pctAll(s string) string {
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, 3*len(s))
	for i := 0; i < len(s); i++ {
		b = append(b, '%', hex[s[i]>>4], hex[s[i]&15])
	}
	return string(b)
}

// withSession runs fn on a pooled session. When the token reports a lost
// session or login, it recovers, rebuilds the index (a lost login ends the
// handles of private objects) and runs fn once more (retry=true). A stale
// object handle also earns one retry: the retry's lookup verifies the
// handle, drops it and finds the key again (index.go).
func (s *Store) withSession(ctx context.Context, fn func(sh pkcs11.SessionHandle, retry bool) error) error {
	return s.session(ctx, true, fn)
}

// withSessionNoReindex is withSession for the index build itself.
func (s *Store) withSessionNoReindex(ctx context.Context, fn func(sh pkcs11.SessionHandle, retry bool) error) error {
	return s.session(ctx, false, fn)
}

func (s *Store) session(ctx context.Context, reindex bool, fn func(sh pkcs11.SessionHandle, retry bool) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	for attempt := 0; ; attempt++ {
		ps, err := s.pool.get(ctx)
		if err != nil {
			return err
		}
		err = fn(ps.h, attempt > 0)
		lost := sessionLost(err)
		s.pool.put(ps, lost)
		if attempt > 0 || (!lost && !handleStale(err)) {
			return err
		}
		if handleStale(err) {
			// Some indexed handle no longer names its object: check every
			// entry once before its next use, this retry's first.
			s.trustEpoch.Add(1)
		}
		s.recoveries.Add(1)
		if lost {
			recovered, rerr := s.pool.recover(ps.gen)
			if rerr != nil {
				return fmt.Errorf("keystore: recover token session: %w (after %v)", rerr, err)
			}
			s.afterRecovery(ctx, recovered, reindex)
		}
		if ctx.Err() != nil {
			return err
		}
	}
}

// afterRecovery runs after the session pool recovered from a lost session
// or login. Unwrapped session objects died with their sessions. The call
// that did the recovery rebuilds the index: the others retry on the old
// one, whose stale handles their lookups verify and find again.
func (s *Store) afterRecovery(ctx context.Context, recovered, reindex bool) {
	s.unwrapped.flush()
	if recovered && reindex {
		// A failed rebuild leaves the old index, which lookups verify.
		_ = s.buildIndex(ctx)
	}
}
