package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExampleConfigLoads: the example configuration names only keys the
// loader knows, and a misspelled key is refused instead of ignored.
func TestExampleConfigLoads(t *testing.T) {
	c, err := loadConfig(&globalFlags{dataDir: t.TempDir(), configFile: filepath.Join("..", "..", "testdata", "config", "example.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	if c.Throttle.QPS != 10 || c.Throttle.ByAction["DescribeCertificatePrivateKey"] != 2 || c.Region != "cn-hangzhou" ||
		c.Keystore.MaxTokenKeysPerAccount == nil || *c.Keystore.MaxTokenKeysPerAccount != 1000 ||
		len(c.Keystore.Pool) != 2 || len(c.keyPool()) != 0 {
		t.Fatalf("example config read as %+v", c)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("pkcs11:\n  modul: /usr/lib/x.so\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadConfig(&globalFlags{dataDir: t.TempDir(), configFile: bad}); err == nil || !strings.Contains(err.Error(), "modul") {
		t.Fatalf("a misspelled key was accepted: %v", err)
	}
}
