package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	kms "github.com/alibabacloud-go/kms-20160120/v3/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/alibabacloud-go/tea/tea"

	"github.com/certcustody/certcustody/keystore"
)

// TestHTTPSWithTokenKeyEndToEnd is the issue's closing test, on the real
// binary: serve with tls.key: token on 127.0.0.1 and its certificate
// issued from our own subordinate CA (`tls issue`); the TLS key is
// non-extractable by pkcs11-tool's account and a service key by ours;
// the official SDKs (typed KMS with V3 and v1 signatures, generic RPC)
// work over https://127.0.0.1 with our root as their CA bundle;
// openssl s_client shows the chain and TLS 1.3; HTTP/2 and HTTP/1.1 are
// spoken, TLS 1.1 is not; spoofed forwarding headers from the untrusted
// 127.0.0.1 change neither RAM nor the audit record; a SIGHUP after a
// new `tls issue` serves the new certificate to new connections while a
// kept-alive connection goes on.
func TestHTTPSWithTokenKeyEndToEnd(t *testing.T) {
	for _, v := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"} {
		t.Setenv(v, "")
	}
	bin := buildBinary(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	addr := freeAddr(t)

	// A CA hierarchy of our own, made over the loopback plain-HTTP default.
	stop := startServe(t, bin, dataDir, addr)
	creds := readBootstrap(t, dataDir)
	c := newAPIClient("http://"+addr, creds["AccessKeyId"], creds["AccessKeySecret"])
	subject := map[string]string{"Organization": "Example", "OrganizationUnit": "PKI", "Locality": "Hangzhou", "State": "Zhejiang", "CountryCode": "CN", "Algorithm": "ECC_256"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range subject {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	root, err := c.doJSON("CreateRootCACertificate", "2020-06-30", with("CommonName", "E2E Root", "Years", "5"))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := c.doJSON("CreateSubCACertificate", "2020-06-30", with("CommonName", "E2E Issuing", "Years", "2", "ParentIdentifier", fmt.Sprint(root["Identifier"])))
	if err != nil {
		t.Fatal(err)
	}
	stop()
	rootPEM := fmt.Sprint(root["Certificate"])
	rootFile := filepath.Join(t.TempDir(), "root.pem")
	if err := os.WriteFile(rootFile, []byte(rootPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "config.yaml"), []byte("tls:\n  key: token\n  names: [127.0.0.1]\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	issue := func() map[string]any {
		t.Helper()
		var out map[string]any
		if err := json.Unmarshal([]byte(runCLI(t, bin, "--data-dir", dataDir, "tls", "issue", "--ca", fmt.Sprint(sub["Identifier"]), "--days", "30")), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	first := issue()
	if first["KeyId"] != keystore.TLSKeyID || first["CertFile"] != filepath.Join(dataDir, tlsChainFileName) {
		t.Fatalf("tls issue: %v", first)
	}
	// pkcs11-tool's account of the TLS key, and ours.
	access := pkcs11ToolAccess(t, pkcs11Tool(t, dataDir)("--login", "--list-objects", "--type", "privkey"), keystore.TLSKeyID)
	if access["extractable"] || !access["never extractable"] || !access["sensitive"] || !access["always sensitive"] {
		t.Errorf("pkcs11-tool shows the TLS key as %v", access)
	}
	if k := tokenKeys(t, bin, dataDir)[keystore.TLSKeyID]; k["Orphan"] != false || k["Extractable"] != false || k["Modifiable"] != false ||
		k["Owner"].(map[string]any)["Kind"] != "ServiceKey" {
		t.Errorf("token keys reports the TLS key as %v", k)
	}

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(rootPEM))
	tlsClient := func(h2 bool) *http.Client {
		return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil, ForceAttemptHTTP2: h2,
			TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	}
	base := "https://" + addr
	srv := startServeProcess(t, bin, dataDir, addr, func() bool {
		resp, err := tlsClient(false).Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	// /healthz and /readyz over HTTPS; HTTP/2 and HTTP/1.1.
	for _, h2 := range []bool{true, false} {
		resp, err := tlsClient(h2).Get(base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[bool]int{true: 2, false: 1}[h2]; resp.StatusCode != http.StatusOK || resp.ProtoMajor != want {
			t.Errorf("/healthz: %d over HTTP/%d, want 200 over HTTP/%d", resp.StatusCode, resp.ProtoMajor, want)
		}
	}
	var ready map[string]string
	resp, err := tlsClient(false).Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&ready)
	resp.Body.Close()
	if ready["transport"] != "https" || ready["warning"] != "" {
		t.Errorf("/readyz: %v", ready)
	}
	old := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	if conn, err := tls.Dial("tcp", addr, old); err == nil {
		conn.Close()
		t.Error("a TLS 1.1 handshake succeeded")
	}

	// openssl as oracle: the chain and TLS 1.3.
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl not found: apt-get install openssl (scripts/install-deps.sh)")
	}
	sc := exec.Command(openssl, "s_client", "-connect", addr, "-servername", "127.0.0.1", "-CAfile", rootFile, "-showcerts", "-tls1_3")
	sc.Stdin = strings.NewReader("")
	scOut, _ := sc.CombinedOutput()
	for _, want := range []string{"TLSv1.3", "Verify return code: 0 (ok)", "CN = 127.0.0.1", "CN = E2E Issuing", " 1 s:"} {
		if !strings.Contains(string(scOut), want) {
			t.Errorf("openssl s_client output lacks %q:\n%s", want, scOut)
		}
	}

	// The official SDKs over HTTPS with our root trusted. The SDK caches
	// one http.Client per host and timeouts (and keeps the TLS settings of
	// its first call), so each configuration here has its own timeout.
	sdk := func(sig string, timeout int) *openapi.Config {
		return &openapi.Config{AccessKeyId: tea.String(creds["AccessKeyId"]), AccessKeySecret: tea.String(creds["AccessKeySecret"]),
			Endpoint: tea.String(addr), Protocol: tea.String("https"), RegionId: tea.String("cn-hangzhou"), Ca: tea.String(rootPEM),
			ReadTimeout: tea.Int(timeout), SignatureAlgorithm: map[string]*string{"": nil, "v2": tea.String("v2")}[sig]}
	}
	for i, sig := range []string{"", "v2"} { // V3 (ACS3-HMAC-SHA256), then v1 (HMAC-SHA1)
		kc, err := kms.NewClient(sdk(sig, 30001+i))
		if err != nil {
			t.Fatal(err)
		}
		created, err := kc.CreateCertificate(&kms.CreateCertificateRequest{KeySpec: tea.String("EC_P256"), Subject: tea.String("CN=over-tls,OU=ops,O=Example,C=CN")})
		if err != nil {
			t.Fatalf("typed KMS SDK over HTTPS (signature %q): %v", sig, err)
		}
		if _, err := kc.DescribeCertificate(&kms.DescribeCertificateRequest{CertificateId: created.Body.CertificateId}); err != nil {
			t.Fatalf("typed KMS SDK over HTTPS (signature %q): %v", sig, err)
		}
	}
	rpc := func(cfg *openapi.Config, version, action string, query map[string]interface{}, headers map[string]string) (map[string]interface{}, error) {
		t.Helper()
		cl, err := openapi.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		h := map[string]*string{}
		for k, v := range headers {
			h[k] = tea.String(v)
		}
		res, err := cl.CallApi(&openapiutil.Params{Action: tea.String(action), Version: tea.String(version), Protocol: tea.String("HTTPS"), Pathname: tea.String("/"),
			Method: tea.String("POST"), AuthType: tea.String("AK"), Style: tea.String("RPC"), ReqBodyType: tea.String("formData"), BodyType: tea.String("json")},
			&openapiutil.OpenApiRequest{Query: openapiutil.Query(query), Headers: h}, &dara.RuntimeOptions{})
		if err != nil {
			return nil, err
		}
		body, _ := res["body"].(map[string]interface{})
		return body, nil
	}
	leafOut, err := rpc(sdk("", 30003), "2020-06-30", "CreateServerCertificate", map[string]interface{}{"ParentIdentifier": sub["Identifier"],
		"Algorithm": "ECC_256", "CommonName": "app.example.com", "Domain": "app.example.com", "Days": 10}, nil)
	if err != nil || leafOut["Identifier"] == nil {
		t.Fatalf("generic RPC SDK over HTTPS: %v %v", leafOut, err)
	}

	// Spoofed forwarding headers from 127.0.0.1, which is not a trusted
	// proxy: a key limited to 198.51.100.0/24 stays refused; a key that
	// needs TLS is allowed over TLS whatever X-Forwarded-Proto says.
	keyWith := func(policy string) map[string]string {
		t.Helper()
		pf := filepath.Join(t.TempDir(), "policy.json")
		if err := os.WriteFile(pf, []byte(policy), 0o600); err != nil {
			t.Fatal(err)
		}
		var ak map[string]string
		if err := json.Unmarshal([]byte(runCLI(t, bin, "--data-dir", dataDir, "accesskey", "create", "--policy", pf)), &ak); err != nil {
			t.Fatal(err)
		}
		return ak
	}
	spoof := map[string]string{"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "http"}
	netKey := keyWith(`{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"IpAddress":{"acs:SourceIp":"198.51.100.0/24"}}}]}`)
	cfg := sdk("", 30004)
	cfg.AccessKeyId, cfg.AccessKeySecret = tea.String(netKey["AccessKeyId"]), tea.String(netKey["AccessKeySecret"])
	if _, err := rpc(cfg, "2016-01-20", "ListCertificates", nil, spoof); err == nil || !strings.Contains(err.Error(), "Forbidden.RAM") {
		t.Errorf("a spoofed X-Forwarded-For from an untrusted peer passed an IpAddress condition: %v", err)
	}
	tlsKey := keyWith(`{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"Bool":{"acs:SecureTransport":"true"}}}]}`)
	cfg.AccessKeyId, cfg.AccessKeySecret = tea.String(tlsKey["AccessKeyId"]), tea.String(tlsKey["AccessKeySecret"])
	if _, err := rpc(cfg, "2016-01-20", "ListCertificates", nil, spoof); err != nil {
		t.Errorf("acs:SecureTransport over TLS (with a spoofed X-Forwarded-Proto: http): %v", err)
	}

	// SIGHUP: a kept-alive connection goes on; new connections get the
	// newly issued certificate.
	keep := tlsClient(false)
	serialOf := func(cl *http.Client) (string, bool) {
		t.Helper()
		reused := false
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }})
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return fmt.Sprintf("%x", resp.TLS.PeerCertificates[0].SerialNumber), reused
	}
	if s, _ := serialOf(keep); s != first["SerialNumber"] {
		t.Fatalf("serving serial %s, want %v", s, first["SerialNumber"])
	}
	second := issue()
	if err := srv.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	reloaded := false
	for range 200 {
		if s, _ := serialOf(tlsClient(false)); s == second["SerialNumber"] {
			reloaded = true
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if !reloaded {
		t.Fatal("new connections never got the new certificate after SIGHUP")
	}
	if s, reused := serialOf(keep); !reused || s != first["SerialNumber"] {
		t.Errorf("the kept-alive connection: reused=%v serial %s, want the first connection and certificate", reused, s)
	}
	stopProcess(t, srv)

	// The audit log: the spoofed call is recorded from 127.0.0.1, the
	// issuances as admin:IssueTLSCertificate, and the chain verifies.
	db, err := sql.Open("sqlite3", filepath.Join(dataDir, dbFileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var src string
	if err := db.QueryRow(`SELECT source_ip FROM audit_log WHERE access_key_id = ? AND action = '2016-01-20/ListCertificates' ORDER BY seq DESC LIMIT 1`, netKey["AccessKeyId"]).Scan(&src); err != nil || src != "127.0.0.1" {
		t.Errorf("the spoofed call's audit source IP: %q %v, want 127.0.0.1", src, err)
	}
	var issued int
	if err := db.QueryRow(`SELECT count(*) FROM audit_log WHERE action = 'admin:IssueTLSCertificate' AND code = 'OK'`).Scan(&issued); err != nil || issued != 2 {
		t.Errorf("%d admin:IssueTLSCertificate records (%v), want 2", issued, err)
	}
	runCLI(t, bin, "--data-dir", dataDir, "audit", "verify")
}

// startServeProcess runs `serve --listen addr` and waits until ready()
// holds; the test's cleanup stops it.
func startServeProcess(t *testing.T, bin, dataDir, addr string, ready func() bool) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "--data-dir", dataDir, "serve", "--listen", addr)
	logs := &lockedBuilder{b: &strings.Builder{}}
	cmd.Stdout, cmd.Stderr = io.Discard, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopProcess(t, cmd) })
	for range 300 {
		if ready() {
			return cmd
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("serve never became ready:\n%s", logs.String())
	return nil
}

// stopProcess sends SIGTERM once and waits for a clean exit.
func stopProcess(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if cmd.ProcessState != nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("serve did not exit cleanly: %v", err)
	}
}

// lockedBuilder is a strings.Builder safe to read while a process writes.
type lockedBuilder struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
