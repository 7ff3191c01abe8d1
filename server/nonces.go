package server

import (
	"context"
	"sync"
	"time"
)

// MemoryNonces is an in-memory NonceStore for tests and single-node
// development. Each (AccessKeyId, nonce) pair is remembered until the expiry
// it was recorded with; a nonce may be used again only after that. Nodes do
// not share it, so a deployment with several nodes needs the database-backed
// store. The zero value is ready to use; it is safe for concurrent use.
type MemoryNonces struct {
	// Now is the clock that decides expiry; nil means time.Now. Tests that
	// freeze the Authenticator's clock freeze this one too.
	Now func() time.Time

	mu        sync.Mutex
	seen      map[nonceKey]time.Time
	nextSweep int // sweep expired entries when the map reaches this size
}

// nonceKey is a struct rather than a joined string so that no choice of
// AccessKeyId and nonce can collide with another pair.
type nonceKey struct{ accessKeyID, nonce string }

var _ NonceStore = (*MemoryNonces)(nil)

// UseNonce records the nonce for accessKeyID until the given time and
// reports whether it was fresh (not recorded and unexpired before).
func (m *MemoryNonces) UseNonce(ctx context.Context, accessKeyID, nonce string, until time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	t := now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil {
		m.seen = map[nonceKey]time.Time{}
	}
	k := nonceKey{accessKeyID, nonce}
	if exp, ok := m.seen[k]; ok && exp.After(t) {
		return false, nil
	}
	if len(m.seen) >= m.nextSweep {
		m.sweep(t)
	}
	m.seen[k] = until
	return true, nil
}

// sweep drops expired entries. It runs when the map has doubled since the
// last sweep, so its cost is amortised O(1) per insert and memory stays
// bounded by twice the live nonces (plus a floor).
func (m *MemoryNonces) sweep(now time.Time) {
	for k, exp := range m.seen {
		if !exp.After(now) {
			delete(m.seen, k)
		}
	}
	m.nextSweep = 2*len(m.seen) + 1024
}

// Len returns the number of remembered nonces, expired ones not yet swept
// included; it exists for tests and metrics.
func (m *MemoryNonces) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.seen)
}
