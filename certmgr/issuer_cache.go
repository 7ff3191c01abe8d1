package certmgr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/certcustody/certcustody/certmgr/store"
)

// Issuers. Every issuance used to read the issuing CA's row, parse its
// certificate, walk its chain up to the root twice (before signing and in
// the row's transaction) and read the chain again for the answer. All of
// that but the statuses is fixed once a CA exists: its certificate, key,
// algorithm, validity, parent and the chain above it never change. So an
// issuer keeps those, parsed, and each issuance reads only the statuses of
// the chain's CAs, which is what a revocation or a status change on any
// node changes. Nothing cached can go stale: the one mutable fact is read
// from the database every time, in the transaction that writes the row.

// issuer is a CA as issuance needs it.
type issuer struct {
	row  *store.CACertificate // as first read; Status is not kept current
	cert *cert
	// chain is the CA itself, its parent, ..., the root.
	chain []string
	// chainPEM is what an issued certificate's answer carries as its
	// chain: the issuer first, up to and including the root.
	chainPEM string
}

// issuerCacheMax bounds the issuers kept; past it the cache starts over
// (refilling costs one row read per CA, and accounts have few CAs).
const issuerCacheMax = 4096

type issuerCache struct {
	mu sync.RWMutex
	m  map[string]*issuer
}

func issuerKey(accountID, id string) string { return accountID + "\x00" + id }

func (c *issuerCache) get(accountID, id string) *issuer {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[issuerKey(accountID, id)]
}

func (c *issuerCache) put(accountID, id string, iss *issuer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= issuerCacheMax {
		c.m = make(map[string]*issuer)
	}
	c.m[issuerKey(accountID, id)] = iss
}

// issuerOf returns one of the caller's CAs as an issuer, without checking
// that it may issue (checkLive does). A CA of another account is
// NotFound, as getCA answers.
func (m *Manager) issuerOf(ctx context.Context, c Caller, id string) (*issuer, error) {
	if iss := m.issuers.get(c.AccountID, id); iss != nil {
		return iss, nil
	}
	row, err := m.getCA(ctx, c, id)
	if err != nil {
		return nil, err
	}
	parsed, err := parseCert(row.Certificate)
	if err != nil {
		return nil, Internal(err)
	}
	iss := &issuer{row: row, cert: parsed, chain: []string{row.Identifier}}
	var pem strings.Builder
	pem.WriteString(certPEM(row.Certificate))
	for cur := row; cur.ParentIdentifier != ""; {
		if len(iss.chain) >= store.MaxCAChain {
			return nil, Internal(fmt.Errorf("CA %s: chain longer than %d", id, store.MaxCAChain))
		}
		next, err := m.db.GetCACertificate(ctx, c.AccountID, cur.ParentIdentifier)
		if err != nil {
			return nil, Internal(fmt.Errorf("CA %s: parent %s: %w", cur.Identifier, cur.ParentIdentifier, err))
		}
		iss.chain = append(iss.chain, next.Identifier)
		pem.WriteString(certPEM(next.Certificate))
		cur = next
	}
	if row.ParentIdentifier == "" {
		// A root's answer carries the root as its chain, as chainPEM does.
		pem.WriteString(certPEM(row.Certificate))
	}
	iss.chainPEM = pem.String()
	m.issuers.put(c.AccountID, id, iss)
	return iss, nil
}

// statusReader reads CA statuses, from the database or inside a
// transaction.
type statusReader interface {
	CAStatuses(ctx context.Context, identifiers []string) (map[string]string, error)
}

// checkLive refuses issuance from a CA that is not ISSUE or has a CA
// above it that is not (revoked, or disabled). Every issuance path calls
// it before signing and again in the transaction that writes the row, so
// revoking a CA on any node stops issuance from every CA under it.
func (iss *issuer) checkLive(ctx context.Context, q statusReader) error {
	st, err := q.CAStatuses(ctx, iss.chain)
	if err != nil {
		return Internal(err)
	}
	for depth, id := range iss.chain {
		s, ok := st[id]
		switch {
		case !ok:
			return Internal(errors.New("CA " + id + " of a chain is gone"))
		case s == caStatusIssue:
			continue
		case depth == 0:
			return RuleViolation("ParentStatus", "The issuing CA %s is revoked.", id)
		}
		return RuleViolation("ParentStatus", "The issuing CA %s is under the revoked CA %s.", iss.chain[0], id)
	}
	return nil
}
