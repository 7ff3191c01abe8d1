package keystore

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/miekg/pkcs11"
)

// TestTLSKeyIsSignOnlyAndNeverExtractable reads the TLS key's attributes
// back from the token: sign-only, sensitive, never extractable, not
// modifiable, allowed mechanisms limited to TLS signatures; it is a
// service key, exists once, and other IDs or purposes cannot borrow its
// template.
func TestTLSKeyIsSignOnlyAndNeverExtractable(t *testing.T) {
	s, tok := newStore(t)
	raw := openRaw(t, tok)
	ctx := context.Background()
	if _, err := s.GenerateTLSKey(ctx, ECP256); err != nil {
		t.Fatal(err)
	}
	priv := raw.find(t, TLSKeyID, pkcs11.CKO_PRIVATE_KEY)
	for attr, want := range map[uint]bool{pkcs11.CKA_SIGN: true, pkcs11.CKA_DECRYPT: false, pkcs11.CKA_UNWRAP: false, pkcs11.CKA_DERIVE: false,
		pkcs11.CKA_SIGN_RECOVER: false, pkcs11.CKA_SENSITIVE: true, pkcs11.CKA_EXTRACTABLE: false, pkcs11.CKA_ALWAYS_SENSITIVE: true,
		pkcs11.CKA_NEVER_EXTRACTABLE: true, pkcs11.CKA_MODIFIABLE: false, pkcs11.CKA_TOKEN: true, pkcs11.CKA_PRIVATE: true} {
		if got := raw.boolAttr(t, priv, attr); got != want {
			t.Errorf("TLS key attribute 0x%x = %v, want %v", attr, got, want)
		}
	}
	c, err := s.Custody(ctx, TLSKeyID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.AllowedMechanisms, []string{"CKM_ECDSA"}) || c.Exportable || !IsServiceKeyID(TLSKeyID) {
		t.Errorf("custody %+v, service key %v", c, IsServiceKeyID(TLSKeyID))
	}
	if _, err := s.GenerateTLSKey(ctx, ECP256); !errors.Is(err, ErrKeyExists) {
		t.Errorf("second TLS key: %v, want ErrKeyExists", err)
	}
	// The TLS key holds no wrap or export path: the token refuses.
	if _, err := s.Export(ctx, TLSKeyID); err == nil {
		t.Error("the TLS key was exported")
	}
	for _, req := range []GenerateRequest{
		{ID: "kms-borrowed", Algorithm: ECP256, Purpose: PurposeTLS},
		{ID: TLSKeyID, Algorithm: ECP256, Purpose: PurposeSign},
		{ID: serviceIDPrefix + "tls-2", Algorithm: ECP256, Purpose: PurposeTLS},
	} {
		if _, err := s.Generate(ctx, req); err == nil || errors.Is(err, ErrKeyExists) {
			t.Errorf("Generate(%+v) = %v, want a refusal", req, err)
		}
	}
	for _, alg := range []Algorithm{SM2, RSA1024} {
		if _, err := s.GenerateTLSKey(ctx, alg); !errors.Is(err, ErrUnsupported) {
			t.Errorf("TLS key %s: %v, want ErrUnsupported", alg, err)
		}
	}
}

// TestTLSKeyServesHandshakes: the token key, used only through
// crypto.Signer (TLSSigner hides the Decrypter half, which crypto/tls
// would take for an RSA key-transport key), completes real TLS 1.3 and TLS 1.2 handshakes (ECDSA;
// RSA with PSS in 1.3 and PKCS#1 v1.5 or PSS in 1.2).
func TestTLSKeyServesHandshakes(t *testing.T) {
	for _, alg := range []Algorithm{ECP256, RSA2048} {
		t.Run(string(alg), func(t *testing.T) {
			s, _ := newStore(t)
			ctx := context.Background()
			if _, err := s.GenerateTLSKey(ctx, alg); err != nil {
				t.Fatal(err)
			}
			signer, err := s.TLSSigner(ctx)
			if err != nil {
				t.Fatal(err)
			}
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
				NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
				ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
			if err != nil {
				t.Fatal(err)
			}
			leaf, _ := x509.ParseCertificate(der)
			roots := x509.NewCertPool()
			roots.AddCert(leaf)
			for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
				sc, cc := net.Pipe()
				srv := tls.Server(sc, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: signer}}, MinVersion: tls.VersionTLS12})
				errc := make(chan error, 1)
				go func() { errc <- srv.Handshake(); sc.Close() }()
				cli := tls.Client(cc, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MaxVersion: v})
				if err := cli.Handshake(); err != nil {
					cc.Close()
					t.Fatalf("TLS %x handshake: %v (server: %v)", v, err, <-errc)
				}
				if got := cli.ConnectionState().Version; got != v {
					t.Errorf("negotiated %x, want %x", got, v)
				}
				cc.Close()
				if err := <-errc; err != nil {
					t.Fatalf("server side: %v", err)
				}
			}
		})
	}
}
