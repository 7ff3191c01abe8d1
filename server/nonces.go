package server

import (
	"context"
	"sync"
	"time"

	"github.com/certcustody/certcustody/certmgr"
)

// NonceChecker is a NonceStore that can also tell, writing nothing, whether
// a nonce is already used. With one and an Auditor, the server records each
// call's nonce in the transaction that commits the call's first record (its
// change, or its audit record at the end), so a call costs one durable
// commit, not two. A replay of a request that committed is refused before
// it does any work, as with UseNonce; a replay sent while its original is
// still running does its work too, and is refused at commit, when its
// transaction rolls back: it changes nothing and receives no result, and
// its audit record (with any token-key use it made) says
// SignatureNonceUsed.
type NonceChecker interface {
	NonceStore
	NonceUsed(ctx context.Context, accessKeyID, nonce string, until time.Time) (bool, error)
}

// journalNonces is the NonceStore of one audited request: it checks the
// nonce (with the answer the key lookup read, when it read one) and hands
// the recording to the request's journal.
type journalNonces struct {
	check   NonceChecker
	journal *certmgr.Journal
	// read is the request's key lookup, which may have read the nonce
	// already; nil: it did not.
	read *principalOnce
}

func (n journalNonces) UseNonce(ctx context.Context, accessKeyID, nonce string, until time.Time) (bool, error) {
	used, ok := false, false
	if n.read != nil {
		used, ok = n.read.usedNonce(accessKeyID, nonce, until)
	}
	if !ok {
		var err error
		if used, err = n.check.NonceUsed(ctx, accessKeyID, nonce, until); err != nil {
			return false, err
		}
	}
	if used {
		return false, nil
	}
	n.journal.ClaimNonce(accessKeyID, nonce, until)
	return true, nil
}

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
