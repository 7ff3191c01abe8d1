package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/certcustody/certcustody/pgcluster/pgclustertest"
	"github.com/certcustody/certcustody/server"
	"github.com/certcustody/certcustody/softhsm"
	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// clusterToken is one SoftHSM token directory that several nodes share,
// as several nodes share one HSM.
type clusterToken struct {
	conf, module, label, pinFile string
}

// newClusterToken makes a token with the real softhsm2-util, in a process
// of its own: this test process must not load SoftHSM with another
// configuration.
func newClusterToken(t *testing.T) *clusterToken {
	t.Helper()
	dir := t.TempDir()
	module, err := softhsm.FindModule()
	if err != nil {
		t.Fatalf("%v (%s)", err, softhsm.InstallHint)
	}
	tok := &clusterToken{conf: filepath.Join(dir, "softhsm2.conf"), module: module, label: "cluster", pinFile: filepath.Join(dir, "pin")}
	if err := os.MkdirAll(filepath.Join(dir, "tokens"), 0o700); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", filepath.Join(dir, "tokens"))
	if err := os.WriteFile(tok.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	pin := softhsm.RandomPIN()
	if err := os.WriteFile(tok.pinFile, []byte(pin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		t.Fatalf("softhsm2-util not found (%s)", softhsm.InstallHint)
	}
	cmd := exec.Command(util, "--init-token", "--free", "--label", tok.label, "--pin", pin, "--so-pin", softhsm.RandomPIN())
	cmd.Env = append(os.Environ(), softhsm.ConfEnv+"="+tok.conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	return tok
}

// node is one `certcustody serve` process of a cluster.
type node struct {
	name, dataDir, addr string
	cmd                 *exec.Cmd
	log                 *lockedLog
	exited              chan struct{} // closed when the process has exited
	err                 error         // its exit, once exited is closed
}

type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newNode writes a node's data directory and config: the shared database
// and token, its own listen address.
func newNode(t *testing.T, name, dbURL string, tok *clusterToken) *node {
	t.Helper()
	n := &node{name: name, dataDir: filepath.Join(t.TempDir(), name), addr: freeAddr(t), log: &lockedLog{}}
	if err := os.MkdirAll(n.dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("listen: %s\ndatabase:\n  url: %q\npkcs11:\n  module: %s\n  token_label: %s\n  pin_file: %s\nkeystore:\n  allow_software_sm2: true\nthrottle:\n  qps: 1000000\n",
		n.addr, dbURL, tok.module, tok.label, tok.pinFile)
	if err := os.WriteFile(filepath.Join(n.dataDir, "config.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *node) env(tok *clusterToken) []string {
	return append(os.Environ(), softhsm.ConfEnv+"="+tok.conf)
}

// start runs the node's serve; ready waits for it.
func (n *node) start(t *testing.T, bin string, tok *clusterToken) {
	t.Helper()
	n.cmd = exec.Command(bin, "--data-dir", n.dataDir, "serve")
	n.cmd.Env = n.env(tok)
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.exited = make(chan struct{})
	go func() { n.err = n.cmd.Wait(); close(n.exited) }()
	t.Cleanup(func() { n.stop(t) })
}

func (n *node) ready(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-n.exited:
			t.Fatalf("node %s exited: %v\n%s", n.name, n.err, n.log.String())
		default:
		}
		if resp, err := http.Get("http://" + n.addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("node %s never became ready:\n%s", n.name, n.log.String())
}

// stop ends the node with SIGTERM and waits for a clean exit.
func (n *node) stop(t *testing.T) {
	if n.cmd == nil {
		return
	}
	select {
	case <-n.exited:
		return // stopped already (or died: ready reported it)
	default:
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	<-n.exited
	if n.err != nil {
		t.Errorf("node %s did not exit cleanly: %v\n%s", n.name, n.err, n.log.String())
	}
}

// signed builds a v1-signed form for an RPC call, so the very same
// request can be sent to either node.
func signed(ak map[string]string, version, action string, params map[string]string) url.Values {
	p := server.Params{"Action": action, "Version": version, "Format": "JSON", "AccessKeyId": ak["AccessKeyId"],
		"SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0", "SignatureNonce": uuid.NewString(),
		"Timestamp": time.Now().UTC().Format("2006-01-02T15:04:05Z")}
	for k, v := range params {
		p[k] = v
	}
	p["Signature"] = server.SignV1("POST", p, ak["AccessKeySecret"])
	form := url.Values{}
	for k, v := range p {
		form.Set(k, v)
	}
	return form
}

func (n *node) post(t *testing.T, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post("http://"+n.addr+"/", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := map[string]any{}
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// ok calls an action on the node and fails the test unless it succeeds.
func (n *node) ok(t *testing.T, ak map[string]string, version, action string, params map[string]string) map[string]any {
	t.Helper()
	status, m := n.post(t, signed(ak, version, action, params))
	if status != http.StatusOK {
		log := n.log.String()
		if len(log) > 3000 {
			log = log[len(log)-3000:]
		}
		t.Fatalf("%s on %s: %d %v\n%s", action, n.name, status, m, log)
	}
	return m
}

func str(v any) string { s, _ := v.(string); return s }

// startCluster builds the binary and starts two nodes, at the same
// moment, on a fresh PostgreSQL database and a fresh shared token.
func startCluster(t *testing.T) (bin, dbURL string, tok *clusterToken, a, b *node) {
	t.Helper()
	bin = buildBinary(t)
	pg, stopPG := pgclustertest.Start()
	t.Cleanup(stopPG)
	dbURL = pgclustertest.Database(t, pg)
	tok = newClusterToken(t)
	a, b = newNode(t, "a", dbURL, tok), newNode(t, "b", dbURL, tok)
	a.start(t, bin, tok)
	b.start(t, bin, tok)
	a.ready(t)
	b.ready(t)
	return bin, dbURL, tok, a, b
}

// bootstrapOf returns the bootstrap credentials, from whichever node made
// them.
func bootstrapOf(t *testing.T, nodes ...*node) map[string]string {
	t.Helper()
	for _, n := range nodes {
		if _, err := os.Stat(filepath.Join(n.dataDir, bootstrapFileName)); err == nil {
			return readBootstrap(t, n.dataDir)
		}
	}
	t.Fatal("no node made the bootstrap credentials")
	return nil
}

// TestTwoNodesOneService: two serve processes on one PostgreSQL database
// and one SoftHSM token, started at the same moment on empty ones, behave
// as one service.
func TestTwoNodesOneService(t *testing.T) {
	bin, dbURL, tok, a, b := startCluster(t)
	// First start: one bootstrap account, one set of service keys.
	var ak map[string]string
	boots := 0
	for _, n := range []*node{a, b} {
		if _, err := os.Stat(filepath.Join(n.dataDir, bootstrapFileName)); err == nil {
			boots++
			ak = readBootstrap(t, n.dataDir)
		}
	}
	if boots != 1 {
		t.Fatalf("%d nodes made a bootstrap account, want 1", boots)
	}
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var accounts int
	if err := db.QueryRow(`SELECT COUNT(*) FROM accounts`).Scan(&accounts); err != nil || accounts != 1 {
		t.Fatalf("%d accounts after a simultaneous first start (%v), want 1", accounts, err)
	}
	service := map[string]int{}
	for _, k := range tokenKeysIn(t, bin, a, tok) {
		if owner, _ := k["Owner"].(map[string]any); owner != nil && owner["Kind"] == "ServiceKey" {
			service[str(k["KeyId"])]++
		}
	}
	if len(service) != 3 {
		t.Fatalf("service keys in the shared token: %v, want one KEK, one wrapping key and one audit key", service)
	}

	// Both nodes registered; each enforces half of a user's rate.
	var live int
	if err := db.QueryRow(`SELECT COUNT(*) FROM nodes`).Scan(&live); err != nil || live != 2 {
		t.Fatalf("%d nodes registered (%v), want 2", live, err)
	}

	// A request replayed to the other node is refused.
	form := signed(ak, "2016-01-20", "ListCertificates", nil)
	if status, m := a.post(t, form); status != http.StatusOK {
		t.Fatalf("first send: %d %v", status, m)
	}
	if status, m := b.post(t, form); status != http.StatusBadRequest || m["Code"] != "SignatureNonceUsed" {
		t.Fatalf("replay to the other node: %d %v, want SignatureNonceUsed", status, m)
	}

	// A resource made on A is read, revoked and deleted on B at once.
	created := a.ok(t, ak, "2016-01-20", "CreateCertificate", map[string]string{"KeySpec": "EC_P256", "Subject": "CN=two,OU=ops,O=Example,C=CN"})
	id := str(created["CertificateId"])
	if d := b.ok(t, ak, "2016-01-20", "DescribeCertificate", map[string]string{"CertificateId": id}); d["Status"] != "PENDING" {
		t.Fatalf("B describes A's certificate as %v", d["Status"])
	}
	b.ok(t, ak, "2016-01-20", "DeleteCertificate", map[string]string{"CertificateId": id})
	if status, m := a.post(t, signed(ak, "2016-01-20", "DescribeCertificate", map[string]string{"CertificateId": id})); status != http.StatusNotFound {
		t.Fatalf("A still sees the certificate B deleted: %d %v", status, m)
	}

	// A revocation through A is on the next CRL fetched from B.
	subject := map[string]string{"CommonName": "Cluster Root", "Organization": "Example", "OrganizationUnit": "PKI", "Locality": "Hangzhou",
		"State": "Zhejiang", "CountryCode": "CN", "Algorithm": "ECC_256", "Years": "5"}
	root := a.ok(t, ak, "2020-06-30", "CreateRootCACertificate", subject)
	subject["CommonName"], subject["ParentIdentifier"], subject["Years"], subject["EnableCrl"] = "Cluster Sub", str(root["Identifier"]), "2", "true"
	sub := b.ok(t, ak, "2020-06-30", "CreateSubCACertificate", subject)
	leaf := a.ok(t, ak, "2020-06-30", "CreateServerCertificate", map[string]string{"ParentIdentifier": str(sub["Identifier"]),
		"Algorithm": "ECC_256", "CommonName": "node.example.com", "Domain": "node.example.com", "Days": "10"})
	before := fetch(t, "http://"+b.addr+"/crl/"+str(sub["Identifier"])+".crl")
	a.ok(t, ak, "2020-06-30", "CreateRevokeClientCertificate", map[string]string{"Identifier": str(leaf["Identifier"])})
	after := fetch(t, "http://"+b.addr+"/crl/"+str(sub["Identifier"])+".crl")
	serial := strings.ToUpper(str(leaf["SerialNumber"]))
	if strings.Contains(crlText(t, before), serial) || !strings.Contains(crlText(t, after), serial) {
		t.Fatalf("the revocation through A is not on B's next CRL (serial %s)", serial)
	}

	// An AccessKey disabled with the CLI is refused by both nodes.
	extra := map[string]string{}
	if err := json.Unmarshal([]byte(runCLIEnv(t, bin, a.env(tok), "--data-dir", a.dataDir, "accesskey", "create", "--account", "team-b")), &extra); err != nil {
		t.Fatal(err)
	}
	b.ok(t, extra, "2016-01-20", "ListCertificates", nil)
	runCLIEnv(t, bin, b.env(tok), "--data-dir", b.dataDir, "accesskey", "disable", extra["AccessKeyId"])
	for _, n := range []*node{a, b} {
		if status, m := n.post(t, signed(extra, "2016-01-20", "ListCertificates", nil)); status == http.StatusOK {
			t.Fatalf("node %s accepts a disabled AccessKey: %v", n.name, m)
		}
	}

	// Records from both nodes interleave under load: each node appends to
	// its own chain, without a lock the other waits on.
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := []*node{a, b}[i%2]
			if status, m := n.post(t, signed(ak, "2016-01-20", "CreateCertificate", map[string]string{"KeySpec": "EC_P256", "Subject": "CN=load,OU=ops,O=Example,C=CN"})); status != http.StatusOK {
				t.Errorf("load on %s: %d %v", n.name, status, m)
			}
		}()
	}
	wg.Wait()

	// The audit log, written by both nodes, verifies chain by chain; nodes
	// that stop leave the registry.
	a.stop(t)
	b.stop(t)
	if err := db.QueryRow(`SELECT COUNT(*) FROM nodes`).Scan(&live); err != nil || live != 0 {
		t.Fatalf("%d nodes still registered after both stopped (%v)", live, err)
	}
	var rep struct {
		Records int64
		Chains  []struct {
			Chain        string
			Records      int64
			UnsignedTail int64
		}
	}
	out := runCLIEnv(t, bin, a.env(tok), "--data-dir", a.dataDir, "audit", "verify")
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Chains) != 2 || rep.Chains[0].Records < 20 || rep.Chains[1].Records < 20 {
		t.Fatalf("audit verify of two nodes: %v\n%s", err, out)
	}
	for _, c := range rep.Chains {
		if c.UnsignedTail != 0 {
			t.Errorf("chain %s has %d unsigned records after a clean stop", c.Chain, c.UnsignedTail)
		}
	}
	// A record deleted from one node's chain is named by verify.
	if _, err := db.Exec(`DELETE FROM audit_log WHERE chain = $1 AND seq = 3`, rep.Chains[1].Chain); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--data-dir", a.dataDir, "audit", "verify")
	cmd.Env = a.env(tok)
	broken, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(broken), rep.Chains[1].Chain) || !strings.Contains(string(broken), "record 3") {
		t.Fatalf("audit verify after a deletion: %v\n%s", err, broken)
	}
}

// tokenKeysIn runs `token keys` with a node's configuration.
func tokenKeysIn(t *testing.T, bin string, n *node, tok *clusterToken) []map[string]any {
	t.Helper()
	var list []map[string]any
	out := runCLIEnv(t, bin, n.env(tok), "--data-dir", n.dataDir, "token", "keys")
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("token keys: %v\n%s", err, out)
	}
	return list
}

// runCLIEnv runs the binary with env and returns its stdout.
func runCLIEnv(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("certcustody %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func fetch(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return b
}

// crlText is openssl's reading of a DER CRL.
func crlText(t *testing.T, der []byte) string {
	t.Helper()
	cmd := exec.Command("openssl", "crl", "-inform", "DER", "-noout", "-text")
	cmd.Stdin = strings.NewReader(string(der))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openssl crl: %v\n%s", err, out)
	}
	return string(out)
}

// TestNodeKilledUnderLoad: one of two nodes is killed with SIGKILL while
// both issue certificates; the other keeps answering, every acknowledged
// certificate is there, no serial repeats, and the audit log verifies
// (the dead node's unsigned tail is reported, not a break).
func TestNodeKilledUnderLoad(t *testing.T) {
	bin, dbURL, tok, a, b := startCluster(t)
	ak := bootstrapOf(t, a, b)
	subject := map[string]string{"CommonName": "Kill Root", "Organization": "Example", "OrganizationUnit": "PKI", "Locality": "Hangzhou",
		"State": "Zhejiang", "CountryCode": "CN", "Algorithm": "ECC_256", "Years": "5"}
	root := a.ok(t, ak, "2020-06-30", "CreateRootCACertificate", subject)
	subject["CommonName"], subject["ParentIdentifier"], subject["Years"] = "Kill Sub", str(root["Identifier"]), "2"
	sub := str(a.ok(t, ak, "2020-06-30", "CreateSubCACertificate", subject)["Identifier"])

	var mu sync.Mutex
	acked := map[string]string{} // identifier → serial
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := []*node{a, b}[i%2]
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				form := signed(ak, "2020-06-30", "CreateServerCertificate", map[string]string{"ParentIdentifier": sub, "Algorithm": "ECC_256",
					"CommonName": "kill.example.com", "Domain": "kill.example.com", "Days": "5"})
				resp, err := http.Post("http://"+n.addr+"/", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
				if err != nil {
					continue // the killed node's connections fail: not acknowledged
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var m map[string]any
				if resp.StatusCode == http.StatusOK && json.Unmarshal(body, &m) == nil {
					mu.Lock()
					acked[str(m["Identifier"])] = str(m["SerialNumber"])
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond) // load on both nodes before the kill
	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-a.exited
	mu.Lock()
	atKill := len(acked)
	mu.Unlock()
	time.Sleep(1500 * time.Millisecond) // B alone
	close(stop)
	wg.Wait()
	if atKill == 0 || len(acked) <= atKill {
		t.Fatalf("acknowledged %d certificates before the kill and %d in all: B did not keep answering", atKill, len(acked))
	}
	for id := range acked {
		if status, m := b.post(t, signed(ak, "2020-06-30", "DescribeClientCertificate", map[string]string{"Identifier": id})); status != http.StatusOK {
			t.Fatalf("acknowledged certificate %s is gone after the kill: %d %v", id, status, m)
		}
	}
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var dup int
	if err := db.QueryRow(`SELECT COUNT(*) FROM (SELECT issuer_identifier, serial FROM issued_certificates GROUP BY issuer_identifier, serial HAVING COUNT(*) > 1) d`).Scan(&dup); err != nil || dup != 0 {
		t.Fatalf("%d repeated serials (%v)", dup, err)
	}
	b.stop(t)
	var rep struct {
		Verified bool
		Chains   []struct{ Chain string }
	}
	out := runCLIEnv(t, bin, b.env(tok), "--data-dir", b.dataDir, "audit", "verify")
	if err := json.Unmarshal([]byte(out), &rep); err != nil || !rep.Verified || len(rep.Chains) != 2 {
		t.Fatalf("audit verify after a node was killed: %v\n%s", err, out)
	}
}
