package certmgr

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"strings"

	"github.com/certcustody/certcustody/certmgr/store"
	"github.com/certcustody/certcustody/keystore"
)

// leafAlgorithms are the end-entity key algorithms; any key length of the
// issuing CA's family is allowed.
var leafAlgorithms = map[string]keystore.Algorithm{
	"RSA_1024": keystore.RSA1024, "RSA_2048": keystore.RSA2048, "RSA_4096": keystore.RSA4096,
	"ECC_256": keystore.ECP256, "ECC_384": keystore.ECP384, "ECC_512": keystore.ECP521,
	"SM2_256": keystore.SM2,
}

// GenerateRequest is CreateServerCertificate's and CreateClientCertificate's
// input: the service generates the key.
type GenerateRequest struct {
	IssueRequest
	Algorithm        string
	CommonName       string
	Organization     string
	OrganizationUnit string
	Locality         string
	State            string
	Country          string
	Immediately      int // 0: Identifier only; 1: with Certificate (default); 2: with CertificateChain too
}

// CreateServerCertificate issues a server certificate for a key the
// service generates; the key is kept wrapped for DescribeCertificatePrivateKey.
func (m *Manager) CreateServerCertificate(ctx context.Context, c Caller, r GenerateRequest) (*IssuedResult, error) {
	return m.issueGenerated(ctx, c, r, "SERVER")
}

// CreateClientCertificate issues a client certificate for a key the
// service generates.
func (m *Manager) CreateClientCertificate(ctx context.Context, c Caller, r GenerateRequest) (*IssuedResult, error) {
	return m.issueGenerated(ctx, c, r, "CLIENT")
}

func ownerAAD(c Caller, id string) keystore.AAD {
	return keystore.AAD{Purpose: "leaf-key", Account: c.AccountID, KeyID: id}
}

func (m *Manager) issueGenerated(ctx context.Context, c Caller, r GenerateRequest, certType string) (*IssuedResult, error) {
	if r.ParentIdentifier == "" {
		return nil, MissingParameter("ParentIdentifier")
	}
	if r.CommonName == "" {
		return nil, MissingParameter("CommonName")
	}
	if r.Algorithm == "" {
		return nil, MissingParameter("Algorithm")
	}
	alg, ok := leafAlgorithms[strings.ToUpper(r.Algorithm)]
	if !ok {
		return nil, InvalidParameter("Algorithm", "must be RSA_1024, RSA_2048, RSA_4096, ECC_256, ECC_384, ECC_512 or SM2_256")
	}
	if r.Immediately < 0 || r.Immediately > 2 {
		return nil, InvalidParameter("Immediately", "must be 0, 1 or 2")
	}
	if r.Country != "" && len(r.Country) != 2 {
		return nil, InvalidParameter("Country", "must be a two-letter country code")
	}
	nb, na, err := r.validity(m.now())
	if err != nil {
		return nil, err
	}
	iss, err := m.issuerOf(ctx, c, r.ParentIdentifier)
	if err != nil {
		return nil, err
	}
	parent := iss.row
	names, err := inheritSubject(SubjectNames{CommonName: r.CommonName, Organization: r.Organization, OrganizationUnit: r.OrganizationUnit,
		Locality: r.Locality, State: r.State, CountryCode: r.Country}, parent)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{NotBefore: nb, NotAfter: na, Subject: subjectName(names), BasicConstraintsValid: true}
	if err := r.usage(tmpl, certType); err != nil {
		return nil, err
	}
	if familyOf(alg) != parent.Algorithm {
		return nil, RuleViolation("AlgorithmFamily", "A %s CA issues only %s keys; %s was asked for.", parent.Algorithm, parent.Algorithm, r.Algorithm)
	}
	id := newID()
	key, err := m.keys.GenerateWrapped(ctx, alg, ownerAAD(c, id))
	if err != nil {
		return nil, Internal(err)
	}
	res, err := m.issue(ctx, c, iss, tmpl, key.Public, certType, id, key, r.Labels)
	if err != nil {
		return nil, err
	}
	return res.Immediately(r.Immediately), nil
}

// DescribeCertificatePrivateKey returns the private key of a certificate
// whose key the service generated, as PKCS#8 encrypted under EncryptedCode
// (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC).
func (m *Manager) DescribeCertificatePrivateKey(ctx context.Context, c Caller, id, password string) (string, error) {
	if password == "" {
		return "", MissingParameter("EncryptedCode")
	}
	if len(password) < 8 || len(password) > 256 {
		return "", InvalidParameter("EncryptedCode", "must be 8 to 256 characters")
	}
	row, err := m.getIssued(ctx, c, id)
	if err != nil {
		return "", err
	}
	if row.KeyBlob == nil {
		return "", Forbidden("Forbidden.KeyNotExportable", "The certificate %q was issued for a CSR; its key never reached certcustody.", id)
	}
	w := &keystore.WrappedKey{Algorithm: keystore.Algorithm(row.KeyAlgorithm), Blob: row.KeyBlob}
	leaf, err := parseCert(row.Certificate)
	if err != nil {
		return "", Internal(err)
	}
	w.Public = leaf.Public
	der, err := m.keys.ExportWrapped(ctx, w, ownerAAD(c, id))
	if err != nil {
		return "", Internal(err)
	}
	defer clear(der)
	// AES key wrap carries no AAD: a blob moved to another row is caught
	// here, because its key would not match this certificate.
	if pub, err := pkcs8Public(der); err != nil || !publicKeysEqual(pub, leaf.Public) {
		return "", Internal(errKeyMismatch)
	}
	return encryptPKCS8(der, password)
}

// inheritSubject fills the subject fields a request left out from the
// issuing CA's subject, as the cloud documents for these actions: a
// certificate from an organisation's CA carries its O, OU, C, ST and L
// unless the caller names others. The common name is always the caller's.
func inheritSubject(n SubjectNames, issuer *store.CACertificate) (SubjectNames, error) {
	parsed, err := parseCert(issuer.Certificate)
	if err != nil {
		return n, Internal(err)
	}
	ca := subjectFields(parsed)
	for _, f := range []struct {
		dst *string
		v   string
	}{{&n.Organization, ca.Organization}, {&n.OrganizationUnit, ca.OrganizationUnit},
		{&n.Locality, ca.Locality}, {&n.State, ca.State}, {&n.CountryCode, ca.CountryCode}} {
		if *f.dst == "" {
			*f.dst = f.v
		}
	}
	return n, nil
}

// subjectName builds an end-entity subject from the fields given.
func subjectName(n SubjectNames) pkix.Name {
	name := pkix.Name{CommonName: n.CommonName}
	for _, f := range []struct {
		v   string
		dst *[]string
	}{{n.Organization, &name.Organization}, {n.OrganizationUnit, &name.OrganizationalUnit}, {n.Locality, &name.Locality},
		{n.State, &name.Province}, {strings.ToUpper(n.CountryCode), &name.Country}} {
		if f.v != "" {
			*f.dst = []string{f.v}
		}
	}
	return name
}
