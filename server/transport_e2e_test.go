package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	kms "github.com/alibabacloud-go/kms-20160120/v3/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/alibabacloud-go/tea/tea"

	"github.com/certcustody/certcustody/certmgr/store"
)

// rpcCallHeaders is rpcCall with extra (unsigned) request headers, as a
// proxy in front would add them, over protocol ("HTTP" or "HTTPS") with
// cfg adjusted by edit.
func (e *env) rpcCallHeaders(t testing.TB, host, protocol string, edit func(*openapi.Config), version, action string, query map[string]interface{}, headers map[string]string) (map[string]interface{}, error) {
	t.Helper()
	cfg := sdkConfig(host, e.AK.AccessKeyID, e.AK.AccessKeySecret, "")
	cfg.Protocol = tea.String(strings.ToLower(protocol))
	if edit != nil {
		edit(cfg)
	}
	c, err := openapi.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	params := &openapiutil.Params{
		Action: tea.String(action), Version: tea.String(version), Protocol: tea.String(protocol), Pathname: tea.String("/"),
		Method: tea.String("POST"), AuthType: tea.String("AK"), Style: tea.String("RPC"), ReqBodyType: tea.String("formData"), BodyType: tea.String("json"),
	}
	h := map[string]*string{}
	for k, v := range headers {
		h[k] = tea.String(v)
	}
	res, err := c.CallApi(params, &openapiutil.OpenApiRequest{Query: openapiutil.Query(query), Headers: h}, &dara.RuntimeOptions{})
	if err != nil {
		return nil, err
	}
	body, _ := res["body"].(map[string]interface{})
	return body, nil
}

// lastCall returns the newest call record (not a token-key use) of action.
func (e *env) lastCall(t testing.TB, action string) *store.AuditRecord {
	t.Helper()
	var last *store.AuditRecord
	if err := e.DB.WalkAudit(context.Background(), func(r *store.AuditRecord) error {
		if r.Action == action {
			last = r
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if last == nil {
		t.Fatalf("no audit record of %s", action)
	}
	return last
}

// TestForwardedHeadersOnlyFromTrustedProxies drives the generic SDK with
// X-Forwarded-For and X-Forwarded-Proto set: from 127.0.0.1 when it is not
// a trusted proxy they change nothing (RAM's acs:SourceIp and
// acs:SecureTransport, the audit record's source IP); when 127.0.0.1 is
// trusted, the same headers decide all of them.
func TestForwardedHeadersOnlyFromTrustedProxies(t *testing.T) {
	ctx := context.Background()
	headers := map[string]string{"X-Forwarded-For": "10.1.2.3, 198.51.100.7", "X-Forwarded-Proto": "https"}
	const fromClientNet = `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"IpAddress":{"acs:SourceIp":"198.51.100.0/24"}}}]}`
	const overTLS = `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"Bool":{"acs:SecureTransport":"true"}}}]}`
	for _, tc := range []struct {
		name    string
		proxies []string
		allowed bool
		source  string
	}{
		{"untrusted peer", nil, false, "127.0.0.1"},
		{"another network trusted", []string{"10.0.0.0/8"}, false, "127.0.0.1"},
		{"trusted proxy", []string{"127.0.0.1/32"}, true, "198.51.100.7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp, err := ParseTrustedProxies(tc.proxies)
			if err != nil {
				t.Fatal(err)
			}
			e := newEnv(t, func(c *Config) { c.TrustedProxies = tp })
			for _, policy := range []string{fromClientNet, overTLS} {
				ak, err := e.Mgr.CreateAccessKey(ctx, "acme", policy)
				if err != nil {
					t.Fatal(err)
				}
				k := *e
				k.AK = ak
				_, err = k.rpcCallHeaders(t, e.Host, "HTTP", nil, "2016-01-20", "ListCertificates", nil, headers)
				if tc.allowed && err != nil {
					t.Fatalf("policy %s refused with forwarding from a trusted proxy: %v", policy, err)
				}
				if !tc.allowed {
					wantAPIError(t, err, "Forbidden.RAM", 403)
				}
				if rec := e.lastCall(t, "2016-01-20/ListCertificates"); rec.SourceIP != tc.source || rec.AccessKeyID != ak.AccessKeyID {
					t.Errorf("audit record source IP %q (key %s), want %q", rec.SourceIP, rec.AccessKeyID, tc.source)
				}
			}
			if !strings.Contains(e.Logs.String(), `"remote":"`+tc.source+`"`) {
				t.Errorf("the log does not name %s as the client", tc.source)
			}
		})
	}
}

// testPKI is a throwaway client-certificate CA and one client
// certificate under it, made in the test (the issuer of client
// certificates is the operator's business, not the server's).
type testPKI struct {
	pool            *x509.CertPool
	certPEM, keyPEM string
	subject         string
	// stranger has the same subject from a CA the server does not trust.
	strangerCert, strangerKey string
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	mk := func(subject pkix.Name, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
		tmpl := &x509.Certificate{SerialNumber: serial, Subject: subject, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			BasicConstraintsValid: true, IsCA: isCA, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		if parent == nil {
			parent, parentKey = tmpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c, key
	}
	pemOf := func(c *x509.Certificate, k *ecdsa.PrivateKey) (string, string) {
		kd, _ := x509.MarshalPKCS8PrivateKey(k)
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})), string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}))
	}
	ca, caKey := mk(pkix.Name{CommonName: "client CA"}, nil, nil, true)
	leaf, leafKey := mk(pkix.Name{CommonName: "ops-7", OrganizationalUnit: []string{"Ops"}, Organization: []string{"Example"}, Country: []string{"CN"}}, ca, caKey, false)
	otherCA, otherKey := mk(pkix.Name{CommonName: "other CA"}, nil, nil, true)
	stranger, strangerKey := mk(pkix.Name{CommonName: "ops-7", OrganizationalUnit: []string{"Ops"}, Organization: []string{"Example"}, Country: []string{"CN"}}, otherCA, otherKey, false)
	p := &testPKI{pool: x509.NewCertPool(), subject: leaf.Subject.String()}
	p.pool.AddCert(ca)
	p.certPEM, p.keyPEM = pemOf(leaf, leafKey)
	p.strangerCert, p.strangerKey = pemOf(stranger, strangerKey)
	return p
}

// TestClientCertificateOverHTTPS serves the API over TLS with optional
// client certificates and drives the official SDKs (typed KMS with V3
// and v1 signatures, generic RPC) at https://127.0.0.1 with the server's
// certificate as their CA bundle: a key whose policy requires
// acs:SecureTransport and acs:ClientCertSubject works only over TLS with
// that verified certificate; the audit record carries the subject; a
// certificate with the same subject from another CA is never taken for
// it; /metrics counts the transports.
func TestClientCertificateOverHTTPS(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	pki := newTestPKI(t)
	ts := httptest.NewUnstartedServer(e.Handler)
	ts.TLS = &tls.Config{ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pki.pool, MinVersion: tls.VersionTLS12}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	host := strings.TrimPrefix(ts.URL, "https://")
	caBundle := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}))

	policy := `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{
		"Bool":{"acs:SecureTransport":"true"},"StringLike":{"acs:ClientCertSubject":"CN=ops-*,OU=Ops,O=Example,C=CN"}}}]}`
	ak, err := e.Mgr.CreateAccessKey(ctx, "acme", policy)
	if err != nil {
		t.Fatal(err)
	}
	k := *e
	k.AK = ak
	// The SDK caches one http.Client per host and timeouts, and keeps the
	// TLS settings of the first call through it (tea v1.5.4 dara
	// getClientTag ignores Ca, Cert and Key): each TLS variant below gets
	// a timeout of its own so that it really makes its own handshake.
	variant := 0
	tlsWith := func(ca, cert, key string) func(*openapi.Config) {
		variant++
		timeout := 20000 + variant
		return func(c *openapi.Config) {
			c.Ca, c.Cert, c.Key, c.ReadTimeout = tea.String(ca), tea.String(cert), tea.String(key), tea.Int(timeout)
		}
	}
	withCert := tlsWith(caBundle, pki.certPEM, pki.keyPEM)
	if _, err := k.rpcCallHeaders(t, host, "HTTPS", withCert, "2016-01-20", "ListCertificates", nil, nil); err != nil {
		t.Fatalf("generic SDK over HTTPS with the client certificate: %v", err)
	}
	rec := e.lastCall(t, "2016-01-20/ListCertificates")
	if rec.ClientCert != pki.subject || rec.SourceIP != "127.0.0.1" || rec.Code != "OK" {
		t.Errorf("audit record: client cert %q source %q code %s, want %q", rec.ClientCert, rec.SourceIP, rec.Code, pki.subject)
	}
	for _, sig := range []string{"", "v2"} { // V3 (ACS3-HMAC-SHA256) and v1 (HMAC-SHA1)
		cfg := sdkConfig(host, ak.AccessKeyID, ak.AccessKeySecret, sig)
		cfg.Protocol = tea.String("https")
		withCert(cfg)
		c, err := kms.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		created, err := c.CreateCertificate(&kms.CreateCertificateRequest{KeySpec: tea.String("EC_P256"), Subject: tea.String("CN=tls,OU=ops,O=Example,C=CN")})
		if err != nil {
			t.Fatalf("typed KMS SDK over HTTPS (signature %q): %v", sig, err)
		}
		if _, err := c.DescribeCertificate(&kms.DescribeCertificateRequest{CertificateId: created.Body.CertificateId}); err != nil {
			t.Fatalf("typed KMS SDK over HTTPS (signature %q): %v", sig, err)
		}
	}

	// Without the certificate, and over plain HTTP, the policy refuses.
	_, err = k.rpcCallHeaders(t, host, "HTTPS", tlsWith(caBundle, "", ""), "2016-01-20", "ListCertificates", nil, nil)
	wantAPIError(t, err, "Forbidden.RAM", 403)
	if rec := e.lastCall(t, "2016-01-20/ListCertificates"); rec.ClientCert != "" {
		t.Errorf("a call without a certificate is recorded with %q", rec.ClientCert)
	}
	_, err = k.rpcCallHeaders(t, e.Host, "HTTP", nil, "2016-01-20", "ListCertificates", nil, nil)
	wantAPIError(t, err, "Forbidden.RAM", 403)
	// Same subject, wrong issuer: never accepted as that subject (Go's
	// client does not even present a certificate the server's acceptable
	// CAs did not issue, so the call arrives without one).
	_, err = k.rpcCallHeaders(t, host, "HTTPS", tlsWith(caBundle, pki.strangerCert, pki.strangerKey), "2016-01-20", "ListCertificates", nil, nil)
	if err == nil {
		t.Error("a certificate from an untrusted CA passed as the trusted subject")
	}
	if rec := e.lastCall(t, "2016-01-20/ListCertificates"); rec.ClientCert != "" {
		t.Errorf("a certificate from an untrusted CA is recorded as %q", rec.ClientCert)
	}
	// Without our CA bundle the SDK refuses the server.
	if _, err := k.rpcCallHeaders(t, host, "HTTPS", tlsWith("", "", ""), "2016-01-20", "ListCertificates", nil, nil); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("SDK without the CA bundle: %v, want a certificate error", err)
	}

	resp, err := http.Get(e.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `certcustody_requests_by_transport_total{client_cert="yes",forwarded="no",transport="https"}`) ||
		!strings.Contains(string(body), `certcustody_requests_by_transport_total{client_cert="no",forwarded="no",transport="http"}`) {
		t.Errorf("/metrics does not count the transports:\n%s", grepLine(string(body), "by_transport"))
	}
}

func grepLine(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
