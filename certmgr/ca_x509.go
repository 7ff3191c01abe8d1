package certmgr

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"fmt"
	"math/big"
	"time"

	"github.com/tjfoc/gmsm/sm2"
	gmx509 "github.com/tjfoc/gmsm/x509"
)

// Issuance helpers shared by CA creation and end-entity issuance. Go's
// crypto/x509 signs RSA and ECDSA certificates; SM2 certificates go through
// gmsm with the signature algorithm set explicitly (gmsm silently produces
// a bad signature when it is left zero). Every certificate is parsed right
// after signing. Its signature is checked for RSA issuers (by
// CreateCertificate) and SM2 issuers (by us), not for ECDSA issuers: see
// ca_x509_ecdsa.go.

// newSerial returns a positive 16-byte serial number: the time in
// milliseconds in the first 6 bytes, then 80 random bits (the CA/Browser
// Forum's Baseline Requirements ask for at least 64 from a CSPRNG, which
// is what makes a serial unpredictable to whoever submits the CSR).
//
// The time prefix orders serials for the database: the (issuer, serial)
// and (account, serial) indexes then take consecutive certificates on
// their rightmost pages, not one random page each (see newID). The
// leading byte is 0x01 until 2039 and stays below 0x80 for millennia, so
// the serial is positive, never zero, and always 16 bytes long.
func newSerial() (*big.Int, error) {
	return serialAt(time.Now())
}

func serialAt(t time.Time) (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b[6:]); err != nil {
		return nil, err
	}
	ms := uint64(t.UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (40 - 8*i))
	}
	return new(big.Int).SetBytes(b), nil
}

// subjectKeyID is the RFC 5280 §4.2.1.2 method 1 identifier: SHA-1 of the
// subjectPublicKey bit string.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	var raw []byte
	switch k := pub.(type) {
	case *rsa.PublicKey:
		raw = x509.MarshalPKCS1PublicKey(k)
	case *ecdsa.PublicKey:
		b, err := k.Bytes()
		if err != nil {
			return nil, err
		}
		raw = b
	case *sm2.PublicKey:
		raw = append([]byte{4}, append(k.X.FillBytes(make([]byte, 32)), k.Y.FillBytes(make([]byte, 32))...)...)
	default:
		return nil, fmt.Errorf("unsupported public key %T", pub)
	}
	sum := sha1.Sum(raw)
	return sum[:], nil
}

// signCertificate signs tmpl with signer as parent (nil parent: self-signed
// by tmpl); the result of an RSA or SM2 signer is verified against the
// parent's key.
func signCertificate(tmpl *x509.Certificate, parent *cert, pub crypto.PublicKey, signer crypto.Signer) (*cert, error) {
	var der []byte
	var err error
	if spub, ok := pub.(*sm2.PublicKey); ok {
		st := toGMTemplate(tmpl)
		sparent := st
		if parent != nil {
			if parent.sm == nil {
				return nil, fmt.Errorf("an SM2 certificate needs an SM2 issuer")
			}
			sparent = parent.sm
		}
		der, err = gmx509.CreateCertificate(st, sparent, spub, signer)
	} else {
		stdParent := tmpl
		if parent != nil {
			if parent.std == nil {
				return nil, fmt.Errorf("issuer and subject keys are of different families")
			}
			stdParent = parent.std
		}
		if _, ok := signer.Public().(*ecdsa.PublicKey); ok {
			der, err = createECDSACertificate(tmpl, stdParent, pub, signer)
		} else {
			der, err = x509.CreateCertificate(rand.Reader, tmpl, stdParent, pub, signer)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("sign certificate: %w", err)
	}
	c, err := parseCert(der)
	if err != nil {
		return nil, fmt.Errorf("re-parse signed certificate: %w", err)
	}
	if c.sm != nil {
		// gmsm signs without checking what the signer returned; Go's
		// CreateCertificate has already checked the signature against
		// the parent's key (and that the signer holds that key).
		issuer := parent
		if issuer == nil {
			issuer = c
		}
		if err := c.checkSignedBy(issuer); err != nil {
			return nil, fmt.Errorf("signature returned by the token is invalid: %w", err)
		}
	}
	return c, nil
}

// toGMTemplate copies the fields we set into gmsm's certificate type.
func toGMTemplate(t *x509.Certificate) *gmx509.Certificate {
	g := &gmx509.Certificate{
		SerialNumber: t.SerialNumber, Subject: t.Subject, RawSubject: t.RawSubject,
		NotBefore: t.NotBefore, NotAfter: t.NotAfter,
		KeyUsage: gmx509.KeyUsage(t.KeyUsage), BasicConstraintsValid: t.BasicConstraintsValid, IsCA: t.IsCA,
		MaxPathLen: t.MaxPathLen, MaxPathLenZero: t.MaxPathLenZero,
		SubjectKeyId: t.SubjectKeyId, AuthorityKeyId: t.AuthorityKeyId,
		DNSNames: t.DNSNames, EmailAddresses: t.EmailAddresses, IPAddresses: t.IPAddresses,
		CRLDistributionPoints: t.CRLDistributionPoints, ExtraExtensions: t.ExtraExtensions, SignatureAlgorithm: gmx509.SM2WithSM3,
	}
	for _, u := range t.ExtKeyUsage {
		switch u {
		case x509.ExtKeyUsageServerAuth:
			g.ExtKeyUsage = append(g.ExtKeyUsage, gmx509.ExtKeyUsageServerAuth)
		case x509.ExtKeyUsageClientAuth:
			g.ExtKeyUsage = append(g.ExtKeyUsage, gmx509.ExtKeyUsageClientAuth)
		case x509.ExtKeyUsageCodeSigning:
			g.ExtKeyUsage = append(g.ExtKeyUsage, gmx509.ExtKeyUsageCodeSigning)
		case x509.ExtKeyUsageEmailProtection:
			g.ExtKeyUsage = append(g.ExtKeyUsage, gmx509.ExtKeyUsageEmailProtection)
		case x509.ExtKeyUsageTimeStamping:
			g.ExtKeyUsage = append(g.ExtKeyUsage, gmx509.ExtKeyUsageTimeStamping)
		case x509.ExtKeyUsageOCSPSigning:
			g.ExtKeyUsage = append(g.ExtKeyUsage, gmx509.ExtKeyUsageOCSPSigning)
		}
	}
	return g
}

// keyFamily names a public key's family as the Private CA API does.
func keyFamily(pub crypto.PublicKey) (family string, size int) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return "RSA", k.N.BitLen()
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "ECC", 256
		case elliptic.P384():
			return "ECC", 384
		case elliptic.P521():
			return "ECC", 521
		}
	case *sm2.PublicKey:
		return "SM2", 256
	}
	return "", 0
}
