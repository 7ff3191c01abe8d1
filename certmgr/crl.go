package certmgr

import (
	"context"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/certcustody/certcustody/certmgr/store"
)

// CRLs: a revocation only marks its CA's CRL dirty (O(1)); the CRL is
// rebuilt by one builder per CA when it is fetched dirty or close to its
// NextUpdate. A fetch of a dirty CRL waits for the build in flight, so a
// revocation is visible on the next fetch, and revocations that arrive
// during a build mark it dirty again and are picked up by the next one.

// crlLocks serialises builds per CA.
type crlLocks struct{ m sync.Map }

func (l *crlLocks) lock(ca string) func() {
	mu, _ := l.m.LoadOrStore(ca, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	return mu.(*sync.Mutex).Unlock
}

// crlRefreshMargin rebuilds a clean CRL this long before its NextUpdate.
const crlRefreshMargin = time.Hour

// CRLDocument is a CA's current CRL.
type CRLDocument struct {
	DER        []byte
	Number     int64
	ThisUpdate time.Time
	NextUpdate time.Time
}

// CRL returns a CA's current CRL (DER), rebuilding it when revocations
// have arrived or NextUpdate is near. The CRL endpoint is public, so any
// CA's CRL can be fetched by its Identifier.
func (m *Manager) CRL(ctx context.Context, identifier string) (doc *CRLDocument, err error) {
	ca, err := m.db.CAByIdentifier(ctx, identifier)
	if errors.Is(err, store.ErrNotFound) {
		return nil, caNotFound(identifier)
	}
	if err != nil {
		return nil, Internal(err)
	}
	unlock := m.crls.lock(identifier)
	defer unlock()
	state, err := m.db.GetCRL(ctx, identifier)
	if err != nil {
		return nil, Internal(err)
	}
	now := m.now()
	if !state.Dirty && state.DER != nil && now.Before(state.NextUpdate.Add(-crlRefreshMargin)) {
		return &CRLDocument{DER: state.DER, Number: state.Number, ThisUpdate: state.ThisUpdate, NextUpdate: state.NextUpdate}, nil
	}
	// A build signs with the CA's key, so it is audited: as part of the
	// call that asked for it, or on its own for the public endpoint.
	ctx, finish := m.internalAudit(ctx, ca.AccountID, "internal:BuildCRL", m.caArn(Caller{AccountID: ca.AccountID}, ca.Identifier))
	defer func() { finish(err) }()
	entries, last, err := m.db.ClaimCRLBuild(ctx, identifier)
	if err != nil {
		return nil, Internal(err)
	}
	next := &store.CRL{Number: last + 1, ThisUpdate: now.Truncate(time.Second), NextUpdate: now.Truncate(time.Second).AddDate(0, 0, ca.CRLDay)}
	if next.DER, err = m.signCRL(ctx, ca, entries, next); err != nil {
		return nil, Internal(err)
	}
	if err := m.db.SaveCRL(ctx, identifier, next); err != nil {
		return nil, Internal(err)
	}
	return &CRLDocument{DER: next.DER, Number: next.Number, ThisUpdate: next.ThisUpdate, NextUpdate: next.NextUpdate}, nil
}

func (m *Manager) signCRL(ctx context.Context, ca *store.CACertificate, entries []store.Revoked, c *store.CRL) ([]byte, error) {
	issuer, err := parseCert(ca.Certificate)
	if err != nil {
		return nil, err
	}
	signer, err := m.signer(ctx, ca.KeyID)
	if err != nil {
		return nil, err
	}
	return encodeCRL(issuer, signer, entries, c)
}

var (
	oidSM2WithSM3     = asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 501}
	oidCRLNumber      = asn1.ObjectIdentifier{2, 5, 29, 20}
	oidAuthorityKeyID = asn1.ObjectIdentifier{2, 5, 29, 35}
	oidCRLReasonCode  = asn1.ObjectIdentifier{2, 5, 29, 21}
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
