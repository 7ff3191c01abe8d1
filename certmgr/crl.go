package certmgr

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/certcustody/certcustody/certmgr/store"
	"github.com/tjfoc/gmsm/sm2"
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
	unlock := m.crls.lock(identifier)
	defer unlock()
	state, err := m.db.GetCRL(ctx, identifier)
	if err != nil {
		return nil, Internal(err)
	}
	now := m.now()
	if !state.Dirty && state.DER != nil && now.Before(state.NextUpdate.Add(-crlRefreshMargin)) {
		return &CRLDocument{DER: state.DER, Number: state.Number, ThisUpdate: state.ThisUpdate}, nil
	}
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
	return &CRLDocument{DER: next.DER, Number: next.Number, ThisUpdate: next.ThisUpdate}, nil
}

func (m *Manager) signCRL(ctx context.Context, ca *store.CACertificate, entries []store.Revoked, c *store.CRL) ([]byte, error) {
	issuer, err := parseCert(ca.Certificate)
	if err != nil {
		return nil, err
	}
	signer, err := m.keys.Signer(ctx, ca.KeyID)
	if err != nil {
		return nil, err
	}
	revoked := make([]x509.RevocationListEntry, 0, len(entries))
	for _, e := range entries {
		serial, ok := new(big.Int).SetString(e.Serial, 16)
		if !ok {
			return nil, fmt.Errorf("bad stored serial %q", e.Serial)
		}
		revoked = append(revoked, x509.RevocationListEntry{SerialNumber: serial, RevocationTime: e.RevokedAt, ReasonCode: e.Reason})
	}
	if issuer.std != nil {
		return x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
			Number: big.NewInt(c.Number), ThisUpdate: c.ThisUpdate, NextUpdate: c.NextUpdate, RevokedCertificateEntries: revoked,
		}, issuer.std, signer)
	}
	return sm2CRL(issuer, signer, revoked, c)
}

var (
	oidSM2WithSM3      = asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 501}
	oidCRLNumber       = asn1.ObjectIdentifier{2, 5, 29, 20}
	oidAuthorityKeyID  = asn1.ObjectIdentifier{2, 5, 29, 35}
	oidCRLReasonCode   = asn1.ObjectIdentifier{2, 5, 29, 21}
	errSM2CRLSignature = errors.New("SM2 CRL signature does not verify")
)

// tbsCertList mirrors RFC 5280's TBSCertList with the issuer kept as raw
// DER, so the CRL's issuer is byte-identical to the CA's subject.
type tbsCertList struct {
	Version             int
	Signature           pkix.AlgorithmIdentifier
	Issuer              asn1.RawValue
	ThisUpdate          time.Time
	NextUpdate          time.Time                 `asn1:"optional"`
	RevokedCertificates []pkix.RevokedCertificate `asn1:"optional"`
	Extensions          []pkix.Extension          `asn1:"tag:0,optional,explicit"`
}

// sm2CRL builds and signs a v2 CRL with SM2/SM3: Go's x509 cannot, and
// gmsm's CreateCRL writes no CRL number. The signer signs the raw TBS
// (Z and SM3 are part of the SM2 scheme).
func sm2CRL(issuer *cert, signer crypto.Signer, revoked []x509.RevocationListEntry, c *store.CRL) ([]byte, error) {
	alg := pkix.AlgorithmIdentifier{Algorithm: oidSM2WithSM3}
	number, err := asn1.Marshal(big.NewInt(c.Number))
	if err != nil {
		return nil, err
	}
	aki, err := asn1.Marshal(struct {
		ID []byte `asn1:"optional,tag:0"`
	}{issuer.SubjectKeyID})
	if err != nil {
		return nil, err
	}
	tbs := tbsCertList{
		Version: 1, Signature: alg, Issuer: asn1.RawValue{FullBytes: issuer.RawSubject},
		ThisUpdate: c.ThisUpdate.UTC(), NextUpdate: c.NextUpdate.UTC(),
		Extensions: []pkix.Extension{{Id: oidAuthorityKeyID, Value: aki}, {Id: oidCRLNumber, Value: number}},
	}
	for _, r := range revoked {
		rc := pkix.RevokedCertificate{SerialNumber: r.SerialNumber, RevocationTime: r.RevocationTime.UTC()}
		if r.ReasonCode != 0 {
			v, err := asn1.Marshal(asn1.Enumerated(r.ReasonCode))
			if err != nil {
				return nil, err
			}
			rc.Extensions = []pkix.Extension{{Id: oidCRLReasonCode, Value: v}}
		}
		tbs.RevokedCertificates = append(tbs.RevokedCertificates, rc)
	}
	tbsDER, err := asn1.Marshal(tbs)
	if err != nil {
		return nil, err
	}
	sig, err := signer.Sign(rand.Reader, tbsDER, nil)
	if err != nil {
		return nil, err
	}
	pub, ok := issuer.Public.(*sm2.PublicKey)
	if !ok || !pub.Verify(tbsDER, sig) {
		return nil, errSM2CRLSignature
	}
	return asn1.Marshal(struct {
		TBS       asn1.RawValue
		Algorithm pkix.AlgorithmIdentifier
		Signature asn1.BitString
	}{asn1.RawValue{FullBytes: tbsDER}, alg, asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}})
}
