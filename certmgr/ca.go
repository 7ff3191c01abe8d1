package certmgr

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/certcustody/certcustody/certmgr/store"
	"github.com/certcustody/certcustody/csrgen"
	"github.com/certcustody/certcustody/keystore"
)

// Private CA statuses and types, as the cloud API spells them.
const (
	caStatusIssue  = "ISSUE"
	caStatusRevoke = "REVOKE"
	caTypeRoot     = "ROOT"
	caTypeSub      = "SUB_ROOT"
)

// caAlgorithms maps the API's Algorithm names to token algorithms; RSA_1024
// is for end-entity keys only.
var caAlgorithms = map[string]keystore.Algorithm{
	"RSA_2048": keystore.RSA2048, "RSA_4096": keystore.RSA4096,
	"ECC_256": keystore.ECP256, "ECC_384": keystore.ECP384, "ECC_512": keystore.ECP521,
	"SM2_256": keystore.SM2,
}

// CreateCARequest is CreateRootCACertificate's and CreateSubCACertificate's
// input.
type CreateCARequest struct {
	ParentIdentifier  string // sub CA only
	CommonName        string
	Organization      string
	OrganizationUnit  string
	Locality          string
	State             string
	CountryCode       string
	Algorithm         string
	Years             int
	PathLenConstraint *int // sub CA only; default 0
	ExtendedKeyUsages []string
	EnableCrl         bool
	CrlDay            int
	Labels
}

// IssuedResult is what every creating action returns.
type IssuedResult struct {
	Identifier       string `json:"Identifier"`
	Certificate      string `json:"Certificate"`
	CertificateChain string `json:"CertificateChain"`
	// SerialNumber (lower-case hex) is part of the end-entity answers'
	// SDK shape only; a CA creation leaves it empty.
	SerialNumber string `json:"SerialNumber,omitempty"`
}

var ekuByName = map[string]x509.ExtKeyUsage{
	"serverauth": x509.ExtKeyUsageServerAuth, "clientauth": x509.ExtKeyUsageClientAuth,
	"codesigning": x509.ExtKeyUsageCodeSigning, "emailprotection": x509.ExtKeyUsageEmailProtection,
	"timestamping": x509.ExtKeyUsageTimeStamping, "ocspsigning": x509.ExtKeyUsageOCSPSigning,
}

func (r *CreateCARequest) subject() (pkix.Name, error) {
	if r.CommonName == "" {
		return pkix.Name{}, MissingParameter("CommonName")
	}
	for _, f := range []struct{ name, v string }{{"Organization", r.Organization}, {"OrganizationUnit", r.OrganizationUnit}, {"CountryCode", r.CountryCode}, {"Locality", r.Locality}, {"State", r.State}} {
		if f.v == "" {
			return pkix.Name{}, MissingParameter(f.name)
		}
		if len(f.v) > 64 {
			return pkix.Name{}, InvalidParameter(f.name, "at most 64 characters")
		}
	}
	if len(r.CountryCode) != 2 {
		return pkix.Name{}, InvalidParameter("CountryCode", "must be a two-letter country code")
	}
	return pkix.Name{CommonName: r.CommonName, Organization: []string{r.Organization}, OrganizationalUnit: []string{r.OrganizationUnit},
		Locality: []string{r.Locality}, Province: []string{r.State}, Country: []string{strings.ToUpper(r.CountryCode)}}, nil
}

// CreateRootCACertificate creates a self-signed root CA whose key is
// generated in the token, non-extractable and sign-only.
func (m *Manager) CreateRootCACertificate(ctx context.Context, c Caller, r CreateCARequest) (*IssuedResult, error) {
	r.ParentIdentifier = ""
	return m.createCA(ctx, c, r, nil)
}

// CreateSubCACertificate creates a subordinate CA signed by its parent's
// token key. The parent must be an active root CA and must outlive it.
func (m *Manager) CreateSubCACertificate(ctx context.Context, c Caller, r CreateCARequest) (*IssuedResult, error) {
	if r.ParentIdentifier == "" {
		return nil, MissingParameter("ParentIdentifier")
	}
	iss, err := m.issuerOf(ctx, c, r.ParentIdentifier)
	if err != nil {
		return nil, err
	}
	if iss.row.CertificateType != caTypeRoot {
		return nil, RuleViolation("ParentIdentifier", "A subordinate CA must be issued by a root CA.")
	}
	if err := iss.checkLive(ctx, m.db); err != nil {
		return nil, err
	}
	return m.createCA(ctx, c, r, iss)
}

// createCA creates a root CA (iss nil) or a subordinate CA of iss.
func (m *Manager) createCA(ctx context.Context, c Caller, r CreateCARequest, iss *issuer) (*IssuedResult, error) {
	var parent *store.CACertificate
	if iss != nil {
		parent = iss.row
	}
	name, err := r.subject()
	if err != nil {
		return nil, err
	}
	if _, err := r.Labels.validate(); err != nil {
		return nil, err
	}
	alg, ok := caAlgorithms[strings.ToUpper(r.Algorithm)]
	if r.Algorithm == "" {
		return nil, MissingParameter("Algorithm")
	}
	if !ok {
		return nil, InvalidParameter("Algorithm", "must be RSA_2048, RSA_4096, ECC_256, ECC_384, ECC_512 or SM2_256")
	}
	if r.Years == 0 {
		r.Years = 10
	}
	if r.Years < 1 || r.Years > 30 {
		return nil, InvalidParameter("Years", "must be 1 to 30")
	}
	pathLen := -1
	if parent != nil {
		pathLen = 0
		if r.PathLenConstraint != nil {
			if *r.PathLenConstraint < 0 || *r.PathLenConstraint > 5 {
				return nil, InvalidParameter("PathLenConstraint", "must be 0 to 5")
			}
			pathLen = *r.PathLenConstraint
		}
	}
	var ekus []x509.ExtKeyUsage
	for _, e := range r.ExtendedKeyUsages {
		u, ok := ekuByName[strings.ToLower(e)]
		if !ok {
			return nil, InvalidParameter("ExtendedKeyUsages", "unknown usage %q", e)
		}
		ekus = append(ekus, u)
	}
	if r.CrlDay == 0 {
		r.CrlDay = 30
	}
	if r.CrlDay < 1 || r.CrlDay > 365 {
		return nil, InvalidParameter("CrlDay", "must be 1 to 365")
	}
	now := m.now()
	notBefore, notAfter := now.Add(-time.Minute).Truncate(time.Second), now.AddDate(r.Years, 0, 0).Truncate(time.Second)
	var parentCert *cert
	if parent != nil {
		parentCert = iss.cert
		if notAfter.After(parent.NotAfter) {
			return nil, RuleViolation("Validity", "The CA would outlive its parent (parent expires %s).", isoTime(parent.NotAfter))
		}
		if fam, _ := keyFamily(parentCert.Public); fam != familyOf(alg) {
			return nil, RuleViolation("AlgorithmFamily", "A %s parent cannot issue a %s CA.", fam, familyOf(alg))
		}
	}
	if err := m.checkKeyQuota(ctx, m.db, c.AccountID); err != nil {
		return nil, err
	}
	id := newID()
	keyID := "ca-" + id
	key, err := m.keys.Generate(ctx, keystore.GenerateRequest{ID: keyID, Algorithm: alg, Purpose: keystore.PurposeCA})
	if err != nil {
		return nil, Internal(err)
	}
	res, committed, err := m.finishCA(ctx, c, id, keyID, r, name, key, iss, pathLen, ekus, notBefore, notAfter)
	if err != nil && !committed {
		// Nothing names the key: undo it. A key behind a committed row is
		// never destroyed here, whatever failed after the commit.
		if derr := m.keys.Destroy(context.WithoutCancel(ctx), keyID); derr != nil && !errors.Is(derr, keystore.ErrNotFound) {
			err = fmt.Errorf("%w (and the new CA key could not be removed: %v)", err, derr)
		}
	}
	if err != nil {
		return nil, AsError(err)
	}
	return res, nil
}

func familyOf(a keystore.Algorithm) string {
	switch {
	case a.IsRSA():
		return "RSA"
	case a == keystore.SM2:
		return "SM2"
	}
	return "ECC"
}

// finishCA signs the new CA's certificate and commits its row; committed
// reports whether the row committed, so that the caller undoes the key only
// when no row names it. Everything that can fail runs before the commit.
func (m *Manager) finishCA(ctx context.Context, c Caller, id, keyID string, r CreateCARequest, name pkix.Name, key *keystore.Key,
	iss *issuer, pathLen int, ekus []x509.ExtKeyUsage, notBefore, notAfter time.Time) (_ *IssuedResult, committed bool, _ error) {
	var parent *store.CACertificate
	var parentCert *cert
	if iss != nil {
		parent, parentCert = iss.row, iss.cert
	}
	serial, err := newSerial()
	if err != nil {
		return nil, false, Internal(err)
	}
	ski, err := subjectKeyID(key.Public)
	if err != nil {
		return nil, false, Internal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: name, NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature, ExtKeyUsage: ekus,
		BasicConstraintsValid: true, IsCA: true, MaxPathLen: pathLen, MaxPathLenZero: pathLen == 0, SubjectKeyId: ski,
	}
	signerID := keyID
	if parent != nil {
		signerID = parent.KeyID
		tmpl.AuthorityKeyId = parentCert.SubjectKeyID
		if parent.EnableCRL && m.public != "" {
			tmpl.CRLDistributionPoints = []string{m.crlURL(parent.Identifier)}
		}
	}
	signer, err := m.signer(ctx, signerID)
	if err != nil {
		return nil, false, Internal(err)
	}
	issued, err := signCertificate(tmpl, parentCert, key.Public, signer)
	if err != nil {
		return nil, false, Internal(err)
	}
	fam, size := keyFamily(key.Public)
	row := &store.CACertificate{
		Identifier: id, AccountID: c.AccountID, CertificateType: caTypeRoot, KeyID: keyID, Algorithm: fam, KeySize: size,
		Status: caStatusIssue, Certificate: issued.Raw, Serial: hexUpper(serial.Bytes()), SubjectDN: issued.Subject(),
		Years: r.Years, PathLen: pathLen, EnableCRL: r.EnableCrl, CRLDay: r.CrlDay,
		NotBefore: notBefore, NotAfter: notAfter, CreatedAt: m.now(), ResourceGroupID: r.ResourceGroupID,
	}
	row.Tags, _ = r.Labels.validate()
	if parent != nil {
		row.ParentIdentifier, row.CertificateType = parent.Identifier, caTypeSub
	}
	chain, err := m.chainPEM(ctx, c, row) // reads only the parents: before the commit
	if err != nil {
		return nil, false, err
	}
	auditResource(ctx, m.caArn(c, id))
	err = m.db.Tx(ctx, func(tx *store.Tx) error {
		if err := m.checkKeyQuota(ctx, tx, c.AccountID); err != nil {
			return err
		}
		if parent != nil {
			// In the row's transaction, so a revocation of the parent (or
			// above) committed since the first check is seen.
			if err := iss.checkLive(ctx, tx); err != nil {
				return err
			}
		}
		return tx.InsertCACertificate(ctx, row)
	})
	if err != nil {
		return nil, false, AsError(err)
	}
	return &IssuedResult{Identifier: id, Certificate: certPEM(issued.Raw), CertificateChain: chain}, true, nil
}

// issuedChainPEM is the chain of a certificate the CA issuer signed: the
// issuer first, then its own issuers up to the root.
func (m *Manager) issuedChainPEM(ctx context.Context, c Caller, issuer *store.CACertificate) (string, error) {
	rest, err := m.chainPEM(ctx, c, issuer)
	if err != nil {
		return "", err
	}
	return certPEM(issuer.Certificate) + rest, nil
}

// chainPEM is the issuer chain of a CA up to and including the root,
// issuer first (for a root: the root itself).
func (m *Manager) chainPEM(ctx context.Context, c Caller, ca *store.CACertificate) (string, error) {
	var b strings.Builder
	for cur := ca; ; {
		if cur != ca || cur.ParentIdentifier == "" {
			b.WriteString(certPEM(cur.Certificate))
		}
		if cur.ParentIdentifier == "" {
			return b.String(), nil
		}
		next, err := m.db.GetCACertificate(ctx, c.AccountID, cur.ParentIdentifier)
		if err != nil {
			return "", Internal(err)
		}
		cur = next
	}
}

func caNotFound(id string) *Error {
	return NotFound("NotFound.Certificate", "The CA certificate %q is not found.", id)
}

func (m *Manager) getCA(ctx context.Context, c Caller, id string) (*store.CACertificate, error) {
	ca, err := m.db.GetCACertificate(ctx, c.AccountID, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, caNotFound(id)
	}
	if err != nil {
		return nil, Internal(err)
	}
	return ca, nil
}

// CADescription is DescribeCACertificate's Certificate object, with the
// cloud's field names and units (dates in Unix milliseconds).
type CADescription struct {
	Identifier       string `json:"Identifier"`
	ParentIdentifier string `json:"ParentIdentifier"`
	CertificateType  string `json:"CertificateType"`
	Status           string `json:"Status"`
	Algorithm        string `json:"Algorithm"`
	KeySize          int    `json:"KeySize"`
	FullAlgorithm    string `json:"FullAlgorithm"`
	SignAlgorithm    string `json:"SignAlgorithm"`
	SubjectDN        string `json:"SubjectDN"`
	SubjectNames
	SerialNumber    string `json:"SerialNumber"`
	BeforeDate      int64  `json:"BeforeDate"`
	AfterDate       int64  `json:"AfterDate"`
	Years           int    `json:"Years"`
	Md5             string `json:"Md5"`
	Sha2            string `json:"Sha2"`
	X509Certificate string `json:"X509Certificate"`
	CaCertChain     string `json:"CaCertChain"`
	CrlDay          int    `json:"CrlDay"`
	CrlStatus       string `json:"CrlStatus"`
	CrlURL          string `json:"CrlUrl"`
	IssuerType      string `json:"IssuerType"`
	ResourceGroupID string `json:"ResourceGroupId"`
	Tags            []Tag  `json:"Tags"`
	// CertIssuedCount counts the certificates this CA issued (a deleted
	// one no longer counts). We sell no certificate packs: the total is
	// the issued count plus UnlimitedRemaining.
	CertIssuedCount    int64 `json:"CertIssuedCount"`
	CertRemainingCount int64 `json:"CertRemainingCount"`
	CertTotalCount     int64 `json:"CertTotalCount"`
	// CertMaxTime is the longest validity, in whole days from now, that a
	// certificate issued by this CA can have: none outlives its issuer.
	CertMaxTime int `json:"CertMaxTime"`
	// KeyCustody is ours: the CA key's custody attributes, read live from
	// the token; nil for an external CA, whose key is not ours.
	KeyCustody *keystore.KeyCustody `json:"KeyCustody,omitempty"`
}

// UnlimitedRemaining is CertRemainingCount for a CA: certcustody caps no
// CA's issuance count, and int32's maximum is what every client decodes.
const UnlimitedRemaining = 1<<31 - 1

// DescribeCACertificate describes one of the caller's CAs.
func (m *Manager) DescribeCACertificate(ctx context.Context, c Caller, id string) (*CADescription, error) {
	if id == "" {
		return nil, MissingParameter("Identifier")
	}
	ca, err := m.getCA(ctx, c, id)
	if err != nil {
		return nil, err
	}
	parsed, err := parseCert(ca.Certificate)
	if err != nil {
		return nil, Internal(err)
	}
	chain, err := m.chainPEM(ctx, c, ca)
	if err != nil {
		return nil, err
	}
	issued, err := m.db.CountIssuedBy(ctx, c.AccountID, ca.Identifier)
	if err != nil {
		return nil, Internal(err)
	}
	md := md5.Sum(ca.Certificate)
	sh := sha256.Sum256(ca.Certificate)
	crl, crlURL := "DISABLE", ""
	if ca.EnableCRL {
		crl, crlURL = "ENABLE", m.crlURL(ca.Identifier)
	}
	maxDays := int(ca.NotAfter.Sub(m.now()).Hours() / 24)
	if maxDays < 0 {
		maxDays = 0
	}
	name := subjectFields(parsed)
	d := &CADescription{
		Identifier: ca.Identifier, ParentIdentifier: ca.ParentIdentifier, CertificateType: ca.CertificateType, Status: ca.Status,
		Algorithm: ca.Algorithm, KeySize: ca.KeySize, FullAlgorithm: fmt.Sprintf("%s_%d", ca.Algorithm, ca.KeySize),
		SignAlgorithm: parsed.SignatureAlgorithm, SubjectDN: ca.SubjectDN,
		SubjectNames: name, SerialNumber: serialOut(ca.Serial), BeforeDate: ca.NotBefore.UnixMilli(), AfterDate: ca.NotAfter.UnixMilli(), Years: ca.Years,
		Md5: hexUpper(md[:]), Sha2: hexUpper(sh[:]), X509Certificate: certPEM(ca.Certificate), CaCertChain: chain,
		CrlDay: ca.CRLDay, CrlStatus: crl, CrlURL: crlURL, IssuerType: issuerTypeOf(ca), Tags: decodeTags(ca.Tags), ResourceGroupID: ca.ResourceGroupID,
		CertIssuedCount: issued, CertRemainingCount: UnlimitedRemaining, CertTotalCount: issued + UnlimitedRemaining, CertMaxTime: maxDays,
	}
	if ca.IssuerType != store.IssuerExternal {
		if d.KeyCustody, err = m.keys.Custody(ctx, ca.KeyID); err != nil {
			return nil, Internal(err)
		}
	}
	return d, nil
}

// SubjectNames are the subject attributes the Private CA API returns as
// separate fields.
type SubjectNames struct {
	CommonName       string `json:"CommonName"`
	Organization     string `json:"Organization"`
	OrganizationUnit string `json:"OrganizationUnit"`
	Locality         string `json:"Locality"`
	State            string `json:"State"`
	CountryCode      string `json:"CountryCode"`
}

// subjectFields returns the first value of each subject attribute. The
// subject is parsed once for all six: listings call it for every item.
func subjectFields(c *cert) SubjectNames {
	var seq pkix.RDNSequence
	if rest, err := asn1.Unmarshal(c.RawSubject, &seq); err != nil || len(rest) != 0 {
		return SubjectNames{}
	}
	dn := csrgen.DNFromRDNSequence(seq)
	first := func(short string) string {
		if v := dn.Get(short); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	return SubjectNames{CommonName: first("CN"), Organization: first("O"), OrganizationUnit: first("OU"),
		Locality: first("L"), State: first("ST"), CountryCode: first("C")}
}
