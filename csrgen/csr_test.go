package csrgen

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/tjfoc/gmsm/sm2"
	gmx509 "github.com/tjfoc/gmsm/x509"
)

type keyCase struct {
	name    string
	key     crypto.Signer
	alg     string
	sigAlg  string
	isSM2   bool
	samePub func(crypto.PublicKey) bool
}

// testKeys generates one key per family; RSA-2048 dominates the cost.
func testKeys(t *testing.T) []keyCase {
	t.Helper()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ec := func(c elliptic.Curve) *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	p256, p384, p521 := ec(elliptic.P256()), ec(elliptic.P384()), ec(elliptic.P521())
	smKey, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	eq := func(k interface{ Equal(crypto.PublicKey) bool }) func(crypto.PublicKey) bool {
		return func(p crypto.PublicKey) bool { return k.Equal(p) }
	}
	return []keyCase{
		{"RSA-2048", rsaKey, "RSA_2048", "SHA256-RSA", false, eq(&rsaKey.PublicKey)},
		{"ECDSA-P256", p256, "EC_P256", "ECDSA-SHA256", false, eq(&p256.PublicKey)},
		{"ECDSA-P384", p384, "EC_P384", "ECDSA-SHA384", false, eq(&p384.PublicKey)},
		{"ECDSA-P521", p521, "EC_P521", "ECDSA-SHA512", false, eq(&p521.PublicKey)},
		{"SM2", smKey, "EC_SM2", "SM2-SM3", true, func(p crypto.PublicKey) bool {
			k, ok := p.(*sm2.PublicKey)
			return ok && k.X.Cmp(smKey.X) == 0 && k.Y.Cmp(smKey.Y) == 0
		}},
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func testRequest(t *testing.T) Request {
	t.Helper()
	d, err := ParseDN(`CN=www.example.cn+UID=svc\,1,OU=IT,O=阿里云计算有限公司,L=Hangzhou,ST=Zhejiang,C=CN`)
	if err != nil {
		t.Fatal(err)
	}
	return Request{
		Subject:        d,
		DNSNames:       []string{"www.example.cn", "*.example.cn"},
		EmailAddresses: []string{"ops@example.cn"},
		IPAddresses:    []net.IP{net.ParseIP("10.0.0.1").To4(), net.ParseIP("2001:db8::1")},
		URIs:           []*url.URL{mustURL(t, "spiffe://example.cn/ns/prod/sa/web")},
	}
}

func TestCreateAndParseCSR(t *testing.T) {
	req := testRequest(t)
	for _, kc := range testKeys(t) {
		t.Run(kc.name, func(t *testing.T) {
			der, err := CreateCSR(rand.Reader, req, kc.key)
			if err != nil {
				t.Fatalf("CreateCSR: %v", err)
			}
			pemText := EncodeCSRPEM(der)
			for name, in := range map[string][]byte{
				"DER":                         der,
				"PEM":                         []byte(pemText),
				"NEW CERTIFICATE REQUEST PEM": pem.EncodeToMemory(&pem.Block{Type: "NEW CERTIFICATE REQUEST", Bytes: der}),
				"PEM with surrounding space":  []byte("\n  " + pemText + "\n\n"),
			} {
				csr, err := ParseCSR(in)
				if err != nil {
					t.Fatalf("ParseCSR(%s): %v", name, err)
				}
				checkCSR(t, csr, req, kc)
			}

			// OpenSSL agrees the signature is good, shows the subject we
			// asked for and the four kinds of SAN.
			out := opensslVerifyCSR(t, pemText, kc.isSM2)
			if !strings.Contains(out, "verify OK") {
				t.Errorf("openssl req -verify: %s", out)
			}
			subj := opensslSubject(t, pemText)
			got, err := ParseDN(subj)
			if err != nil || !got.Equal(req.Subject) {
				t.Errorf("openssl subject %q = %v (%v), want %v", subj, got, err, req.Subject)
			}
			text := openssl(t, "req", "-in", writeTemp(t, "r.pem", []byte(pemText)), "-noout", "-text")
			for _, want := range []string{"DNS:www.example.cn", "DNS:*.example.cn", "email:ops@example.cn",
				"IP Address:10.0.0.1", "IP Address:2001:DB8:0:0:0:0:0:1", "URI:spiffe://example.cn/ns/prod/sa/web"} {
				if !strings.Contains(text, want) {
					t.Errorf("openssl -text lacks %q:\n%s", want, text)
				}
			}

			// One flipped bit in the signature: we refuse it, and openssl
			// does not say "verify OK" (it still exits 0).
			bad := append([]byte(nil), der...)
			bad[len(bad)-1] ^= 0x01
			if _, err := ParseCSR(bad); !errors.Is(err, ErrInvalidCSR) {
				t.Errorf("ParseCSR(flipped signature bit) = %v, want ErrInvalidCSR", err)
			}
			if out := opensslVerifyCSR(t, EncodeCSRPEM(bad), kc.isSM2); strings.Contains(out, "verify OK") {
				t.Errorf("openssl accepted a flipped signature bit: %s", out)
			}
		})
	}
}

func checkCSR(t *testing.T, csr *CSR, req Request, kc keyCase) {
	t.Helper()
	if !csr.Subject.Equal(req.Subject) {
		t.Errorf("Subject = %v, want %v", csr.Subject, req.Subject)
	}
	if want, _ := req.Subject.Marshal(); !reflect.DeepEqual(csr.RawSubject, want) {
		t.Errorf("RawSubject = %X, want %X", csr.RawSubject, want)
	}
	if !reflect.DeepEqual(csr.DNSNames, req.DNSNames) || !reflect.DeepEqual(csr.EmailAddresses, req.EmailAddresses) {
		t.Errorf("DNS/email SANs = %q %q", csr.DNSNames, csr.EmailAddresses)
	}
	if len(csr.IPAddresses) != len(req.IPAddresses) {
		t.Fatalf("IPAddresses = %v", csr.IPAddresses)
	}
	for i := range req.IPAddresses {
		if !csr.IPAddresses[i].Equal(req.IPAddresses[i]) {
			t.Errorf("IPAddresses[%d] = %v, want %v", i, csr.IPAddresses[i], req.IPAddresses[i])
		}
	}
	if len(csr.URIs) != 1 || csr.URIs[0].String() != req.URIs[0].String() {
		t.Errorf("URIs = %v", csr.URIs)
	}
	if csr.KeyAlgorithm != kc.alg || csr.SignatureAlgorithm != kc.sigAlg {
		t.Errorf("KeyAlgorithm, SignatureAlgorithm = %q, %q; want %q, %q", csr.KeyAlgorithm, csr.SignatureAlgorithm, kc.alg, kc.sigAlg)
	}
	if !kc.samePub(csr.PublicKey) {
		t.Errorf("PublicKey %T does not match the signer's", csr.PublicKey)
	}
	if err := ValidateSANs(csr.SANs()); err != nil {
		t.Errorf("ValidateSANs: %v", err)
	}
}

// TestParseOpenSSLCSR goes the other way: requests that openssl signed,
// including SM2 with the default ID, parse and verify here.
func TestParseOpenSSLCSR(t *testing.T) {
	tests := []struct {
		name    string
		genkey  []string
		signopt []string
		alg     string
		sigAlg  string
	}{
		{"RSA", []string{"-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"}, nil, "RSA_2048", "SHA256-RSA"},
		{"EC P-384", []string{"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"}, nil, "EC_P384", "ECDSA-SHA256"}, // openssl defaults to SHA-256
		{"SM2", []string{"-algorithm", "SM2"}, []string{"-sm3", "-sigopt", sm2DistID}, "EC_SM2", "SM2-SM3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			key, out := dir+"/key.pem", dir+"/req.pem"
			openssl(t, append([]string{"genpkey", "-out", key}, tt.genkey...)...)
			args := []string{"req", "-new", "-key", key, "-utf8", "-out", out,
				"-subj", "/C=CN/O=阿里云计算有限公司/OU=IT/CN=example.cn",
				"-addext", "subjectAltName=DNS:example.cn,DNS:*.example.cn,IP:10.1.2.3,email:a@example.cn,URI:https://example.cn/"}
			openssl(t, append(args, tt.signopt...)...)
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			csr, err := ParseCSR(data)
			if err != nil {
				t.Fatalf("ParseCSR: %v", err)
			}
			if got, want := csr.Subject.String(), "CN=example.cn,OU=IT,O=阿里云计算有限公司,C=CN"; got != want {
				t.Errorf("Subject = %q, want %q", got, want)
			}
			if !reflect.DeepEqual(csr.DNSNames, []string{"example.cn", "*.example.cn"}) || len(csr.IPAddresses) != 1 ||
				!reflect.DeepEqual(csr.EmailAddresses, []string{"a@example.cn"}) || len(csr.URIs) != 1 {
				t.Errorf("SANs = %+v", csr.SANs())
			}
			if csr.KeyAlgorithm != tt.alg || csr.SignatureAlgorithm != tt.sigAlg {
				t.Errorf("KeyAlgorithm, SignatureAlgorithm = %q, %q", csr.KeyAlgorithm, csr.SignatureAlgorithm)
			}
		})
	}
}

func TestParseCSRInvalid(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	d, _ := ParseDN("CN=x")
	der, err := CreateCSR(rand.Reader, Request{Subject: d}, key)
	if err != nil {
		t.Fatal(err)
	}
	pemText := EncodeCSRPEM(der)
	tests := []struct {
		name string
		in   []byte
	}{
		{"nil", nil},
		{"garbage", []byte("hello")},
		{"DER with trailing byte", append(append([]byte(nil), der...), 0)},
		{"truncated DER", der[:len(der)-5]},
		{"PEM wrong type", []byte(strings.Replace(pemText, "CERTIFICATE REQUEST", "CERTIFICATE", 2))},
		{"PEM with trailing data", []byte(pemText + "junk")},
		{"two PEM blocks", []byte(pemText + pemText)},
		{"broken PEM", []byte("-----BEGIN CERTIFICATE REQUEST-----\n!!!\n")},
		{"too long", make([]byte, maxCSRLen+1)},
		{"version 2", bumpVersion(t, der)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c, err := ParseCSR(tt.in); !errors.Is(err, ErrInvalidCSR) {
				t.Fatalf("ParseCSR = %v, %v; want ErrInvalidCSR", c, err)
			}
		})
	}
}

// bumpVersion returns der with the version INTEGER set to 1; the
// signature no longer matters because the version check comes first.
func bumpVersion(t *testing.T, der []byte) []byte {
	t.Helper()
	out := append([]byte(nil), der...)
	for i := 0; i+2 < len(out); i++ {
		if out[i] == 0x02 && out[i+1] == 0x01 && out[i+2] == 0x00 {
			out[i+2] = 1
			return out
		}
	}
	t.Fatal("no version field")
	return nil
}

// failingSigner stands in for a token that refuses to sign.
type failingSigner struct{ crypto.Signer }

var errTokenGone = errors.New("token removed")

func (failingSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errTokenGone
}

// otherKeySigner reports one key and signs with another, like a token
// session pointed at the wrong object.
type otherKeySigner struct {
	crypto.Signer
	pub crypto.PublicKey
}

func (s otherKeySigner) Public() crypto.PublicKey { return s.pub }

// ecdsaViewSigner reports an SM2 key as *ecdsa.PublicKey, as gmsm's parsers
// do; CreateCSR must still take the SM2 path.
type ecdsaViewSigner struct{ *sm2.PrivateKey }

func (s ecdsaViewSigner) Public() crypto.PublicKey { return sm2AsECDSA(&s.PublicKey) }

// sm2AsECDSA is the form gmsm's parsers return an SM2 key in.
func sm2AsECDSA(k *sm2.PublicKey) *ecdsa.PublicKey {
	//lint:ignore SA1019 gmsm hands SM2 keys over as big.Int coordinates
	return &ecdsa.PublicKey{Curve: k.Curve, X: k.X, Y: k.Y}
}

func TestCreateCSRErrors(t *testing.T) {
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	smKey, _ := sm2.GenerateKey(rand.Reader)
	smOther, _ := sm2.GenerateKey(rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	d, _ := ParseDN("CN=x,O=y,C=CN")
	tests := []struct {
		name    string
		req     Request
		signer  crypto.Signer
		wantErr error
	}{
		{"nil signer", Request{Subject: d}, nil, ErrUnsupportedKey},
		{"Ed25519", Request{Subject: d}, edKey, ErrUnsupportedKey},
		{"P-224", Request{Subject: d}, p224, ErrUnsupportedKey},
		{"bad DNS name", Request{Subject: d, DNSNames: []string{"*.com"}}, ecKey, ErrInvalidSAN},
		{"bad email", Request{Subject: d, EmailAddresses: []string{"x"}}, ecKey, ErrInvalidSAN},
		{"bad IP", Request{Subject: d, IPAddresses: []net.IP{{1}}}, ecKey, ErrInvalidSAN},
		{"empty RDN", Request{Subject: DN{RDN{}}}, ecKey, ErrInvalidDN},
		{"signer fails", Request{Subject: d}, failingSigner{ecKey}, errTokenGone},
		{"SM2 signer fails", Request{Subject: d}, failingSigner{smKey}, errTokenGone},
		{"signer uses another key", Request{Subject: d}, otherKeySigner{ecKey, other.Public()}, ErrInvalidCSR},
		{"SM2 signer uses another key", Request{Subject: d}, otherKeySigner{smKey, smOther.Public()}, ErrInvalidCSR},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			der, err := CreateCSR(rand.Reader, tt.req, tt.signer)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("CreateCSR = %x, %v; want %v", der, err, tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "csrgen: ") {
				t.Errorf("error %q lacks the csrgen prefix", err)
			}
		})
	}

	t.Run("SM2 key seen as ecdsa", func(t *testing.T) {
		der, err := CreateCSR(rand.Reader, Request{Subject: d}, ecdsaViewSigner{smKey})
		if err != nil {
			t.Fatal(err)
		}
		csr, err := ParseCSR(der)
		if err != nil || csr.SignatureAlgorithm != "SM2-SM3" {
			t.Fatalf("ParseCSR = %+v, %v", csr, err)
		}
	})
	t.Run("empty subject with a SAN", func(t *testing.T) {
		der, err := CreateCSR(rand.Reader, Request{DNSNames: []string{"a.example.com"}}, ecKey)
		if err != nil {
			t.Fatal(err)
		}
		csr, err := ParseCSR(der)
		if err != nil || len(csr.Subject) != 0 || len(csr.DNSNames) != 1 {
			t.Fatalf("ParseCSR = %+v, %v", csr, err)
		}
	})
}

func TestKeyAlgorithm(t *testing.T) {
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	smKey, _ := sm2.GenerateKey(rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	tests := []struct {
		name string
		pub  crypto.PublicKey
		want string
	}{
		{"RSA-1024", &rsa1024.PublicKey, "RSA_1024"},
		{"SM2", &smKey.PublicKey, "EC_SM2"},
		{"SM2 as ecdsa", sm2AsECDSA(&smKey.PublicKey), "EC_SM2"},
		{"Ed25519", edPub, ""},
		{"nil", nil, ""},
		{"nil RSA", (*rsa.PublicKey)(nil), ""},
		{"nil ECDSA", (*ecdsa.PublicKey)(nil), ""},
		{"nil SM2", (*sm2.PublicKey)(nil), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := KeyAlgorithm(tt.pub)
			if tt.want == "" {
				if !errors.Is(err, ErrUnsupportedKey) {
					t.Fatalf("KeyAlgorithm = %q, %v; want ErrUnsupportedKey", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("KeyAlgorithm = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestParseCSRAlgorithmMismatch swaps the signature algorithm OID (both are
// ten bytes) so key and signature families disagree: each parser must
// refuse, not verify with the wrong scheme.
func TestParseCSRAlgorithmMismatch(t *testing.T) {
	sm2OID := []byte{0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x83, 0x75}
	ecOID := []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02}
	smKey, _ := sm2.GenerateKey(rand.Reader)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	d, _ := ParseDN("CN=x")
	tests := []struct {
		name     string
		key      crypto.Signer
		from, to []byte
	}{
		{"SM2 key, ECDSA-SHA256 signature", smKey, sm2OID, ecOID},
		{"P-256 key, SM2-SM3 signature", ecKey, ecOID, sm2OID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			der, err := CreateCSR(rand.Reader, Request{Subject: d}, tt.key)
			if err != nil {
				t.Fatal(err)
			}
			i := strings.LastIndex(string(der), string(tt.from))
			if i < 0 {
				t.Fatal("signature OID not found")
			}
			bad := append([]byte(nil), der...)
			copy(bad[i:], tt.to)
			if _, err := ParseCSR(bad); !errors.Is(err, ErrInvalidCSR) {
				t.Errorf("ParseCSR = %v, want ErrInvalidCSR", err)
			}
		})
	}
}

func TestCSRLongSubject(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	// Each raw control byte prints as three, so this subject would encode
	// in a small request but print past ParseDN's limit.
	long := dnOf(at(oCN, strings.Repeat("\x01", maxDNLen/2)))
	if der, err := CreateCSR(rand.Reader, Request{Subject: long}, key); !errors.Is(err, ErrInvalidDN) {
		t.Fatalf("CreateCSR = %x, %v; want ErrInvalidDN", der, err)
	}
	// The same subject in a request signed elsewhere is refused by ParseCSR.
	subject, err := long.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{RawSubject: subject}, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseCSR(der); !errors.Is(err, ErrInvalidCSR) {
		t.Fatalf("ParseCSR = %v, want ErrInvalidCSR", err)
	}
}

// TestPublicKeyInfo: the SubjectPublicKeyInfo read back from a request
// CreateCSR made is the key's own encoding, for every family; a request
// cut short is ErrInvalidCSR.
func TestPublicKeyInfo(t *testing.T) {
	for _, kc := range testKeys(t) {
		t.Run(kc.name, func(t *testing.T) {
			der, err := CreateCSR(rand.Reader, testRequest(t), kc.key)
			if err != nil {
				t.Fatal(err)
			}
			got, err := PublicKeyInfo(der)
			if err != nil {
				t.Fatal(err)
			}
			var want []byte
			if k, ok := kc.key.Public().(*sm2.PublicKey); ok {
				want, err = gmx509.MarshalSm2PublicKey(k)
			} else {
				want, err = x509.MarshalPKIXPublicKey(kc.key.Public())
			}
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("PublicKeyInfo %x (%v), want %x", got, err, want)
			}
			for _, bad := range [][]byte{der[:len(der)-1], append(append([]byte{}, der...), 0), nil} {
				if _, err := PublicKeyInfo(bad); !errors.Is(err, ErrInvalidCSR) {
					t.Errorf("PublicKeyInfo of %d bad bytes: %v", len(bad), err)
				}
			}
		})
	}
}
