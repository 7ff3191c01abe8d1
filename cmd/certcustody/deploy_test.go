package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnitVerifies: deploy/certcustody.service has the hardening
// the production section promises, its ExecStart uses the StateDirectory
// as the data directory, and `systemd-analyze verify` (the real tool, on
// a copy whose ExecStart names the binary built here) reports nothing.
func TestSystemdUnitVerifies(t *testing.T) {
	unit, err := os.ReadFile(filepath.Join("..", "..", "deploy", "certcustody.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"User=certcustody", "NoNewPrivileges=yes", "ProtectSystem=strict", "StateDirectory=certcustody", "StateDirectoryMode=0700",
		"--data-dir /var/lib/certcustody", "ExecReload=/bin/kill -HUP $MAINPID", "ExecStart=/usr/local/bin/certcustody "} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze not found: apt-get install systemd")
	}
	bin := buildBinary(t)
	copyPath := filepath.Join(t.TempDir(), "certcustody.service")
	if err := os.WriteFile(copyPath, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/certcustody", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "verify", copyPath).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
