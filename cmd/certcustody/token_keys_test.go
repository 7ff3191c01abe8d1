package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/certcustody/certcustody/softhsm"
	"github.com/google/uuid"
)

// The tests below run the real binary in processes of its own: SoftHSM
// reads its configuration once per process, and this test process may
// already use another token directory.

// TestTokenKeysProvesCustodyAndStartupSweep: a KMS key created
// non-exportable through the API is listed by `token keys` with its owner
// and the token's own proof (never extractable, always sensitive, not
// modifiable), which pkcs11-tool confirms; orphans are flagged; serve's
// start-up sweep destroys an old orphan and counts it on /metrics, keeps a
// young one and one of unknown age, and `token sweep --include-unknown-age`
// removes the latter.
func TestTokenKeysProvesCustodyAndStartupSweep(t *testing.T) {
	bin := buildBinary(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	addr := freeAddr(t)
	stop := startServe(t, bin, dataDir, addr)
	creds := readBootstrap(t, dataDir)
	c := newAPIClient("http://"+addr, creds["AccessKeyId"], creds["AccessKeySecret"])
	out, err := c.doJSON("CreateCertificate", "2016-01-20", map[string]string{
		"KeySpec": "EC_P256", "Subject": "CN=locked,OU=ops,O=Example,C=CN", "ExportablePrivateKey": "false"})
	if err != nil {
		t.Fatal(err)
	}
	certID := out["CertificateId"].(string)
	keyID := "kms-" + certID
	// Orphans: keys whose row never committed (as after kill -9).
	oldOrphan, youngOrphan, unknownAge := "kms-"+uuid.NewString(), "kms-"+uuid.NewString(), "kms-"+uuid.NewString()
	p11 := pkcs11Tool(t, dataDir)
	p11("--login", "--keypairgen", "--key-type", "EC:prime256v1", "--id", hex.EncodeToString([]byte(oldOrphan)),
		"--label", oldOrphan+"@"+time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
	p11("--login", "--keypairgen", "--key-type", "EC:prime256v1", "--id", hex.EncodeToString([]byte(youngOrphan)),
		"--label", youngOrphan+"@"+time.Now().UTC().Format(time.RFC3339))
	p11("--login", "--keypairgen", "--key-type", "EC:prime256v1", "--id", hex.EncodeToString([]byte(unknownAge)), "--label", unknownAge)
	stop()

	keys := tokenKeys(t, bin, dataDir)
	k, ok := keys[keyID]
	if !ok {
		t.Fatalf("token keys does not list %s: %v", keyID, keys)
	}
	owner, _ := k["Owner"].(map[string]any)
	if k["Orphan"] != false || owner["Kind"] != "KMSCertificate" || owner["Id"] != certID || owner["AccountId"] != creds["AccountId"] {
		t.Errorf("owner of %s: %v orphan=%v", keyID, owner, k["Orphan"])
	}
	for field, want := range map[string]any{"Class": "TOKEN", "ProtectionLevel": "HSM", "Token": true, "Sensitive": true, "AlwaysSensitive": true,
		"Extractable": false, "NeverExtractable": true, "Local": true, "Modifiable": false, "Exportable": false} {
		if k[field] != want {
			t.Errorf("%s: %s = %v, want %v", keyID, field, k[field], want)
		}
	}
	if m, _ := k["AllowedMechanisms"].([]any); len(m) != 1 || m[0] != "CKM_ECDSA" {
		t.Errorf("%s: AllowedMechanisms %v", keyID, k["AllowedMechanisms"])
	}
	for _, id := range []string{oldOrphan, youngOrphan, unknownAge} {
		if keys[id]["Orphan"] != true || keys[id]["Owner"] != nil {
			t.Errorf("%s not flagged as an orphan: %v", id, keys[id])
		}
	}
	if keys["certcustody-audit-1"]["Orphan"] != false {
		t.Errorf("audit key: %v", keys["certcustody-audit-1"])
	}

	// The real tool as oracle: the token's own flags for the same key.
	access := pkcs11ToolAccess(t, p11("--login", "--list-objects", "--type", "privkey"), keyID)
	for word, field := range map[string]string{"sensitive": "Sensitive", "always sensitive": "AlwaysSensitive",
		"extractable": "Extractable", "never extractable": "NeverExtractable", "local": "Local"} {
		if access[word] != (k[field] == true) {
			t.Errorf("pkcs11-tool shows %q=%v, token keys %s=%v", word, access[word], field, k[field])
		}
	}

	// --id selects one key.
	one := runCLI(t, bin, "--data-dir", dataDir, "token", "keys", "--id", keyID)
	var sel []map[string]any
	if err := json.Unmarshal([]byte(one), &sel); err != nil || len(sel) != 1 || sel[0]["KeyId"] != keyID {
		t.Fatalf("token keys --id: %v %s", err, one)
	}

	// serve's start-up sweep: the old orphan goes, and /metrics counts it.
	stop = startServe(t, bin, dataDir, addr)
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "\ncertcustody_orphan_keys_swept_total 1\n") {
		t.Errorf("/metrics does not count one swept key:\n%s", grepLines(string(body), "orphan"))
	}
	stop()
	keys = tokenKeys(t, bin, dataDir)
	if _, ok := keys[oldOrphan]; ok {
		t.Error("the old orphan survived serve's start-up sweep")
	}
	for _, id := range []string{keyID, youngOrphan, unknownAge} {
		if _, ok := keys[id]; !ok {
			t.Errorf("%s destroyed by the start-up sweep", id)
		}
	}
	if out := runCLI(t, bin, "--data-dir", dataDir, "token", "sweep", "--include-unknown-age"); !strings.Contains(out, `"Destroyed": 1`) {
		t.Errorf("token sweep --include-unknown-age: %s", out)
	}
	keys = tokenKeys(t, bin, dataDir)
	if _, ok := keys[unknownAge]; ok {
		t.Error("the orphan of unknown age survived the operator's sweep")
	}
	if _, ok := keys[youngOrphan]; !ok {
		t.Error("the young orphan did not survive the operator's sweep")
	}
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "certcustody")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServe runs `serve` until the returned stop is called (SIGTERM, then
// wait for a clean exit).
func startServe(t *testing.T, bin, dataDir, addr string) (stop func()) {
	t.Helper()
	cmd := exec.Command(bin, "--data-dir", dataDir, "serve", "--listen", addr)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitReady(t, "http://"+addr)
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("serve did not exit cleanly: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

func readBootstrap(t *testing.T, dataDir string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, bootstrapFileName))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// runCLI runs the binary and returns its stdout; a failure fails the test.
func runCLI(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("certcustody %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// tokenKeys runs `token keys` and returns its entries by KeyId.
func tokenKeys(t *testing.T, bin, dataDir string) map[string]map[string]any {
	t.Helper()
	var list []map[string]any
	out := runCLI(t, bin, "--data-dir", dataDir, "token", "keys")
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("token keys prints no JSON list: %v\n%s", err, out)
	}
	m := map[string]map[string]any{}
	for _, k := range list {
		m[k["KeyId"].(string)] = k
	}
	return m
}

// pkcs11Tool returns a runner of the real pkcs11-tool on the data
// directory's embedded token; a missing tool fails with an install hint.
func pkcs11Tool(t *testing.T, dataDir string) func(args ...string) string {
	t.Helper()
	tool, err := exec.LookPath("pkcs11-tool")
	if err != nil {
		t.Fatal("pkcs11-tool not found: apt-get install opensc (scripts/install-deps.sh)")
	}
	pin, err := os.ReadFile(filepath.Join(dataDir, pinFileName))
	if err != nil {
		t.Fatal(err)
	}
	module, err := softhsm.FindModule()
	if err != nil {
		t.Fatal(err)
	}
	return func(args ...string) string {
		t.Helper()
		cmd := exec.Command(tool, append([]string{"--module", module, "--token-label", embeddedLabel, "--pin", strings.TrimSpace(string(pin))}, args...)...)
		cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+filepath.Join(dataDir, "softhsm2.conf"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("pkcs11-tool %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
}

// pkcs11ToolAccess returns the words of the "Access:" line pkcs11-tool
// prints for the private key whose CKA_ID is id.
func pkcs11ToolAccess(t *testing.T, listing, id string) map[string]bool {
	t.Helper()
	idLine := "ID:         " + hex.EncodeToString([]byte(id))
	found := false
	sc := bufio.NewScanner(strings.NewReader(listing))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "Private Key Object") {
			found = false
		}
		if line == strings.TrimSpace(idLine) {
			found = true
		}
		if found && strings.HasPrefix(line, "Access:") {
			words := map[string]bool{}
			for _, w := range strings.Split(strings.TrimSpace(strings.TrimPrefix(line, "Access:")), ",") {
				words[strings.TrimSpace(w)] = true
			}
			return words
		}
	}
	t.Fatalf("pkcs11-tool lists no private key with ID %s:\n%s", id, listing)
	return nil
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return fmt.Sprint(out)
}
