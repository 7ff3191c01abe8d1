package server

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/certcustody/certcustody/csrgen"
	"github.com/tjfoc/gmsm/sm2"
	gmx509 "github.com/tjfoc/gmsm/x509"
)

// testCA signs uploaded certificates the way an outside CA would.
type testCA struct {
	family string // "RSA", "EC" or "SM2"
	key    crypto.Signer
	cert   *x509.Certificate
	smCert *gmx509.Certificate
	pem    string
}

func newTestCA(t testing.TB, family string) *testCA {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test " + family + " CA", Organization: []string{"certcustody tests"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	ca := &testCA{family: family}
	switch family {
	case "RSA", "EC":
		var key crypto.Signer
		var err error
		if family == "RSA" {
			key, err = rsa.GenerateKey(rand.Reader, 2048)
		} else {
			key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		}
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
		if err != nil {
			t.Fatal(err)
		}
		ca.key, ca.cert = key, mustParse(t, der)
		ca.pem = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	case "SM2":
		key, err := sm2.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		st := smTemplate(tmpl)
		der, err := gmx509.CreateCertificate(st, st, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		ca.smCert, err = gmx509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		ca.key = key
		ca.pem = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	}
	return ca
}

func smTemplate(t *x509.Certificate) *gmx509.Certificate {
	return &gmx509.Certificate{
		SerialNumber: t.SerialNumber, Subject: t.Subject, NotBefore: t.NotBefore, NotAfter: t.NotAfter,
		IsCA: t.IsCA, BasicConstraintsValid: t.BasicConstraintsValid, KeyUsage: gmx509.KeyUsage(t.KeyUsage),
		DNSNames: t.DNSNames, SignatureAlgorithm: gmx509.SM2WithSM3,
	}
}

func mustParse(t testing.TB, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sign issues a leaf certificate for a CSR (PEM) and returns it as PEM.
func (ca *testCA) sign(t testing.TB, csrPEM string) string {
	t.Helper()
	csr, err := csrgen.ParseCSR([]byte(csrPEM))
	if err != nil {
		t.Fatalf("parse CSR: %v", err)
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: csr.Subject.Get("CN")[0]},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(12 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, DNSNames: csr.DNSNames,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	var der []byte
	if ca.family == "SM2" {
		st := smTemplate(tmpl)
		st.ExtKeyUsage = []gmx509.ExtKeyUsage{gmx509.ExtKeyUsageServerAuth}
		der, err = gmx509.CreateCertificate(st, ca.smCert, csr.PublicKey.(*sm2.PublicKey), ca.key)
	} else {
		der, err = x509.CreateCertificate(rand.Reader, tmpl, ca.cert, csr.PublicKey, ca.key)
	}
	if err != nil {
		t.Fatalf("issue certificate: %v", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// certOf is the PEM certificate of a creating call's answer: the four
// issuing actions answer X509Certificate (their SDK shape), CA creation,
// CreateCustomCertificate and CreateCertificateWithExtension Certificate.
func certOf(m map[string]interface{}) string {
	if v, ok := m["X509Certificate"].(string); ok {
		return v
	}
	v, _ := m["Certificate"].(string)
	return v
}
