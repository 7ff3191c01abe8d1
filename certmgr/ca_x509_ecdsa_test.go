package certmgr

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"strings"
	"testing"
	"time"
)

// countingSigner counts the digests it signs.
type countingSigner struct {
	crypto.Signer
	n int
}

func (s *countingSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	s.n++
	return s.Signer.Sign(r, digest, opts)
}

// softwareCA makes a self-signed software CA on curve, the issuer the
// encoding tests compare against crypto/x509.
func softwareCA(t *testing.T, curve elliptic.Curve) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, SubjectKeyId: []byte{1, 2, 3}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return mustParseCertificate(t, der), key
}

func mustParseCertificate(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestECDSACertificatesAreGoEncodedAndSignedOnce checks that an ECDSA
// issuer's certificate is the one x509.CreateCertificate encodes (same
// TBSCertificate, same outer algorithm), signed once, and that the
// signature verifies under the issuer's key, for every curve and hash Go
// picks.
func TestECDSACertificatesAreGoEncodedAndSignedOnce(t *testing.T) {
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		t.Run(curve.Params().Name, func(t *testing.T) {
			ca, caKey := softwareCA(t, curve)
			leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: "leaf"}, DNSNames: []string{"a.example"},
				NotBefore: ca.NotBefore, NotAfter: ca.NotAfter, KeyUsage: x509.KeyUsageDigitalSignature,
				ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}

			cs := &countingSigner{Signer: caKey}
			der, err := createECDSACertificate(tmpl, ca, leafKey.Public(), cs)
			if err != nil {
				t.Fatal(err)
			}
			if cs.n != 1 {
				t.Fatalf("token asked for %d signatures, want 1", cs.n)
			}
			got := mustParseCertificate(t, der)
			if err := got.CheckSignatureFrom(ca); err != nil {
				t.Fatalf("signature does not verify under the issuer's key: %v", err)
			}
			wantDER, err := x509.CreateCertificate(rand.Reader, tmpl, ca, leafKey.Public(), caKey)
			if err != nil {
				t.Fatal(err)
			}
			want := mustParseCertificate(t, wantDER)
			if !bytes.Equal(got.RawTBSCertificate, want.RawTBSCertificate) {
				t.Fatal("TBSCertificate differs from crypto/x509's encoding")
			}
			if got.SignatureAlgorithm != want.SignatureAlgorithm {
				t.Fatalf("signature algorithm %v, crypto/x509 says %v", got.SignatureAlgorithm, want.SignatureAlgorithm)
			}
		})
	}
}

// TestECDSACertificateKeepsTheSignerKeyCheck checks that a signer whose
// key is not the parent's is still refused before anything is signed.
func TestECDSACertificateKeepsTheSignerKeyCheck(t *testing.T) {
	ca, _ := softwareCA(t, elliptic.P256())
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cs := &countingSigner{Signer: other}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "leaf"}, NotBefore: ca.NotBefore, NotAfter: ca.NotAfter}
	_, err = createECDSACertificate(tmpl, ca, other.Public(), cs)
	if err == nil || !strings.Contains(err.Error(), "doesn't match parent's PublicKey") {
		t.Fatalf("err = %v, want the parent-key mismatch", err)
	}
	if cs.n != 0 {
		t.Fatalf("%d signatures made with the wrong key", cs.n)
	}
}

// TestAssembleCertificateRefusesMalformedTBS checks the TBSCertificate
// reader on inputs that are not one.
func TestAssembleCertificateRefusesMalformedTBS(t *testing.T) {
	for _, tbs := range [][]byte{nil, {0x30, 0x00}, {0x30, 0x03, 0x02, 0x01, 0x01}, {0x30, 0x00, 0x00}} {
		if _, err := assembleCertificate(tbs, []byte{1}); err == nil {
			t.Errorf("assembleCertificate(%x) accepted", tbs)
		}
	}
}
