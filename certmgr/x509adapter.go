package certmgr

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/certcustody/certcustody/csrgen"
	"github.com/tjfoc/gmsm/sm2"
	gmx509 "github.com/tjfoc/gmsm/x509"
)

// cert is a parsed certificate of any family. Go's crypto/x509 rejects SM2
// certificates, so those are parsed with gmsm; the rest of certmgr sees
// only this type.
type cert struct {
	Raw                []byte
	Public             crypto.PublicKey // *rsa.PublicKey, *ecdsa.PublicKey or *sm2.PublicKey
	RawSubject         []byte
	RawIssuer          []byte
	Serial             *big.Int
	NotBefore          time.Time
	NotAfter           time.Time
	SignatureAlgorithm string
	SubjectKeyID       []byte
	DNSNames           []string

	std *x509.Certificate
	sm  *gmx509.Certificate
}

var errNotCertificate = errors.New("not a valid X.509 certificate")

// parseCert parses one DER certificate, never panicking on bad input.
func parseCert(der []byte) (c *cert, err error) {
	if std, err := x509.ParseCertificate(der); err == nil {
		c = &cert{Raw: std.Raw, Public: std.PublicKey, RawSubject: std.RawSubject, RawIssuer: std.RawIssuer,
			Serial: std.SerialNumber, NotBefore: std.NotBefore, NotAfter: std.NotAfter,
			SignatureAlgorithm: std.SignatureAlgorithm.String(), SubjectKeyID: std.SubjectKeyId, DNSNames: std.DNSNames, std: std}
	} else {
		defer func() {
			if r := recover(); r != nil {
				c, err = nil, errNotCertificate
			}
		}()
		sm, err := gmx509.ParseCertificate(der)
		if err != nil {
			return nil, errNotCertificate
		}
		pub, ok := sm.PublicKey.(*ecdsa.PublicKey)
		if !ok || pub.Curve != sm2.P256Sm2() {
			return nil, errNotCertificate
		}
		c = &cert{Raw: sm.Raw, Public: sm2Public(pub), RawSubject: sm.RawSubject, RawIssuer: sm.RawIssuer,
			Serial: sm.SerialNumber, NotBefore: sm.NotBefore, NotAfter: sm.NotAfter,
			SignatureAlgorithm: "SM2-SM3", SubjectKeyID: sm.SubjectKeyId, DNSNames: sm.DNSNames, sm: sm}
	}
	return c, nil
}

// Subject is the certificate's subject in RFC 4514 form. It is computed
// when asked, not at parse: a list summarizes many certificates without
// it, and encoding/asn1 made it the larger half of a parse.
func (c *cert) Subject() string { return dnString(c.RawSubject) }

// Issuer is the certificate's issuer in RFC 4514 form.
func (c *cert) Issuer() string { return dnString(c.RawIssuer) }

// dnGet returns the first value of an attribute (by short name) of a raw
// DER name.
func dnGet(raw []byte, short string) string {
	var seq pkix.RDNSequence
	if rest, err := asn1.Unmarshal(raw, &seq); err != nil || len(rest) != 0 {
		return ""
	}
	if v := csrgen.DNFromRDNSequence(seq).Get(short); len(v) > 0 {
		return v[0]
	}
	return ""
}

func dnString(raw []byte) string {
	var seq pkix.RDNSequence
	if rest, err := asn1.Unmarshal(raw, &seq); err != nil || len(rest) != 0 {
		return ""
	}
	return csrgen.DNFromRDNSequence(seq).String()
}

// parseCertsPEM parses a PEM bundle (a certificate chain) in order.
func parseCertsPEM(s string) ([]*cert, error) {
	rest := []byte(strings.TrimSpace(s))
	var out []*cert
	for len(bytes.TrimSpace(rest)) > 0 {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil || b.Type != "CERTIFICATE" {
			return nil, errNotCertificate
		}
		c, err := parseCert(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// checkSignedBy verifies that parent's key signed c and that the names chain.
func (c *cert) checkSignedBy(parent *cert) error {
	if !bytes.Equal(c.RawIssuer, parent.RawSubject) {
		return fmt.Errorf("issuer %q is not the subject %q of the next certificate", c.Issuer(), parent.Subject())
	}
	switch {
	case c.std != nil && parent.std != nil:
		return c.std.CheckSignatureFrom(parent.std)
	case c.sm != nil && parent.sm != nil:
		return checkSM2Signature(c.sm, parent.sm)
	}
	return fmt.Errorf("certificate and issuer use different algorithm families")
}

// checkSM2Signature verifies an SM2 certificate signature with the issuer's
// key (gmsm's CheckSignatureFrom also enforces CA flags we check elsewhere).
func checkSM2Signature(c, parent *gmx509.Certificate) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.New("malformed SM2 signature")
		}
	}()
	return parent.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature)
}

// publicKeysEqual compares public keys of any family.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	switch x := a.(type) {
	case *rsa.PublicKey:
		return x.Equal(b)
	case *ecdsa.PublicKey:
		return x.Equal(b)
	case *sm2.PublicKey:
		y, ok := b.(*sm2.PublicKey)
		return ok && x.X.Cmp(y.X) == 0 && x.Y.Cmp(y.Y) == 0
	}
	return false
}

// certPEM is pem.EncodeToMemory of a CERTIFICATE block (no headers),
// written into one allocation of its exact size. It runs on every read of
// a certificate, where the encoder's growing buffer and its conversion to
// a string were the largest allocations of the call.
func certPEM(der []byte) string {
	const begin, end = "-----BEGIN CERTIFICATE-----\n", "-----END CERTIFICATE-----\n"
	n := base64.StdEncoding.EncodedLen(len(der))
	var b strings.Builder
	b.Grow(len(begin) + n + (n+63)/64 + len(end))
	b.WriteString(begin)
	var line [64]byte // 48 bytes of DER per line, as encoding/pem writes them
	for len(der) > 0 {
		chunk := der[:min(48, len(der))]
		der = der[len(chunk):]
		base64.StdEncoding.Encode(line[:], chunk)
		b.Write(line[:base64.StdEncoding.EncodedLen(len(chunk))])
		b.WriteByte('\n')
	}
	b.WriteString(end)
	return b.String()
}

func hexUpper(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }

// sm2Public converts gmsm's parsed SM2 key (an ecdsa.PublicKey on the SM2
// curve) to an sm2.PublicKey.
func sm2Public(pub *ecdsa.PublicKey) *sm2.PublicKey {
	//lint:ignore SA1019 gmsm parses SM2 keys into big.Int coordinates; there is no other accessor
	x, y := pub.X, pub.Y
	return &sm2.PublicKey{Curve: pub.Curve, X: x, Y: y}
}

// sansJSON renders a certificate's SANs as the API's Sans JSON string:
// [{"Type":1|2|6|7,"Value":...}].
func sansJSON(c *cert) string {
	type san struct {
		Type  int    `json:"Type"`
		Value string `json:"Value"`
	}
	var out []san
	if c.std != nil {
		for _, e := range c.std.EmailAddresses {
			out = append(out, san{1, e})
		}
		for _, d := range c.std.DNSNames {
			out = append(out, san{2, d})
		}
		for _, u := range c.std.URIs {
			out = append(out, san{6, u.String()})
		}
		for _, ip := range c.std.IPAddresses {
			out = append(out, san{7, ip.String()})
		}
	} else if c.sm != nil {
		for _, e := range c.sm.EmailAddresses {
			out = append(out, san{1, e})
		}
		for _, d := range c.sm.DNSNames {
			out = append(out, san{2, d})
		}
		for _, ip := range c.sm.IPAddresses {
			out = append(out, san{7, ip.String()})
		}
	}
	if len(out) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(out)
	return string(b)
}

var errKeyMismatch = errors.New("stored key does not match its certificate")

// pkcs8Public returns the public half of a PKCS#8 private key of any family.
func pkcs8Public(der []byte) (crypto.PublicKey, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s.Public(), nil
		}
		return nil, errNotCertificate
	}
	k, err := gmx509.ParsePKCS8UnecryptedPrivateKey(der)
	if err != nil {
		return nil, err
	}
	return &k.PublicKey, nil
}

// serialOut prints a stored serial as the SDK examples do: lower-case hex.
// Serials are stored upper-case (the unique index and the CRL encoder read
// that form).
func serialOut(stored string) string { return strings.ToLower(stored) }
