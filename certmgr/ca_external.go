package certmgr

import (
	"context"
	"crypto/x509"
	"strings"
	"time"

	"github.com/certcustody/certcustody/certmgr/store"
	"github.com/certcustody/certcustody/csrgen"
)

// External subordinate CAs: one of the caller's roots signs a subordinate
// CA certificate for a CSR whose key lives elsewhere (an offline HSM,
// another organisation's CA). The row is a CA of issuer type "external":
// it is listed, described, revocable (UpdateCACertificateStatus) and, once
// revoked, on its root's CRL, but it holds no token key, so nothing can be
// issued or signed through it here: every issuance from it is refused
// with InvalidParameter.ParentIdentifier, and it publishes no CRL of ours.

// externalKeyPrefix marks the key_id of an external CA row: the column is
// NOT NULL and unique, and token key IDs never contain a colon.
const externalKeyPrefix = "external:"

// ExternalCARequest is CreateExternalCACertificate's input. InstanceId is,
// in the cloud, the bought external-CA instance to activate; here there is
// nothing to buy, and it names the root CA that signs (its Identifier).
type ExternalCARequest struct {
	InstanceID        string        // InstanceId: the issuing root CA's Identifier
	Csr               string        // PEM PKCS#10 of the subordinate CA's key
	Validity          string        // "Ny", "Nm", "Nd", "<NotAfter>" or "<NotBefore>/<NotAfter>" (yyyy-MM-ddTHH:mm:ssZ)
	CertMaxTime       int           // days; when set, the validity may not be longer
	Subject           *SubjectNames // ApiPassthrough.Subject; nil: the CSR's subject
	ExtendedKeyUsages []string      // ApiPassthrough.Extensions.ExtendedKeyUsages
	PathLenConstraint *int          // ApiPassthrough.Extensions.PathLenConstraint; default 0
	Labels                          // Tags.N, ResourceGroupId
}

// Resources is the root CA that signs.
func (r ExternalCARequest) Resources() []string { return []string{r.InstanceID} }

// ExternalCAResult is CreateExternalCACertificate's result.
type ExternalCAResult struct {
	Identifier       string `json:"Identifier"`
	Certificate      string `json:"Certificate"`      // PEM
	CertificateChain string `json:"CertificateChain"` // PEM: the issuing root
}

// refuseExternalIssuer is the answer to any use of an external CA's key:
// there is none here.
func refuseExternalIssuer(ca *store.CACertificate) error {
	if ca.IssuerType == store.IssuerExternal {
		return RuleViolation("ParentIdentifier", "The CA %s is external: its key is held outside certcustody, so it cannot issue or sign here.", ca.Identifier)
	}
	return nil
}

// issuerTypeOf is DescribeCACertificate's IssuerType: local or external.
func issuerTypeOf(ca *store.CACertificate) string {
	if ca.IssuerType == store.IssuerExternal {
		return store.IssuerExternal
	}
	return store.IssuerLocal
}

// externalValidity reads Validity: what CreateCustomCertificate accepts,
// plus a lone NotAfter (from now).
func (r *ExternalCARequest) validity(now time.Time) (time.Time, time.Time, error) {
	if r.Validity != "" && !strings.Contains(r.Validity, "/") && !validityPattern.MatchString(r.Validity) {
		na, err := time.Parse(time.RFC3339, r.Validity)
		if err != nil {
			return time.Time{}, time.Time{}, InvalidParameter("Validity", `use "1y", "3m", "7d", "<NotAfter>" or "<NotBefore>/<NotAfter>" (yyyy-MM-ddTHH:mm:ssZ)`)
		}
		nb := now.Add(-time.Minute).Truncate(time.Second)
		if !na.After(nb) {
			return time.Time{}, time.Time{}, InvalidParameter("Validity", "NotAfter must be in the future")
		}
		return nb, na.UTC(), nil
	}
	cr := CustomRequest{Validity: r.Validity}
	return cr.validity(now)
}

// CreateExternalCACertificate has one of the caller's active roots sign a
// subordinate CA certificate for a CSR. The subject is the CSR's unless
// Subject overrides it; the key must be of the root's family (RSA of
// 2048, 3072 or 4096 bits, P-256/384/521, or SM2), and the certificate
// lies within the root's validity.
func (m *Manager) CreateExternalCACertificate(ctx context.Context, c Caller, r ExternalCARequest) (*ExternalCAResult, error) {
	if r.InstanceID == "" {
		return nil, MissingParameter("InstanceId")
	}
	if err := checkIdentifier("InstanceId", r.InstanceID); err != nil {
		return nil, err
	}
	if r.Csr == "" {
		return nil, MissingParameter("Csr")
	}
	csr, err := csrgen.ParseCSR([]byte(r.Csr))
	if err != nil {
		return nil, InvalidParameter("Csr", "%s", userMessage(err))
	}
	if _, err := r.Labels.validate(); err != nil {
		return nil, err
	}
	nb, na, err := r.validity(m.now())
	if err != nil {
		return nil, err
	}
	if r.CertMaxTime < 0 || r.CertMaxTime > 36500 {
		return nil, InvalidParameter("CertMaxTime", "a number of days, 1 to 36500")
	}
	if r.CertMaxTime > 0 && na.After(nb.AddDate(0, 0, r.CertMaxTime)) {
		return nil, RuleViolation("CertMaxTime", "The validity (%s to %s) is longer than CertMaxTime, %d days.", isoTime(nb), isoTime(na), r.CertMaxTime)
	}
	pathLen := 0
	if r.PathLenConstraint != nil {
		if *r.PathLenConstraint < 0 || *r.PathLenConstraint > 5 {
			return nil, InvalidParameter("ApiPassthrough.Extensions.PathLenConstraint", "must be 0 to 5")
		}
		pathLen = *r.PathLenConstraint
	}
	var ekus []x509.ExtKeyUsage
	for _, e := range r.ExtendedKeyUsages {
		u, ok := ekuByName[strings.ToLower(e)]
		if !ok {
			return nil, InvalidParameter("ApiPassthrough.Extensions.ExtendedKeyUsages", "unknown usage %q", e)
		}
		ekus = append(ekus, u)
	}
	fam, size := keyFamily(csr.PublicKey)
	switch {
	case fam == "":
		return nil, RuleViolation("KeyAlgorithm", "A CA key must be RSA, ECDSA on P-256/384/521, or SM2.")
	case fam == "RSA" && size != 2048 && size != 3072 && size != 4096:
		return nil, RuleViolation("KeySize", "An RSA CA key is 2048, 3072 or 4096 bits; this one is %d.", size)
	}
	tmpl := &x509.Certificate{
		NotBefore: nb, NotAfter: na, RawSubject: csr.RawSubject,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature, ExtKeyUsage: ekus,
		BasicConstraintsValid: true, IsCA: true, MaxPathLen: pathLen, MaxPathLenZero: pathLen == 0,
	}
	if r.Subject != nil {
		if r.Subject.CommonName == "" {
			return nil, MissingParameter("ApiPassthrough.Subject.CommonName")
		}
		if r.Subject.CountryCode != "" && len(r.Subject.CountryCode) != 2 {
			return nil, InvalidParameter("ApiPassthrough.Subject.Country", "must be a two-letter country code")
		}
		tmpl.RawSubject, tmpl.Subject = nil, subjectName(*r.Subject)
	}
	root, err := m.getCA(ctx, c, r.InstanceID)
	if err != nil {
		return nil, err
	}
	if err := refuseExternalIssuer(root); err != nil {
		return nil, err
	}
	if root.CertificateType != caTypeRoot {
		return nil, RuleViolation("InstanceId", "An external subordinate CA is signed by a root CA; %s is not one.", root.Identifier)
	}
	if root.Status != caStatusIssue {
		return nil, RuleViolation("ParentStatus", "The root CA %s is revoked.", root.Identifier)
	}
	if fam != root.Algorithm {
		return nil, RuleViolation("AlgorithmFamily", "A %s root cannot sign a %s CA.", root.Algorithm, fam)
	}
	if nb.Before(root.NotBefore) || na.After(root.NotAfter) {
		return nil, RuleViolation("Validity", "The CA must lie within its root's validity (%s to %s).", isoTime(root.NotBefore), isoTime(root.NotAfter))
	}
	rootCert, err := parseCert(root.Certificate)
	if err != nil {
		return nil, Internal(err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, Internal(err)
	}
	tmpl.SerialNumber, tmpl.AuthorityKeyId = serial, rootCert.SubjectKeyID
	if tmpl.SubjectKeyId, err = subjectKeyID(csr.PublicKey); err != nil {
		return nil, Internal(err)
	}
	if root.EnableCRL && m.public != "" {
		tmpl.CRLDistributionPoints = []string{m.crlURL(root.Identifier)}
	}
	signer, err := m.keys.Signer(ctx, root.KeyID)
	if err != nil {
		return nil, Internal(err)
	}
	issued, err := signCertificate(tmpl, rootCert, csr.PublicKey, signer)
	if err != nil {
		return nil, Internal(err)
	}
	id := newID()
	tags, _ := r.Labels.validate()
	row := &store.CACertificate{
		Identifier: id, AccountID: c.AccountID, ParentIdentifier: root.Identifier, CertificateType: caTypeSub,
		KeyID: externalKeyPrefix + id, Algorithm: fam, KeySize: size, Status: caStatusIssue, Certificate: issued.Raw,
		Serial: hexUpper(serial.Bytes()), SubjectDN: issued.Subject(), Years: wholeYears(nb, na), PathLen: pathLen,
		CRLDay: 30, NotBefore: nb, NotAfter: na, CreatedAt: m.now(), Tags: tags, ResourceGroupID: r.ResourceGroupID,
		IssuerType: store.IssuerExternal,
	}
	auditResource(ctx, m.caArn(c, id))
	if err := m.db.Tx(ctx, func(tx *store.Tx) error { return tx.InsertCACertificate(ctx, row) }); err != nil {
		return nil, Internal(err)
	}
	return &ExternalCAResult{Identifier: id, Certificate: certPEM(issued.Raw), CertificateChain: certPEM(root.Certificate)}, nil
}
