package certmgr

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/certcustody/certcustody/csrgen"
)

// CustomRequest is CreateCustomCertificate's input: a CSR plus the
// ApiPassthrough that fixes the certificate's subject and extensions.
type CustomRequest struct {
	ParentIdentifier  string
	Csr               string
	Validity          string // "1y", "3m", "7d", or "<RFC 3339>/<RFC 3339>"
	EnableCrl         bool
	Immediately       int
	Subject           *SubjectNames     // nil: the CSR's subject
	CustomAttributes  map[string]string // dotted OID → value, added to the subject
	SerialNumber      string            // hex; empty: 16 random bytes
	KeyUsage          map[string]bool   // DigitalSignature, ContentCommitment/NonRepudiation, KeyEncipherment, ...
	ExtendedKeyUsages []string          // serverAuth, clientAuth, codeSigning, emailProtection, timeStamping, OCSPSigning
	Criticals         []string          // extensions to mark critical: keyUsage, extendedKeyUsage, basicConstraints
	SANs              []CustomSAN
	Labels
}

// CustomSAN is one ApiPassthrough.Extensions.SubjectAlternativeNames entry.
type CustomSAN struct{ Type, Value string }

var validityPattern = regexp.MustCompile(`^([1-9][0-9]{0,4})([ymdYMD])$`)

func (r *CustomRequest) validity(now time.Time) (time.Time, time.Time, error) {
	if r.Validity == "" {
		return time.Time{}, time.Time{}, MissingParameter("Validity")
	}
	if m := validityPattern.FindStringSubmatch(r.Validity); m != nil {
		n, _ := strconv.Atoi(m[1])
		nb := now.Add(-time.Minute).Truncate(time.Second)
		switch strings.ToLower(m[2]) {
		case "y":
			return nb, nb.AddDate(n, 0, 0), nil
		case "m":
			return nb, nb.AddDate(0, n, 0), nil
		default:
			return nb, nb.AddDate(0, 0, n), nil
		}
	}
	from, to, ok := strings.Cut(r.Validity, "/")
	if ok {
		nb, err1 := time.Parse(time.RFC3339, from)
		na, err2 := time.Parse(time.RFC3339, to)
		if err1 == nil && err2 == nil && na.After(nb) {
			return nb.UTC(), na.UTC(), nil
		}
	}
	return time.Time{}, time.Time{}, InvalidParameter("Validity", `use "1y", "3m", "7d" or "<RFC 3339>/<RFC 3339>"`)
}

var keyUsageBits = map[string]x509.KeyUsage{
	"digitalsignature": x509.KeyUsageDigitalSignature, "contentcommitment": x509.KeyUsageContentCommitment,
	"nonrepudiation": x509.KeyUsageContentCommitment, "keyencipherment": x509.KeyUsageKeyEncipherment,
	"dataencipherment": x509.KeyUsageDataEncipherment, "keyagreement": x509.KeyUsageKeyAgreement,
	"encipheronly": x509.KeyUsageEncipherOnly, "decipheronly": x509.KeyUsageDecipherOnly,
}

// CreateCustomCertificate issues a certificate for a CSR with the subject,
// serial and extensions the ApiPassthrough names.
func (m *Manager) CreateCustomCertificate(ctx context.Context, c Caller, r CustomRequest) (*IssuedResult, error) {
	csr, err := requestCSR(r.ParentIdentifier, r.Csr)
	if err != nil {
		return nil, err
	}
	nb, na, err := r.validity(m.now())
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{NotBefore: nb, NotAfter: na, BasicConstraintsValid: true, RawSubject: csr.RawSubject}
	if r.Subject != nil {
		if r.Subject.CommonName == "" {
			return nil, MissingParameter("ApiPassthrough.Subject.CommonName")
		}
		tmpl.RawSubject, tmpl.Subject = nil, subjectName(*r.Subject)
		for oid, v := range r.CustomAttributes {
			parsed, err := parseOID(oid)
			if err != nil {
				return nil, InvalidParameter("ApiPassthrough.Subject.CustomAttributes", "%q is not a dotted OID", oid)
			}
			tmpl.Subject.ExtraNames = append(tmpl.Subject.ExtraNames, pkix.AttributeTypeAndValue{Type: parsed, Value: v})
		}
	}
	for name, on := range r.KeyUsage {
		bit, ok := keyUsageBits[strings.ToLower(name)]
		if !ok {
			return nil, InvalidParameter("ApiPassthrough.Extensions.KeyUsage", "unknown key usage %q", name)
		}
		if on {
			tmpl.KeyUsage |= bit
		}
	}
	for _, e := range r.ExtendedKeyUsages {
		u, ok := ekuByName[strings.ToLower(e)]
		if !ok {
			return nil, InvalidParameter("ApiPassthrough.Extensions.ExtendedKeyUsages", "unknown usage %q", e)
		}
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, u)
	}
	if err := applyCustomSANs(tmpl, r.SANs); err != nil {
		return nil, err
	}
	if err := applyCriticals(tmpl, r.Criticals); err != nil {
		return nil, err
	}
	iss, err := m.issuerOf(ctx, c, r.ParentIdentifier)
	if err != nil {
		return nil, err
	}
	parent := iss.row
	if r.EnableCrl && m.public != "" {
		tmpl.CRLDistributionPoints = []string{m.crlURL(parent.Identifier)}
	}
	certType := "CLIENT"
	for _, u := range tmpl.ExtKeyUsage {
		if u == x509.ExtKeyUsageServerAuth {
			certType = "SERVER"
		}
	}
	var serial *big.Int
	if r.SerialNumber != "" {
		b, err := hex.DecodeString(strings.TrimPrefix(strings.ToLower(r.SerialNumber), "0x"))
		if err != nil || len(b) == 0 || len(b) > 20 {
			return nil, InvalidParameter("ApiPassthrough.SerialNumber", "a hex serial of 1 to 20 bytes")
		}
		if serial = new(big.Int).SetBytes(b); serial.Sign() == 0 {
			return nil, InvalidParameter("ApiPassthrough.SerialNumber", "must not be zero")
		}
	}
	keyUsage := tmpl.KeyUsage
	res, err := m.issueWith(ctx, c, iss, tmpl, csr.PublicKey, certType, newID(), nil, r.Labels, serial, keyUsage != 0)
	if err != nil {
		return nil, err
	}
	return res.Immediately(r.Immediately), nil
}

func parseOID(s string) (asn1.ObjectIdentifier, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return nil, fmt.Errorf("short OID")
	}
	oid := make(asn1.ObjectIdentifier, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("bad arc")
		}
		oid[i] = n
	}
	return oid, nil
}

// applyCustomSANs adds typed SANs; types by name or by the numbers the
// other actions use (1 email, 2 DNS, 6 URI, 7 IP).
func applyCustomSANs(tmpl *x509.Certificate, sans []CustomSAN) error {
	for _, s := range sans {
		switch strings.ToLower(s.Type) {
		case "1", "email", "rfc822name":
			if err := csrgen.ValidateEmail(s.Value); err != nil {
				return InvalidParameter("ApiPassthrough.Extensions.SubjectAlternativeNames", "%s", userMessage(err))
			}
			tmpl.EmailAddresses = append(tmpl.EmailAddresses, s.Value)
		case "2", "dns", "dnsname":
			if err := csrgen.ValidateDNSName(s.Value); err != nil {
				return InvalidParameter("ApiPassthrough.Extensions.SubjectAlternativeNames", "%s", userMessage(err))
			}
			tmpl.DNSNames = append(tmpl.DNSNames, s.Value)
		case "6", "uri", "uniformresourceidentifier":
			if err := csrgen.ValidateURI(s.Value); err != nil {
				return InvalidParameter("ApiPassthrough.Extensions.SubjectAlternativeNames", "%s", userMessage(err))
			}
			u, _ := url.Parse(s.Value)
			tmpl.URIs = append(tmpl.URIs, u)
		case "7", "ip", "ipaddress":
			ip := net.ParseIP(s.Value)
			if ip == nil {
				return InvalidParameter("ApiPassthrough.Extensions.SubjectAlternativeNames", "%q is not an IP address", s.Value)
			}
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		default:
			return InvalidParameter("ApiPassthrough.Extensions.SubjectAlternativeNames", "unknown SAN type %q", s.Type)
		}
	}
	return nil
}

var oidExtKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 37}

var ekuOIDs = map[x509.ExtKeyUsage]asn1.ObjectIdentifier{
	x509.ExtKeyUsageServerAuth: {1, 3, 6, 1, 5, 5, 7, 3, 1}, x509.ExtKeyUsageClientAuth: {1, 3, 6, 1, 5, 5, 7, 3, 2},
	x509.ExtKeyUsageCodeSigning: {1, 3, 6, 1, 5, 5, 7, 3, 3}, x509.ExtKeyUsageEmailProtection: {1, 3, 6, 1, 5, 5, 7, 3, 4},
	x509.ExtKeyUsageTimeStamping: {1, 3, 6, 1, 5, 5, 7, 3, 8}, x509.ExtKeyUsageOCSPSigning: {1, 3, 6, 1, 5, 5, 7, 3, 9},
}

// applyCriticals marks extensions critical. Go writes keyUsage and
// basicConstraints critical already; extendedKeyUsage is written here, as
// an explicit extension that replaces Go's non-critical one.
func applyCriticals(tmpl *x509.Certificate, names []string) error {
	for _, n := range names {
		switch strings.ToLower(n) {
		case "keyusage", "basicconstraints":
		case "extendedkeyusage":
			if len(tmpl.ExtKeyUsage) == 0 {
				return InvalidParameter("ApiPassthrough.Extensions.Criticals", "extendedKeyUsage is critical but no usage is given")
			}
			var oids []asn1.ObjectIdentifier
			for _, u := range tmpl.ExtKeyUsage {
				oids = append(oids, ekuOIDs[u])
			}
			v, err := asn1.Marshal(oids)
			if err != nil {
				return Internal(err)
			}
			tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: oidExtKeyUsage, Critical: true, Value: v})
		default:
			return InvalidParameter("ApiPassthrough.Extensions.Criticals", "%q cannot be marked critical here (keyUsage, extendedKeyUsage, basicConstraints)", n)
		}
	}
	return nil
}
