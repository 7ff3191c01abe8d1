package server

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	kms "github.com/alibabacloud-go/kms-20160120/v3/client"
	"github.com/alibabacloud-go/tea/tea"
	"github.com/certcustody/certcustody/certmgr"
	"github.com/certcustody/certcustody/keystore"
	"github.com/tjfoc/gmsm/sm2"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// kmsClient is the official KMS SDK pointed at the test server. sigAlg ""
// gives the default V3 signature (ACS3-HMAC-SHA256); "v2" the RPC HMAC-SHA1.
func (e *env) kmsClient(t testing.TB, sigAlg string) *kms.Client {
	t.Helper()
	c, err := kms.NewClient(sdkConfig(e.Host, e.AK.AccessKeyID, e.AK.AccessKeySecret, sigAlg))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wantAPIError asserts the Code and HTTP status the SDK decoded.
func wantAPIError(t testing.TB, err error, code string, status int) {
	t.Helper()
	var e *tea.SDKError
	if !errors.As(err, &e) {
		t.Fatalf("got %v (%T), want API error %s", err, err, code)
	}
	if tea.StringValue(e.Code) != code || tea.IntValue(e.StatusCode) != status {
		t.Fatalf("got %s/%d, want %s/%d (%v)", tea.StringValue(e.Code), tea.IntValue(e.StatusCode), code, status, err)
	}
}

var arnPattern = regexp.MustCompile(`^acs:kms:cn-hangzhou:[0-9]{16}:certificate/[0-9a-f-]{36}$`)

// TestKMSCertificateLifecycleThroughSDK walks each KeySpec through create,
// CSR checks, upload, sign/verify, encrypt/decrypt, status rules, export
// and delete, all through the official SDK.
func TestKMSCertificateLifecycleThroughSDK(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		spec, family, signAlg string
		encAlgs               []string
		sigAlg                string
	}{
		{"RSA_2048", "RSA", "RSA_PSS_SHA_256", []string{"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"}, ""},
		{"EC_P256", "EC", "ECDSA_SHA_256", nil, "v2"},
		{"EC_SM2", "SM2", "SM2DSA", []string{"SM2PKE"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			c := e.kmsClient(t, tc.sigAlg)
			subject := "CN=app.example.com,OU=ops,O=Example Corp,C=CN,ST=Zhejiang,L=Hangzhou"
			created, err := c.CreateCertificate(&kms.CreateCertificateRequest{
				KeySpec: tea.String(tc.spec), Subject: tea.String(subject),
				SubjectAlternativeNames: map[string]interface{}{"0": "app.example.com", "1": "www.example.com"},
			})
			if err != nil {
				t.Fatalf("CreateCertificate: %v", err)
			}
			id := tea.StringValue(created.Body.CertificateId)
			if !arnPattern.MatchString(tea.StringValue(created.Body.Arn)) || !strings.HasSuffix(tea.StringValue(created.Body.Arn), id) {
				t.Fatalf("Arn %q", tea.StringValue(created.Body.Arn))
			}
			csrPEM := tea.StringValue(created.Body.Csr)
			opensslVerifyCSR(t, csrPEM, tc.family == "SM2", []string{"CN=app.example.com", "OU=ops", "O=Example Corp"}, []string{"DNS:app.example.com", "DNS:www.example.com"})

			d, err := c.DescribeCertificate(&kms.DescribeCertificateRequest{CertificateId: tea.String(id)})
			if err != nil || tea.StringValue(d.Body.Status) != "PENDING" || tea.StringValue(d.Body.KeySpec) != tc.spec || !tea.BoolValue(d.Body.ExportablePrivateKey) {
				t.Fatalf("DescribeCertificate of a new certificate: %+v %v", d, err)
			}
			if got, want := tea.StringValue(d.Body.SubjectPublicKey), opensslCSRPublicKey(t, csrPEM); got != want {
				t.Fatalf("SubjectPublicKey %q, openssl reads %q from the CSR", got, want)
			}
			msg := []byte("pay 100 to bob")
			_, err = c.CertificatePrivateKeySign(&kms.CertificatePrivateKeySignRequest{CertificateId: tea.String(id), Algorithm: tea.String(tc.signAlg), Message: tea.String(b64(msg)), MessageType: tea.String("RAW")})
			wantAPIError(t, err, "InvalidParameter.CertificateStatus", 400)

			ca := newTestCA(t, tc.family)
			other := newTestCA(t, tc.family)
			leaf := ca.sign(t, csrPEM)
			_, err = c.UploadCertificate(&kms.UploadCertificateRequest{CertificateId: tea.String(id), Certificate: tea.String(leaf), CertificateChain: tea.String(other.pem)})
			wantAPIError(t, err, "InvalidParameter.CertificateChain", 400)
			if _, err := c.UploadCertificate(&kms.UploadCertificateRequest{CertificateId: tea.String(id), Certificate: tea.String(leaf), CertificateChain: tea.String(ca.pem)}); err != nil {
				t.Fatalf("UploadCertificate: %v", err)
			}
			got, err := c.GetCertificate(&kms.GetCertificateRequest{CertificateId: tea.String(id)})
			if err != nil || tea.StringValue(got.Body.Certificate) != leaf || tea.StringValue(got.Body.Csr) != csrPEM {
				t.Fatalf("GetCertificate: %v", err)
			}
			d, _ = c.DescribeCertificate(&kms.DescribeCertificateRequest{CertificateId: tea.String(id)})
			if tea.StringValue(d.Body.Status) != "ACTIVE" || tea.StringValue(d.Body.NotAfter) == "" || !strings.Contains(tea.StringValue(d.Body.Issuer), "Test "+tc.family+" CA") {
				t.Fatalf("after upload: %+v", d.Body)
			}

			sig := signViaAPI(t, c, id, tc.signAlg, msg)
			verifyLocally(t, leaf, tc.family, msg, sig)
			for _, tamper := range []bool{false, true} {
				m := msg
				if tamper {
					m = []byte("pay 999 to eve")
				}
				v, err := c.CertificatePublicKeyVerify(&kms.CertificatePublicKeyVerifyRequest{CertificateId: tea.String(id), Algorithm: tea.String(tc.signAlg), Message: tea.String(b64(m)), MessageType: tea.String("RAW"), SignatureValue: tea.String(b64(sig))})
				if err != nil || tea.BoolValue(v.Body.SignatureValid) == tamper {
					t.Fatalf("verify (tampered=%v): %v %v", tamper, tea.BoolValue(v.Body.SignatureValid), err)
				}
			}
			digest := digestFor(t, tc.family, leaf, msg)
			ds, err := c.CertificatePrivateKeySign(&kms.CertificatePrivateKeySignRequest{CertificateId: tea.String(id), Algorithm: tea.String(tc.signAlg), Message: tea.String(b64(digest)), MessageType: tea.String("DIGEST")})
			if err != nil {
				t.Fatalf("sign DIGEST: %v", err)
			}
			verifyLocally(t, leaf, tc.family, msg, mustB64(t, tea.StringValue(ds.Body.SignatureValue)))

			for _, alg := range tc.encAlgs {
				ct, err := c.CertificatePublicKeyEncrypt(&kms.CertificatePublicKeyEncryptRequest{CertificateId: tea.String(id), Algorithm: tea.String(alg), Plaintext: tea.String(b64([]byte("data key")))})
				if err != nil {
					t.Fatalf("encrypt %s: %v", alg, err)
				}
				pt, err := c.CertificatePrivateKeyDecrypt(&kms.CertificatePrivateKeyDecryptRequest{CertificateId: tea.String(id), Algorithm: tea.String(alg), CiphertextBlob: ct.Body.CiphertextBlob})
				if err != nil || string(mustB64(t, tea.StringValue(pt.Body.Plaintext))) != "data key" {
					t.Fatalf("decrypt %s: %v", alg, err)
				}
			}

			// INACTIVE verifies and encrypts but neither signs nor decrypts.
			if _, err := c.UpdateCertificateStatus(&kms.UpdateCertificateStatusRequest{CertificateId: tea.String(id), Status: tea.String("INACTIVE")}); err != nil {
				t.Fatal(err)
			}
			_, err = c.CertificatePrivateKeySign(&kms.CertificatePrivateKeySignRequest{CertificateId: tea.String(id), Algorithm: tea.String(tc.signAlg), Message: tea.String(b64(msg)), MessageType: tea.String("RAW")})
			wantAPIError(t, err, "InvalidParameter.CertificateStatus", 400)
			if v, err := c.CertificatePublicKeyVerify(&kms.CertificatePublicKeyVerifyRequest{CertificateId: tea.String(id), Algorithm: tea.String(tc.signAlg), Message: tea.String(b64(msg)), MessageType: tea.String("RAW"), SignatureValue: tea.String(b64(sig))}); err != nil || !tea.BoolValue(v.Body.SignatureValid) {
				t.Fatalf("INACTIVE certificate must still verify: %v", err)
			}
			if _, err := c.UpdateCertificateStatus(&kms.UpdateCertificateStatusRequest{CertificateId: tea.String(id), Status: tea.String("ACTIVE")}); err != nil {
				t.Fatal(err)
			}
			if tc.family != "SM2" {
				pfx, err := exportViaAPI(e, t, id, "correct horse battery")
				if err != nil {
					t.Fatalf("ExportCertificate: %v", err)
				}
				key, cert, _, err := pkcs12.DecodeChain(pfx, "correct horse battery")
				if err != nil || !publicOf(key).(interface{ Equal(crypto.PublicKey) bool }).Equal(cert.PublicKey) {
					t.Fatalf("PKCS#12 does not hold the certificate's key: %v", err)
				}
			}
			// REVOKED is final.
			if _, err := c.UpdateCertificateStatus(&kms.UpdateCertificateStatusRequest{CertificateId: tea.String(id), Status: tea.String("REVOKED")}); err != nil {
				t.Fatal(err)
			}
			_, err = c.UpdateCertificateStatus(&kms.UpdateCertificateStatusRequest{CertificateId: tea.String(id), Status: tea.String("ACTIVE")})
			wantAPIError(t, err, "InvalidParameter.CertificateStatus", 400)

			keyID := "kms-" + id
			if _, err := c.DeleteCertificate(&kms.DeleteCertificateRequest{CertificateId: tea.String(id)}); err != nil {
				t.Fatal(err)
			}
			if ok, err := e.Keys.Exists(context.Background(), keyID); err != nil || ok {
				t.Fatalf("token objects survive DeleteCertificate (%v)", err)
			}
			_, err = c.DescribeCertificate(&kms.DescribeCertificateRequest{CertificateId: tea.String(id)})
			wantAPIError(t, err, "Forbidden.ResourceNotFound", 404)
		})
	}
}

// TestNonExportableKeyThroughSDK: ExportablePrivateKey=false is enforced by
// the API and by the token's own attributes.
func TestNonExportableKeyThroughSDK(t *testing.T) {
	e := newEnv(t)
	c := e.kmsClient(t, "")
	created, err := c.CreateCertificate(&kms.CreateCertificateRequest{KeySpec: tea.String("RSA_2048"), Subject: tea.String("CN=locked,OU=ops,O=Example,C=CN"), ExportablePrivateKey: tea.Bool(false)})
	if err != nil {
		t.Fatal(err)
	}
	id := tea.StringValue(created.Body.CertificateId)
	ca := newTestCA(t, "RSA")
	if _, err := c.UploadCertificate(&kms.UploadCertificateRequest{CertificateId: tea.String(id), Certificate: tea.String(ca.sign(t, tea.StringValue(created.Body.Csr))), CertificateChain: tea.String(ca.pem)}); err != nil {
		t.Fatal(err)
	}
	_, err = exportViaAPI(e, t, id, "correct horse battery")
	wantAPIError(t, err, "Forbidden.KeyNotExportable", 403)
	cust, err := e.Keys.Custody(context.Background(), "kms-"+id)
	if err != nil || cust.Extractable || !cust.NeverExtractable || !cust.AlwaysSensitive || cust.ProtectionLevel != keystore.ProtectionHSM {
		t.Fatalf("token custody of a non-exportable key: %+v %v", cust, err)
	}
	d, _ := c.DescribeCertificate(&kms.DescribeCertificateRequest{CertificateId: tea.String(id)})
	if tea.BoolValue(d.Body.ExportablePrivateKey) {
		t.Fatal("DescribeCertificate says exportable")
	}
}

// TestKMSErrorsChangeNothing asserts each refusal's Code and HTTP status
// and that no row or token object was left behind.
func TestKMSErrorsChangeNothing(t *testing.T) {
	e := newEnv(t)
	c := e.kmsClient(t, "")
	good, err := c.CreateCertificate(&kms.CreateCertificateRequest{KeySpec: tea.String("EC_P256"), Subject: tea.String("CN=a,OU=b,O=c,C=CN")})
	if err != nil {
		t.Fatal(err)
	}
	rows0, keys0 := e.counts(t)
	elevenSANs := map[string]interface{}{}
	for i := range 11 {
		elevenSANs[string(rune('a'+i))] = string(rune('a'+i)) + ".example.com"
	}
	creates := []struct {
		name   string
		req    *kms.CreateCertificateRequest
		code   string
		status int
	}{
		{"missing KeySpec", &kms.CreateCertificateRequest{Subject: tea.String("CN=a,OU=b,O=c,C=CN")}, "MissingParameter", 400},
		{"unknown KeySpec", &kms.CreateCertificateRequest{KeySpec: tea.String("RSA_1024"), Subject: tea.String("CN=a,OU=b,O=c,C=CN")}, "InvalidParameter", 400},
		{"missing Subject", &kms.CreateCertificateRequest{KeySpec: tea.String("EC_P256")}, "MissingParameter", 400},
		{"Subject lacks OU", &kms.CreateCertificateRequest{KeySpec: tea.String("EC_P256"), Subject: tea.String("CN=a,O=c,C=CN")}, "InvalidParameter", 400},
		{"Subject lacks CN", &kms.CreateCertificateRequest{KeySpec: tea.String("EC_P256"), Subject: tea.String("OU=b,O=c,C=CN")}, "InvalidParameter", 400},
		{"malformed DN", &kms.CreateCertificateRequest{KeySpec: tea.String("EC_P256"), Subject: tea.String("CN=a,OU=b,O=c,C=CN,\\")}, "InvalidParameter", 400},
		{"11 SANs", &kms.CreateCertificateRequest{KeySpec: tea.String("EC_P256"), Subject: tea.String("CN=a,OU=b,O=c,C=CN"), SubjectAlternativeNames: elevenSANs}, "InvalidParameter", 400},
	}
	for _, tc := range creates {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.CreateCertificate(tc.req)
			wantAPIError(t, err, tc.code, tc.status)
		})
	}
	t.Run("certificate for another key", func(t *testing.T) {
		other, err := c.CreateCertificate(&kms.CreateCertificateRequest{KeySpec: tea.String("EC_P256"), Subject: tea.String("CN=x,OU=b,O=c,C=CN")})
		if err != nil {
			t.Fatal(err)
		}
		defer c.DeleteCertificate(&kms.DeleteCertificateRequest{CertificateId: other.Body.CertificateId})
		ca := newTestCA(t, "EC")
		_, err = c.UploadCertificate(&kms.UploadCertificateRequest{CertificateId: good.Body.CertificateId, Certificate: tea.String(ca.sign(t, tea.StringValue(other.Body.Csr))), CertificateChain: tea.String(ca.pem)})
		wantAPIError(t, err, "InvalidParameter.CertificatePublicKey", 400)
		d, _ := c.DescribeCertificate(&kms.DescribeCertificateRequest{CertificateId: good.Body.CertificateId})
		if tea.StringValue(d.Body.Status) != "PENDING" {
			t.Fatal("a refused upload changed the status")
		}
	})
	t.Run("unknown CertificateId", func(t *testing.T) {
		_, err := c.DescribeCertificate(&kms.DescribeCertificateRequest{CertificateId: tea.String("00000000-0000-0000-0000-000000000000")})
		wantAPIError(t, err, "Forbidden.ResourceNotFound", 404)
	})
	t.Run("wrong secret", func(t *testing.T) {
		bad := *e
		ak := *e.AK
		ak.AccessKeySecret = "not-the-secret"
		bad.AK = &ak
		_, err := bad.kmsClient(t, "").CreateCertificate(&kms.CreateCertificateRequest{KeySpec: tea.String("EC_P256"), Subject: tea.String("CN=a,OU=b,O=c,C=CN")})
		wantAPIError(t, err, "SignatureDoesNotMatch", 400)
	})
	t.Run("unknown AccessKeyId", func(t *testing.T) {
		bad := *e
		bad.AK = &certmgr.NewAccessKey{AccessKeyID: "LTAInobodyhasthiskey", AccessKeySecret: "x"}
		_, err := bad.kmsClient(t, "v2").CreateCertificate(&kms.CreateCertificateRequest{KeySpec: tea.String("EC_P256"), Subject: tea.String("CN=a,OU=b,O=c,C=CN")})
		wantAPIError(t, err, "InvalidAccessKeyId.NotFound", 404)
	})
	if rows, keys := e.counts(t); rows != rows0+0 || keys != keys0 {
		t.Fatalf("refused requests left rows %d→%d, token keys %d→%d", rows0, rows, keys0, keys)
	}
	if strings.Contains(e.Logs.String(), e.AK.AccessKeySecret) {
		t.Fatal("the AccessKey secret reached the log")
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func mustB64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func signViaAPI(t testing.TB, c *kms.Client, id, alg string, msg []byte) []byte {
	t.Helper()
	r, err := c.CertificatePrivateKeySign(&kms.CertificatePrivateKeySignRequest{CertificateId: tea.String(id), Algorithm: tea.String(alg), Message: tea.String(b64(msg)), MessageType: tea.String("RAW")})
	if err != nil {
		t.Fatalf("CertificatePrivateKeySign: %v", err)
	}
	return mustB64(t, tea.StringValue(r.Body.SignatureValue))
}

// verifyLocally checks a signature with the uploaded certificate's public key.
func verifyLocally(t testing.TB, leafPEM, family string, msg, sig []byte) {
	t.Helper()
	pub := certPublicKey(t, leafPEM)
	h := sha256.Sum256(msg)
	ok := false
	switch k := pub.(type) {
	case *rsa.PublicKey:
		ok = rsa.VerifyPSS(k, crypto.SHA256, h[:], sig, &rsa.PSSOptions{SaltLength: 32}) == nil
	case *ecdsa.PublicKey:
		ok = ecdsa.VerifyASN1(k, h[:], sig)
	case *sm2.PublicKey:
		ok = k.Verify(msg, sig)
	}
	if !ok {
		t.Fatalf("%s signature does not verify with the certificate's public key", family)
	}
}

// digestFor computes what MessageType=DIGEST expects: SHA-256(M), or for
// SM2 e = SM3(Z‖M) with the default user ID.
func digestFor(t testing.TB, family, leafPEM string, msg []byte) []byte {
	if family == "SM2" {
		e, err := certPublicKey(t, leafPEM).(*sm2.PublicKey).Sm3Digest(msg, nil)
		if err != nil {
			t.Fatal(err)
		}
		// gmsm returns e as a big integer's bytes: one time in 256 its
		// leading byte is zero and dropped. The digest is 32 bytes.
		return append(make([]byte, 32-len(e)), e...)
	}
	h := sha256.Sum256(msg)
	return h[:]
}

// opensslCSRPublicKey is the PEM public key openssl reads from a CSR.
func opensslCSRPublicKey(t testing.TB, csrPEM string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "req.pem")
	if err := os.WriteFile(p, []byte(csrPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("openssl", "req", "-in", p, "-noout", "-pubkey").Output()
	if err != nil {
		t.Fatalf("openssl req -pubkey: %v", err)
	}
	return string(out)
}

// opensslVerifyCSR checks a CSR's signature with openssl (reading its
// output: `openssl req -verify` exits 0 even on a bad signature) and that
// it carries the subject and SANs.
func opensslVerifyCSR(t testing.TB, csrPEM string, sm2 bool, subject, sans []string) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl not found: apt-get install openssl")
	}
	p := filepath.Join(t.TempDir(), "req.pem")
	if err := os.WriteFile(p, []byte(csrPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"req", "-in", p, "-noout", "-verify", "-text", "-nameopt", "RFC2253"}
	if sm2 {
		args = append(args, "-vfyopt", "distid:1234567812345678")
	}
	out, _ := exec.Command("openssl", args...).CombinedOutput()
	for _, want := range append(append([]string{"verify OK"}, subject...), sans...) {
		if !strings.Contains(string(out), want) {
			t.Fatalf("openssl req does not show %q:\n%s", want, out)
		}
	}
}
