package certmgr

import (
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net"
	"time"

	"github.com/certcustody/certcustody/certmgr/store"
	"github.com/certcustody/certcustody/csrgen"
	"github.com/certcustody/certcustody/keystore"
)

// The server's own TLS identity. Its key is a token service key
// (keystore.TLSKeyID); its certificate can come from an outside CA (a CSR
// the key signs) or from one of our own subordinate CAs, through the same
// issuance path and rules as every server certificate, so it is listed,
// revocable and on the CA's CRL like any other.

// EnsureTLSKey returns the public half of the server's TLS key, creating
// the key in the token with alg when it does not exist yet (recorded as
// admin:CreateTLSKey). created says whether this call made it.
func (m *Manager) EnsureTLSKey(ctx context.Context, alg keystore.Algorithm) (pub crypto.PublicKey, created bool, err error) {
	if s, err := m.keys.Signer(ctx, keystore.TLSKeyID); err == nil {
		return s.Public(), false, nil
	} else if !errors.Is(err, keystore.ErrNotFound) {
		return nil, false, err
	}
	ctx, finish := m.internalAudit(ctx, "", "admin:CreateTLSKey", "token/"+keystore.TLSKeyID)
	k, err := m.keys.Generate(ctx, keystore.GenerateRequest{ID: keystore.TLSKeyID, Algorithm: alg, Purpose: keystore.PurposeTLS})
	finish(err)
	if err != nil {
		return nil, false, err
	}
	return k.Public, true, nil
}

// TLSCertificateRequest asks for the server's own TLS certificate.
type TLSCertificateRequest struct {
	CAIdentifier string           // a subordinate CA of ours, of any account
	Public       crypto.PublicKey // the TLS key's public half
	Names        []string         // DNS names and IP addresses; the first is also the CN
	Validity     time.Duration    // capped at the CA's own end of validity
}

// IssueTLSCertificate issues the server's TLS certificate from one of our
// subordinate CAs, recorded in the CA's account as a SERVER certificate
// (admin:IssueTLSCertificate in the audit log). It is run by the operator
// beside the database, so it names the CA by Identifier alone.
func (m *Manager) IssueTLSCertificate(ctx context.Context, r TLSCertificateRequest) (*IssuedResult, error) {
	if len(r.Names) == 0 {
		return nil, MissingParameter("Names")
	}
	ca, err := m.db.CAByIdentifier(ctx, r.CAIdentifier)
	if errors.Is(err, store.ErrNotFound) {
		return nil, caNotFound(r.CAIdentifier)
	}
	if err != nil {
		return nil, Internal(err)
	}
	c := Caller{AccountID: ca.AccountID, Region: m.region}
	id := newID()
	ctx, finish := m.internalAudit(ctx, ca.AccountID, "admin:IssueTLSCertificate", m.caArn(c, id))
	res, err := m.issueTLS(ctx, c, ca, r, id)
	finish(err)
	return res, err
}

func (m *Manager) issueTLS(ctx context.Context, c Caller, ca *store.CACertificate, r TLSCertificateRequest, id string) (*IssuedResult, error) {
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: r.Names[0]}, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, n := range r.Names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			continue
		}
		if err := csrgen.ValidateDNSName(n); err != nil {
			return nil, InvalidParameter("Names", "%q: %s", n, userMessage(err))
		}
		tmpl.DNSNames = append(tmpl.DNSNames, n)
	}
	validity := r.Validity
	if validity <= 0 {
		validity = 90 * 24 * time.Hour
	}
	tmpl.NotBefore = m.now().Add(-time.Minute).Truncate(time.Second)
	tmpl.NotAfter = tmpl.NotBefore.Add(validity)
	if tmpl.NotAfter.After(ca.NotAfter) {
		tmpl.NotAfter = ca.NotAfter
	}
	iss, err := m.issuerOf(ctx, c, ca.Identifier)
	if err != nil {
		return nil, err
	}
	return m.issue(ctx, c, iss, tmpl, r.Public, "SERVER", id, nil, Labels{})
}
