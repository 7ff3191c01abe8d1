package certmgr

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"math/big"
	"net"
	"net/url"
	"time"

	"github.com/certcustody/certcustody/certmgr/store"
	"github.com/certcustody/certcustody/csrgen"
	"github.com/certcustody/certcustody/keystore"
)

// IssueRequest is the input of CreateServerCertificateWithCsr and
// CreateClientCertificateWithCsr.
type IssueRequest struct {
	ParentIdentifier string
	Csr              string // PEM; its subject and key are used
	Years            int
	Months           int
	Days             int
	BeforeTime       int64 // Unix seconds; with AfterTime
	AfterTime        int64
	Domain           string // server: comma-separated DNS names and IPs
	SanType          int    // client: 1 email, 2 DNS, 6 URI, 7 IP
	SanValue         string
	Labels
}

// validity computes NotBefore/NotAfter from Years/Months/Days or from
// BeforeTime and AfterTime, which come as a pair.
func (r *IssueRequest) validity(now time.Time) (time.Time, time.Time, error) {
	if (r.BeforeTime == 0) != (r.AfterTime == 0) {
		return time.Time{}, time.Time{}, InvalidParameter("BeforeTime", "BeforeTime and AfterTime must be given together")
	}
	if r.BeforeTime != 0 {
		nb, na := time.Unix(r.BeforeTime, 0).UTC(), time.Unix(r.AfterTime, 0).UTC()
		if !na.After(nb) {
			return time.Time{}, time.Time{}, InvalidParameter("AfterTime", "must be later than BeforeTime")
		}
		return nb, na, nil
	}
	if r.Years < 0 || r.Months < 0 || r.Days < 0 || r.Years > 30 || r.Months > 360 || r.Days > 10950 {
		return time.Time{}, time.Time{}, InvalidParameter("Years", "Years, Months and Days must be small non-negative numbers")
	}
	if r.Years == 0 && r.Months == 0 && r.Days == 0 {
		return time.Time{}, time.Time{}, MissingParameter("Years")
	}
	nb := now.Add(-time.Minute).Truncate(time.Second)
	return nb, nb.AddDate(r.Years, r.Months, r.Days), nil
}

// CreateServerCertificateWithCsr issues a server certificate for a CSR.
func (m *Manager) CreateServerCertificateWithCsr(ctx context.Context, c Caller, r IssueRequest) (*IssuedResult, error) {
	return m.issueWithCSR(ctx, c, r, "SERVER")
}

// CreateClientCertificateWithCsr issues a client certificate for a CSR.
func (m *Manager) CreateClientCertificateWithCsr(ctx context.Context, c Caller, r IssueRequest) (*IssuedResult, error) {
	return m.issueWithCSR(ctx, c, r, "CLIENT")
}

func (m *Manager) issueWithCSR(ctx context.Context, c Caller, r IssueRequest, certType string) (*IssuedResult, error) {
	csr, err := requestCSR(r.ParentIdentifier, r.Csr)
	if err != nil {
		return nil, err
	}
	nb, na, err := r.validity(m.now())
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{NotBefore: nb, NotAfter: na, RawSubject: csr.RawSubject, BasicConstraintsValid: true}
	if err := r.usage(tmpl, certType); err != nil {
		return nil, err
	}
	iss, err := m.issuerOf(ctx, c, r.ParentIdentifier)
	if err != nil {
		return nil, err
	}
	return m.issue(ctx, c, iss, tmpl, csr.PublicKey, certType, newID(), nil, r.Labels)
}

// usage sets what a SERVER or CLIENT certificate is for and its SANs: a
// server certificate's Domain (DNS names and IPs), a client certificate's one
// typed SAN.
func (r *IssueRequest) usage(tmpl *x509.Certificate, certType string) error {
	if certType != "SERVER" {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		return clientSAN(tmpl, r.SanType, r.SanValue)
	}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	if r.Domain == "" {
		return nil
	}
	var err error
	if tmpl.DNSNames, tmpl.IPAddresses, err = csrgen.ParseDomainList(r.Domain); err != nil {
		return InvalidParameter("Domain", "%s", userMessage(err))
	}
	return nil
}

// clientSAN adds the one typed SAN a client certificate request carries.
func clientSAN(tmpl *x509.Certificate, sanType int, value string) error {
	if sanType == 0 && value == "" {
		return nil
	}
	if value == "" {
		return MissingParameter("SanValue")
	}
	switch sanType {
	case 1:
		if err := csrgen.ValidateEmail(value); err != nil {
			return InvalidParameter("SanValue", "%s", userMessage(err))
		}
		tmpl.EmailAddresses = []string{value}
	case 2:
		if err := csrgen.ValidateDNSName(value); err != nil {
			return InvalidParameter("SanValue", "%s", userMessage(err))
		}
		tmpl.DNSNames = []string{value}
	case 6:
		if err := csrgen.ValidateURI(value); err != nil {
			return InvalidParameter("SanValue", "%s", userMessage(err))
		}
		u, _ := url.Parse(value)
		tmpl.URIs = []*url.URL{u}
	case 7:
		ip := net.ParseIP(value)
		if ip == nil {
			return InvalidParameter("SanValue", "not an IP address")
		}
		tmpl.IPAddresses = []net.IP{ip}
	default:
		return InvalidParameter("SanType", "must be 1 (email), 2 (DNS), 6 (URI) or 7 (IP)")
	}
	return nil
}

// issue applies the issuance rules every end-entity certificate obeys and
// signs with the issuing CA's token key.
func (m *Manager) issue(ctx context.Context, c Caller, parent *issuer, tmpl *x509.Certificate, pub crypto.PublicKey, certType, id string, key *keystore.WrappedKey, labels Labels) (*IssuedResult, error) {
	return m.issueWith(ctx, c, parent, tmpl, pub, certType, id, key, labels, nil, false)
}

// issueWith is issue with a caller-chosen serial (nil: random) and, when
// keepKeyUsage, the template's key usage instead of the default per type.
func (m *Manager) issueWith(ctx context.Context, c Caller, iss *issuer, tmpl *x509.Certificate, pub crypto.PublicKey, certType, id string, key *keystore.WrappedKey, labels Labels, serial *big.Int, keepKeyUsage bool) (*IssuedResult, error) {
	parent := iss.row
	tags, err := labels.validate()
	if err != nil {
		return nil, err
	}
	if err := refuseExternalIssuer(parent); err != nil {
		return nil, err
	}
	if parent.CertificateType != caTypeSub {
		return nil, RuleViolation("ParentIdentifier", "Only a subordinate CA issues server and client certificates; %s is a root CA.", parent.Identifier)
	}
	if err := iss.checkLive(ctx, m.db); err != nil {
		return nil, err
	}
	fam, size := keyFamily(pub)
	if fam != parent.Algorithm {
		return nil, RuleViolation("AlgorithmFamily", "A %s CA issues only %s keys; this key is %s.", parent.Algorithm, parent.Algorithm, fam)
	}
	if tmpl.NotBefore.Before(parent.NotBefore) || tmpl.NotAfter.After(parent.NotAfter) {
		return nil, RuleViolation("Validity", "The certificate must lie within its issuer's validity (%s to %s).", isoTime(parent.NotBefore), isoTime(parent.NotAfter))
	}
	parentCert := iss.cert
	if serial == nil {
		if serial, err = newSerial(); err != nil {
			return nil, Internal(err)
		}
	}
	tmpl.SerialNumber, tmpl.AuthorityKeyId = serial, parentCert.SubjectKeyID
	if tmpl.SubjectKeyId, err = subjectKeyID(pub); err != nil {
		return nil, Internal(err)
	}
	if parent.EnableCRL && m.public != "" {
		tmpl.CRLDistributionPoints = []string{m.crlURL(parent.Identifier)}
	}
	if !keepKeyUsage {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		// keyEncipherment only for RSA server keys (TLS RSA key transport);
		// with clientAuth alone it is inconsistent (zlint).
		if fam == "RSA" && certType == "SERVER" {
			tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
		}
	}
	if fam == "SM2" && len(tmpl.URIs) > 0 {
		return nil, RuleViolation("SanType", "URI names are not supported in SM2 certificates.")
	}
	signer, err := m.signer(ctx, parent.KeyID)
	if err != nil {
		return nil, Internal(err)
	}
	issued, err := signCertificate(tmpl, parentCert, pub, signer)
	if err != nil {
		return nil, Internal(err)
	}
	row := &store.IssuedCertificate{
		Identifier: id, AccountID: c.AccountID, IssuerIdentifier: parent.Identifier, Serial: hexUpper(serial.Bytes()),
		CertificateType: certType, Status: caStatusIssue, Certificate: issued.Raw, SubjectDN: issued.Subject(),
		Algorithm: fam, KeySize: size, NotBefore: tmpl.NotBefore, NotAfter: tmpl.NotAfter, CreatedAt: m.now(),
		Tags: tags, ResourceGroupID: labels.ResourceGroupID, AliasName: labels.AliasName, CustomIdentifier: labels.CustomIdentifier,
	}
	if key != nil {
		row.KeyAlgorithm, row.KeyBlob = string(key.Algorithm), key.Blob
	}
	auditResource(ctx, m.caArn(c, id))
	// Group commit: concurrent issuances share one fsync'd commit.
	err = m.db.Group(ctx, func(tx *store.Tx) error {
		// Again in the row's transaction: a revocation that committed
		// after the check above must stop this issuance too.
		if err := iss.checkLive(ctx, tx); err != nil {
			return err
		}
		return tx.InsertIssuedCertificate(ctx, row)
	})
	if e := issueStoreError(err, labels.CustomIdentifier); e != nil {
		return nil, e
	}
	var refused *Error
	switch {
	case errors.As(err, &refused):
		return nil, refused
	case errors.Is(err, store.ErrConflict):
		return nil, RuleViolation("SerialNumber", "The serial number is already used by this CA.")
	case err != nil:
		return nil, Internal(err)
	}
	return &IssuedResult{Identifier: id, Certificate: certPEM(issued.Raw), CertificateChain: iss.chainPEM, SerialNumber: serialOut(row.Serial)}, nil
}

// requestCSR checks the parent and CSR parameters every CSR action takes and
// parses (and verifies) the CSR.
func requestCSR(parent, csrPEM string) (*csrgen.CSR, error) {
	if parent == "" {
		return nil, MissingParameter("ParentIdentifier")
	}
	if csrPEM == "" {
		return nil, MissingParameter("Csr")
	}
	csr, err := csrgen.ParseCSR([]byte(csrPEM))
	if err != nil {
		return nil, InvalidParameter("Csr", "%s", userMessage(err))
	}
	return csr, nil
}

// Immediately trims a result as the Immediately parameter asks: 0 returns
// the Identifier only, 1 adds the Certificate, 2 the CertificateChain too.
func (r *IssuedResult) Immediately(n int) *IssuedResult {
	switch n {
	case 0:
		r.Certificate, r.CertificateChain = "", ""
	case 1:
		r.CertificateChain = ""
	}
	return r
}
