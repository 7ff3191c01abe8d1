package main

import (
	"context"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certcustody/certcustody/certmgr"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConfigProblems: each mistake is one line naming the key path, with
// the nearest known key for a typo, and never a Go type dump.
func TestConfigProblems(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"typo", "pkcs11:\n  modul: /usr/lib/x.so\n", "pkcs11.modul: unknown key; did you mean pkcs11.module? (line 2)"},
		{"typo at the top", "listne: 127.0.0.1:1\n", "listne: unknown key; did you mean listen? (line 1)"},
		{"key at the wrong level", "module: /usr/lib/x.so\n", "module: unknown key here; did you mean pkcs11.module? (line 1)"},
		{"nothing near", "zzzzzz: 1\n", "zzzzzz: unknown key (known here: auth, database, keystore, kms, listen, pkcs11, public_url, region, throttle, tls, trusted_proxies) (line 1)"},
		{"typo in tls", "tls:\n  client_ca: x.pem\n", "tls.client_ca: unknown key; did you mean tls.client_ca_file? (line 2)"},
		{"integer", "throttle:\n  qps: ten\n", `throttle.qps: want an integer, got "ten" (line 2)`},
		{"map value", "throttle:\n  by_action:\n    CreateCertificate: fast\n", `throttle.by_action.CreateCertificate: want an integer, got "fast" (line 3)`},
		{"bool", "tls:\n  allow_plaintext: sometimes\n", `tls.allow_plaintext: want true or false, got "sometimes" (line 2)`},
		{"list", "trusted_proxies: 10.0.0.0/8\n", `trusted_proxies: want a list, got "10.0.0.0/8" (line 1)`},
		{"section as scalar", "pkcs11: yes\n", `pkcs11: want a mapping of keys, got "yes" (line 1)`},
		{"proxy garbage", "trusted_proxies: [10.0.0.0/8, lb.example.com]\n", `trusted_proxies: trusted proxy "lb.example.com" is not a CIDR or an IP address`},
		{"plaintext on all interfaces", "listen: 0.0.0.0:8080\n", "listen: 0.0.0.0:8080 is not a loopback address and TLS is off"},
		{"plaintext on an empty host", "listen: :8080\n", "listen: :8080 is not a loopback address and TLS is off"},
		{"plaintext on a name", "listen: pki.example.com:8080\n", "is not a loopback address"},
		{"tls key kind", "tls:\n  key: hsm\n", `tls.key: want "token"`},
		{"key file without cert", "tls:\n  key_file: k.pem\n", "tls.cert_file: required with tls.key_file"},
		{"token and key file", "tls:\n  key: token\n  key_file: k.pem\n", "tls.key_file: set together with tls.key: token"},
		{"token algorithm", "tls:\n  key: token\n  key_algorithm: EC_SM2\n", "tls.key_algorithm: want one of EC_P256"},
		{"client auth word", "tls:\n  key: token\n  client_ca_file: ca.pem\n  client_auth: maybe\n", "tls.client_auth: want require or verify_if_given"},
		{"client auth without CA", "tls:\n  key: token\n  client_auth: require\n", "tls.client_ca_file: required with tls.client_auth"},
		{"client CA without TLS", "tls:\n  client_ca_file: ca.pem\n", "tls.client_ca_file: client certificates need TLS"},
		{"bad name", "tls:\n  key: token\n  names: [ok.example.com, 'bad name']\n", "tls.names[1]: not a DNS name or an IP address"},
		{"database", "database:\n  url: mysql://db/x\n", "database.url: want a postgres:// or postgresql:// URL"},
		{"PIN for the embedded token", "pkcs11:\n  pin: '1234'\n", "pkcs11.pin: set without pkcs11.module"},
		{"bad YAML", "pkcs11: [\n", "not valid YAML"},
		{"pool of SM2", "keystore:\n  pool:\n    EC_SM2:\n      exportable: 1\n", "keystore.pool.EC_SM2: EC_SM2 is not pooled"},
		{"pool of another KeySpec", "keystore:\n  pool:\n    RSA_4096:\n      exportable: 1\n", "keystore.pool.RSA_4096: not a pooled KeySpec; want one of RSA_2048, EC_P256"},
		{"pool size", "keystore:\n  pool:\n    RSA_2048:\n      non_exportable: -1\n", "keystore.pool.RSA_2048.non_exportable: want 0 (off) to 10000 keys"},
		{"pool too big", "keystore:\n  pool:\n    EC_P256: {exportable: 10001}\n", "keystore.pool.EC_P256.exportable: want 0 (off) to 10000 keys"},
		{"pool typo", "keystore:\n  pool:\n    RSA_2048:\n      exportible: 1\n", "keystore.pool.RSA_2048.exportible: unknown key; did you mean keystore.pool.RSA_2048.exportable? (line 4)"},
		{"pool as a number", "keystore:\n  pool:\n    RSA_2048: 8\n", `keystore.pool.RSA_2048: want a mapping of keys, got "8" (line 3)`},
		{"pool named twice", "keystore:\n  pool:\n    RSA_2048: {exportable: 1}\n    rsa_2048: {exportable: 2}\n", "keystore.pool.rsa_2048: named twice"},
		{"key custody class", "kms:\n  key_custody:\n    default: hsm\n", `kms.key_custody: default "hsm": want token or wrapped`},
		{"account key custody", "kms:\n  key_custody:\n    accounts: {\"123\": soft}\n", `kms.key_custody: account "123": "soft": want token or wrapped`},
		{"key custody typo", "kms:\n  key_custody:\n    acounts: {}\n", "kms.key_custody.acounts: unknown key"},
		{"unwrapped cache", "kms:\n  key_custody:\n    unwrapped_cache: -1\n", "kms.key_custody.unwrapped_cache: want 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, problems, err := readConfig(&globalFlags{dataDir: t.TempDir(), configFile: writeConfig(t, tc.yaml)})
			if err != nil {
				t.Fatal(err)
			}
			if len(problems) == 0 {
				t.Fatalf("no problem found, want %q", tc.want)
			}
			got := problems[0].String()
			if !strings.Contains(got, tc.want) {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
			for _, leak := range []string{"!!", "unmarshal", "main.config", "struct", "\n"} {
				if strings.Contains(got, leak) {
					t.Errorf("message %q contains %q", got, leak)
				}
			}
		})
	}
	for _, ok := range []string{"listen: '[::1]:8080'\n", "listen: localhost:8080\n", "listen: 0.0.0.0:8080\ntls:\n  allow_plaintext: true\n",
		"listen: 0.0.0.0:8443\ntls:\n  key: token\n", "tls:\n  cert_file: c.pem\n  key_file: k.pem\n", "",
		"keystore:\n  pool:\n    RSA_2048: {exportable: 8, non_exportable: 8}\n    ec_p256: {exportable: 0}\n"} {
		if _, problems, err := readConfig(&globalFlags{dataDir: t.TempDir(), configFile: writeConfig(t, ok)}); err != nil || len(problems) > 0 {
			t.Errorf("%q refused: %v %v", ok, err, problems)
		}
	}
}

// TestPINInEnvironmentWithEmbeddedToken: a PIN set in the environment
// while the embedded token is in use would be silently ignored; it is an
// error, and a configured module makes it valid.
func TestPINInEnvironmentWithEmbeddedToken(t *testing.T) {
	for _, env := range []string{"CERTCUSTODY_PKCS11_PIN", "CERTCUSTODY_PKCS11_PIN_FILE"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, "1234")
			_, err := loadConfig(&globalFlags{dataDir: t.TempDir()})
			if err == nil || !strings.Contains(err.Error(), env+": set in the environment, but no PKCS#11 module is configured") {
				t.Fatalf("got %v", err)
			}
			if strings.Contains(err.Error(), "1234") {
				t.Fatal("the error shows the PIN")
			}
			t.Setenv("CERTCUSTODY_PKCS11_MODULE", "/opt/hsm/libvendor.so")
			if _, err := loadConfig(&globalFlags{dataDir: t.TempDir()}); err != nil {
				t.Fatalf("with a module: %v", err)
			}
		})
	}
}

// TestProductionConfigChecks: testdata/config/production.yaml passes the
// check serve runs, and reads as HTTPS with the key in the token.
func TestProductionConfigChecks(t *testing.T) {
	c, problems, err := readConfig(&globalFlags{dataDir: t.TempDir(), configFile: filepath.Join("..", "..", "testdata", "config", "production.yaml")})
	if err != nil || len(problems) > 0 {
		t.Fatalf("production.yaml: %v %v", err, problems)
	}
	if transportOf(c) != "https" || c.TLS.Key != "token" || c.PKCS11.PINFile == "" || c.PKCS11.PIN != "" || !strings.HasPrefix(c.Database.URL, "postgres://") ||
		len(c.TrustedProxies) == 0 || !strings.HasPrefix(c.PublicURL, "https://") || c.PKCS11.Module == "" {
		t.Fatalf("production.yaml read as %+v", c)
	}
}

// TestServeRefusesPlaintextOnNonLoopback: serve on 0.0.0.0 without TLS
// stops before it opens the token or listens (so the test never listens
// on anything but loopback), with the fix in the message.
func TestServeRefusesPlaintextOnNonLoopback(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	err := serve(context.Background(), &globalFlags{dataDir: dir}, "0.0.0.0:18443")
	if err == nil || !strings.Contains(err.Error(), "not a loopback address and TLS is off") || !strings.Contains(err.Error(), "tls.allow_plaintext") {
		t.Fatalf("got %v, want a refusal naming the opt-in", err)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Error("the refused serve created the data directory (it opened the token)")
	}
}

// TestConfigCheckCommand runs the real binary: a misspelled key is one
// line on stderr and a non-zero exit, serve refuses the same file with
// the same words, and the production example passes.
func TestConfigCheckCommand(t *testing.T) {
	bin := buildBinary(t)
	dataDir := t.TempDir()
	bad := writeConfig(t, "pkcs11:\n  modul: /usr/lib/x.so\n")
	cmd := exec.Command(bin, "--data-dir", dataDir, "config", "check", "--config", bad)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err == nil || len(out) != 0 {
		t.Fatalf("config check on a typo: exit %v, stdout %q", err, out)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if lines[0] != "pkcs11.modul: unknown key; did you mean pkcs11.module? (line 2)" || len(lines) != 2 {
		t.Fatalf("stderr:\n%s", stderr.String())
	}
	serveCmd := exec.Command(bin, "--data-dir", filepath.Join(dataDir, "serve"), "--config", bad, "serve", "--listen", "127.0.0.1:0")
	serveOut, err := serveCmd.CombinedOutput()
	if err == nil || !strings.Contains(string(serveOut), "pkcs11.modul: unknown key; did you mean pkcs11.module? (line 2)") {
		t.Fatalf("serve with the same file: %v\n%s", err, serveOut)
	}
	prod := runCLI(t, bin, "--data-dir", dataDir, "config", "check", "--config", filepath.Join("..", "..", "testdata", "config", "production.yaml"))
	if !strings.Contains(prod, `"Transport": "https"`) || !strings.Contains(prod, `"Key": "token (EC_P256)"`) {
		t.Fatalf("config check production.yaml:\n%s", prod)
	}
	// A non-loopback plaintext listener with the opt-in: token status
	// marks it (serve would warn at every start and /readyz says the same).
	optIn := writeConfig(t, "listen: 0.0.0.0:8080\ntls:\n  allow_plaintext: true\n")
	status := runCLI(t, bin, "--data-dir", filepath.Join(t.TempDir(), "d"), "--config", optIn, "token", "status")
	if !strings.Contains(status, `"Transport": "http-plaintext"`) || !strings.Contains(status, `"TransportWarning": "plain HTTP on a non-loopback listener`) {
		t.Fatalf("token status with allow_plaintext:\n%s", status)
	}
}

// TestKMSKeyCustodyConfig: kms.key_custody reads into certmgr's per-account
// classes and the keystore's cache size, and `config check` reports it.
func TestKMSKeyCustodyConfig(t *testing.T) {
	c, err := loadConfig(&globalFlags{dataDir: t.TempDir(), configFile: writeConfig(t,
		"kms:\n  key_custody:\n    default: token\n    accounts: {\"1234\": wrapped}\n    unwrapped_cache: 64\n")})
	if err != nil {
		t.Fatal(err)
	}
	kc := c.kmsKeyCustody()
	if kc.Default != "token" || kc.Accounts["1234"] != "wrapped" || c.KMS.KeyCustody.UnwrappedCache != 64 {
		t.Fatalf("read %+v, cache %d", kc, c.KMS.KeyCustody.UnwrappedCache)
	}
	sum := configSummary(c)["KMSKeyCustody"].(map[string]any)
	if sum["Default"] != "token" || sum["Accounts"].(map[string]string)["1234"] != "wrapped" {
		t.Fatalf("summary %v", sum)
	}
	none, err := loadConfig(&globalFlags{dataDir: t.TempDir()})
	if err != nil || configSummary(none)["KMSKeyCustody"] != nil || none.kmsKeyCustody().Check() != nil {
		t.Fatalf("without configuration: %v, %v", configSummary(none)["KMSKeyCustody"], err)
	}
}

// TestKeyPoolConfig: keystore.pool reads into one pool per KeySpec and
// exportability (KeySpecs case-insensitive, size 0 or absent: off), and
// `config check` reports the pools serve would fill.
func TestKeyPoolConfig(t *testing.T) {
	c, problems, err := readConfig(&globalFlags{dataDir: t.TempDir(), configFile: writeConfig(t,
		"keystore:\n  pool:\n    RSA_2048: {exportable: 8, non_exportable: 4}\n    ec_p256: {non_exportable: 0}\n")})
	if err != nil || len(problems) > 0 {
		t.Fatalf("%v %v", err, problems)
	}
	want := map[certmgr.PoolSpec]int{{KeySpec: "RSA_2048", Exportable: true}: 8, {KeySpec: "RSA_2048"}: 4}
	if got := c.keyPool(); !maps.Equal(got, want) {
		t.Fatalf("pools %v, want %v", got, want)
	}
	if err := certmgr.CheckKeyPool(c.keyPool()); err != nil {
		t.Fatalf("certmgr refuses what the config check passed: %v", err)
	}
	sum := configSummary(c)["KeyPool"].(map[string]int)
	if !maps.Equal(sum, map[string]int{"RSA_2048/exportable": 8, "RSA_2048/non_exportable": 4}) {
		t.Fatalf("config check summary: %v", sum)
	}
	none, _, _ := readConfig(&globalFlags{dataDir: t.TempDir(), configFile: writeConfig(t, "")})
	if len(none.keyPool()) != 0 || configSummary(none)["KeyPool"] != nil {
		t.Fatal("pools without a configuration")
	}
}
