package certmgr

import (
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"strings"

	"github.com/certcustody/certcustody/csrgen"
	"github.com/certcustody/certcustody/keystore"
)

// ExtensionRequest is CreateCertificateWithExtension's input.
type ExtensionRequest struct {
	ParentIdentifier         string
	CertType                 string // SERVER or CLIENT
	CommonName               string
	Organization             string
	OrganizationUnit         string
	Locality                 string
	State                    string
	CountryCode              string
	Sans                     string // JSON [{"Type":1|2|6|7,"Value":...}]
	CsrPemString             string // subject and key take precedence
	BasicConstraintsCritical *bool  // default true
	AppendCrl                bool
	AliasName                string
	AlgorithmKeySize         int // key size of a service-generated key
	BeforeTime, AfterTime    int64
	Labels
}

var oidBasicConstraints = asn1.ObjectIdentifier{2, 5, 29, 19}

// CreateCertificateWithExtension issues a SERVER or CLIENT certificate with
// typed SANs, from a CSR (whose subject and key win) or for a key the
// service generates in the issuing CA's family.
func (m *Manager) CreateCertificateWithExtension(ctx context.Context, c Caller, r ExtensionRequest) (*IssuedResult, error) {
	if r.ParentIdentifier == "" {
		return nil, MissingParameter("ParentIdentifier")
	}
	certType := strings.ToUpper(r.CertType)
	if certType != "SERVER" && certType != "CLIENT" {
		return nil, InvalidParameter("CertType", "must be SERVER or CLIENT")
	}
	if r.BeforeTime == 0 || r.AfterTime == 0 {
		return nil, MissingParameter(map[bool]string{true: "BeforeTime", false: "AfterTime"}[r.BeforeTime == 0])
	}
	ir := IssueRequest{BeforeTime: r.BeforeTime, AfterTime: r.AfterTime}
	nb, na, err := ir.validity(m.now())
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{NotBefore: nb, NotAfter: na, BasicConstraintsValid: true}
	if certType == "SERVER" {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	if r.Sans != "" {
		sans, err := csrgen.ParseTypedSANJSON(r.Sans)
		if err != nil {
			return nil, InvalidParameter("Sans", "%s", userMessage(err))
		}
		tmpl.DNSNames, tmpl.EmailAddresses, tmpl.IPAddresses, tmpl.URIs = sans.DNSNames, sans.EmailAddresses, sans.IPAddresses, sans.URIs
	}
	if r.BasicConstraintsCritical != nil && !*r.BasicConstraintsCritical {
		// Go marks basicConstraints critical; an explicit extension of the
		// same OID replaces the generated one.
		tmpl.BasicConstraintsValid = false
		tmpl.ExtraExtensions = []pkix.Extension{{Id: oidBasicConstraints, Critical: false, Value: []byte{0x30, 0x00}}}
	}
	iss, err := m.issuerOf(ctx, c, r.ParentIdentifier)
	if err != nil {
		return nil, err
	}
	parent := iss.row
	if r.AppendCrl && m.public != "" {
		tmpl.CRLDistributionPoints = []string{m.crlURL(parent.Identifier)}
	}
	id := newID()
	var pub crypto.PublicKey
	var wrapped *keystore.WrappedKey
	if r.CsrPemString != "" {
		csr, err := csrgen.ParseCSR([]byte(r.CsrPemString))
		if err != nil {
			return nil, InvalidParameter("CsrPemString", "%s", userMessage(err))
		}
		tmpl.RawSubject, pub = csr.RawSubject, csr.PublicKey
	} else {
		if r.CommonName == "" {
			return nil, MissingParameter("CommonName")
		}
		names, err := inheritSubject(SubjectNames{CommonName: r.CommonName, Organization: r.Organization, OrganizationUnit: r.OrganizationUnit,
			Locality: r.Locality, State: r.State, CountryCode: r.CountryCode}, parent)
		if err != nil {
			return nil, err
		}
		tmpl.Subject = subjectName(names)
		alg, err := extensionAlgorithm(parent.Algorithm, r.AlgorithmKeySize)
		if err != nil {
			return nil, err
		}
		if wrapped, err = m.keys.GenerateWrapped(ctx, alg, ownerAAD(c, id)); err != nil {
			return nil, Internal(err)
		}
		pub = wrapped.Public
	}
	r.Labels.AliasName = r.AliasName
	return m.issue(ctx, c, iss, tmpl, pub, certType, id, wrapped, r.Labels)
}

// extensionAlgorithm picks the generated key's algorithm from the issuer's
// family and AlgorithmKeySize.
func extensionAlgorithm(family string, size int) (keystore.Algorithm, error) {
	name := map[string]string{"RSA": "RSA_", "ECC": "ECC_", "SM2": "SM2_"}[family]
	if size == 0 {
		size = map[string]int{"RSA": 2048, "ECC": 256, "SM2": 256}[family]
	}
	alg, ok := leafAlgorithms[fmt.Sprintf("%s%d", name, size)]
	if !ok {
		return "", InvalidParameter("AlgorithmKeySize", "%d is not a %s key size", size, family)
	}
	return alg, nil
}
