package certmgr

import (
	"context"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/certcustody/certcustody/certmgr/store"
)

// CRLs: a revocation marks its CA's CRL dirty and bumps the CRL's change
// counter, in the revocation's transaction (O(1)). A CRL is rebuilt when it
// is fetched dirty or close to its NextUpdate, by one build per CA at a
// time: a build reads the entries and the counter in one snapshot, signs,
// and saves the CRL in a transaction that clears the dirty mark only if
// the counter has not moved, so a failed, abandoned or overtaken build
// leaves the mark for the next one. Builds run detached from the caller's
// context with their own deadline: a client hanging up does not abandon
// a build. A fetch of a dirty CRL waits for a build that read its entries
// after the fetch saw the mark (the one in flight, if it is recent enough,
// else the next), so a revocation is on the next CRL fetched after it
// committed; fetches that arrive together share one build.

// crlBuildTimeout bounds a detached build (a million entries take under a
// second once kept; a CA's first build after an upgrade writes its kept
// list from the certificate tables, which takes seconds).
const crlBuildTimeout = 5 * time.Minute

// crlRefreshMargin rebuilds a clean CRL this long before its NextUpdate.
const crlRefreshMargin = time.Hour

// crlBuilders holds one builder per CA.
type crlBuilders struct{ m sync.Map }

func (b *crlBuilders) of(ca string) *crlBuilder {
	v, _ := b.m.LoadOrStore(ca, &crlBuilder{})
	return v.(*crlBuilder)
}

// crlBuilder runs a CA's builds one at a time and remembers the change
// counter of the last one that succeeded, and the last CRL this node
// built or read.
type crlBuilder struct {
	mu      sync.Mutex
	cur     *crlBuild // in flight, or nil
	lastGen int64     // counter the last successful build read its entries at
	lastOK  bool
	// doc is served while the stored CRL is still this one (same number
	// and thisUpdate), so a fetch of a clean CRL reads one row instead of
	// putting tens of megabytes together.
	doc *CRLDocument
}

// cached returns the CRL remembered, if it is the one stored in state.
func (b *crlBuilder) cached(state *store.CRL) *CRLDocument {
	b.mu.Lock()
	defer b.mu.Unlock()
	if d := b.doc; d != nil && d.Number == state.Number && d.ThisUpdate.Equal(state.ThisUpdate) {
		return d
	}
	return nil
}

// remember keeps doc for later fetches unless a newer one is kept.
func (b *crlBuilder) remember(doc *CRLDocument) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.keep(doc)
}

func (b *crlBuilder) keep(doc *CRLDocument) {
	if b.doc == nil || doc.Number >= b.doc.Number {
		b.doc = doc
	}
}

// crlBuild is one build; its fields are set before done is closed.
type crlBuild struct {
	done chan struct{}
	gen  int64
	doc  *CRLDocument
	err  error
}

// join returns the build to wait for, for a fetch that saw the counter at
// gen: the one in flight, or a new one that start runs. Unless stale (the
// stored CRL is due by date), it returns nil when a finished build already
// read at gen or later: the stored CRL is at least that new.
func (b *crlBuilder) join(gen int64, stale bool, start func(*crlBuild)) *crlBuild {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cur != nil {
		return b.cur
	}
	if !stale && b.lastOK && b.lastGen >= gen {
		return nil
	}
	cur := &crlBuild{done: make(chan struct{})}
	b.cur = cur
	// A build starts only when the stored CRL may not be served (dirty,
	// due, or unreadable): the one remembered would not be served either,
	// and a build need not hold two CRLs of tens of megabytes at once.
	b.doc = nil
	go func() {
		start(cur)
		b.mu.Lock()
		b.cur = nil
		if cur.err == nil && (!b.lastOK || cur.gen > b.lastGen) {
			b.lastGen, b.lastOK = cur.gen, true
		}
		if cur.err == nil {
			b.keep(cur.doc)
		}
		b.mu.Unlock()
		close(cur.done)
	}()
	return cur
}

// CRLDocument is a CA's current CRL.
type CRLDocument struct {
	DER        []byte
	Number     int64
	ThisUpdate time.Time
	NextUpdate time.Time
}

func crlDoc(c *store.CRL) *CRLDocument {
	return &CRLDocument{DER: c.DER, Number: c.Number, ThisUpdate: c.ThisUpdate, NextUpdate: c.NextUpdate}
}

// CRL returns a CA's current CRL (DER), rebuilding it when revocations
// have arrived or NextUpdate is near. The CRL endpoint is public, so any
// CA's CRL can be fetched by its Identifier.
func (m *Manager) CRL(ctx context.Context, identifier string) (*CRLDocument, error) {
	ca, err := m.db.CAByIdentifier(ctx, identifier)
	if errors.Is(err, store.ErrNotFound) {
		return nil, caNotFound(identifier)
	}
	if err != nil {
		return nil, Internal(err)
	}
	if ca.IssuerType == store.IssuerExternal {
		return nil, NotFound("NotFound.Certificate", "The CA %q is external: its CRL is published by whoever holds its key, not here.", identifier)
	}
	builder := m.crls.of(identifier)
	// Two rounds settle it (the build in flight, then one that starts
	// after this fetch looked); the bound only guards against a spin.
	for range crlFetchRounds {
		state, err := m.db.CRLState(ctx, identifier)
		if err != nil {
			return nil, Internal(err)
		}
		if m.servable(state) {
			if doc := builder.cached(state); doc != nil {
				return doc, nil
			}
			if state, err = m.db.GetCRL(ctx, identifier); err != nil {
				return nil, Internal(err)
			}
			if m.servable(state) && state.DER != nil {
				doc := crlDoc(state)
				builder.remember(doc)
				return doc, nil
			}
			// Dirty since, or stored but no longer readable as signed.
		}
		// A clean CRL gets here only when it is old by date or cannot be
		// read back: it needs a build whatever the counter says.
		b := builder.join(state.Generation, !state.Dirty, func(b *crlBuild) {
			// Detached: the build outlives a caller who hangs up, and is
			// bounded by its own deadline instead.
			bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), crlBuildTimeout)
			defer cancel()
			b.doc, b.gen, b.err = m.buildCRL(bctx, ca)
		})
		if b == nil {
			continue // a build that read what this fetch saw has saved its CRL: serve it
		}
		select {
		case <-b.done:
		case <-ctx.Done():
			return nil, Internal(ctx.Err())
		}
		if b.err != nil {
			return nil, AsError(b.err)
		}
		if b.gen >= state.Generation {
			return b.doc, nil
		}
		// That build read its entries before the revocation this fetch
		// saw; the next one reads after it.
	}
	return nil, Internal(fmt.Errorf("CRL of %s: no build caught up with its revocations in %d rounds", identifier, crlFetchRounds))
}

// crlFetchRounds bounds the builds one fetch waits for.
const crlFetchRounds = 4

// servable reports whether a stored CRL state may be served as it is:
// clean and not near its NextUpdate.
func (m *Manager) servable(st *store.CRL) bool {
	return !st.Dirty && m.now().Before(st.NextUpdate.Add(-crlRefreshMargin))
}

// buildCRL builds, signs and saves the next CRL of a CA. It is an audited
// operation of its own (the token signs with the CA's key), whichever
// fetch started it, since the fetches that share it may all be gone.
func (m *Manager) buildCRL(ctx context.Context, ca *store.CACertificate) (doc *CRLDocument, gen int64, err error) {
	ctx, finish := m.detachedAudit(ctx, ca.AccountID, "internal:BuildCRL", m.caArn(Caller{AccountID: ca.AccountID}, ca.Identifier))
	defer func() { finish(err) }()
	// One builder per CA across every node: in-process builds are already
	// shared (crlBuilders); this lock orders the nodes.
	unlock, err := m.db.LockCRLBuild(ctx, ca.Identifier)
	if err != nil {
		return nil, 0, Internal(err)
	}
	defer unlock()
	// Another node may have built while this one waited for the lock.
	if st, err := m.db.CRLState(ctx, ca.Identifier); err == nil && m.servable(st) {
		if st, err := m.db.GetCRL(ctx, ca.Identifier); err == nil && m.servable(st) && st.DER != nil {
			return crlDoc(st), st.Generation, nil
		}
	}
	issuer, err := parseCert(ca.Certificate)
	if err != nil {
		return nil, 0, Internal(err)
	}
	w, err := newCRLWriter(issuer)
	if err != nil {
		return nil, 0, Internal(err)
	}
	in, err := m.db.ReadCRLBuild(ctx, ca.Identifier, w.entriesBuffer)
	if err != nil {
		return nil, 0, Internal(err)
	}
	now := m.now().Truncate(time.Second)
	next := &store.CRL{Number: in.LastNumber + 1, ThisUpdate: now, NextUpdate: now.AddDate(0, 0, ca.CRLDay)}
	signer, err := m.signer(ctx, ca.KeyID)
	if err != nil {
		return nil, 0, Internal(err)
	}
	if next.DER, next.EntriesAt, err = w.write(signer, in.Entries, next); err != nil {
		return nil, 0, Internal(err)
	}
	if err := m.db.SaveCRL(ctx, ca.Identifier, next, in); err != nil {
		return nil, 0, Internal(err)
	}
	return crlDoc(next), in.Generation, nil
}

var (
	oidSM2WithSM3     = asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 501}
	oidCRLNumber      = asn1.ObjectIdentifier{2, 5, 29, 20}
	oidAuthorityKeyID = asn1.ObjectIdentifier{2, 5, 29, 35}
)

// CrlAddress is GetCaInstanceCrlAddress's output.
type CrlAddress struct {
	CaInstanceStatus string `json:"CaInstanceStatus"`
	CrlURL           string `json:"CrlUrl"`
	HashCode         string `json:"HashCode"`       // SHA-256 of the current CRL (DER)
	NextUpdateTime   string `json:"NextUpdateTime"` // Unix milliseconds
}

// GetCaInstanceCrlAddress tells where one of the caller's CAs publishes its
// CRL, with the current CRL's hash and next update.
func (m *Manager) GetCaInstanceCrlAddress(ctx context.Context, c Caller, id string) (*CrlAddress, error) {
	if id == "" {
		return nil, MissingParameter("CaIdentifier")
	}
	ca, err := m.getCA(ctx, c, id)
	if err != nil {
		return nil, err
	}
	doc, err := m.CRL(ctx, id)
	if err != nil {
		return nil, err
	}
	status := "normal"
	if ca.Status == caStatusRevoke {
		status = "revoked"
	}
	sum := sha256.Sum256(doc.DER)
	return &CrlAddress{CaInstanceStatus: status, CrlURL: m.crlURL(id), HashCode: hex.EncodeToString(sum[:]),
		NextUpdateTime: strconv.FormatInt(doc.NextUpdate.UnixMilli(), 10)}, nil
}
