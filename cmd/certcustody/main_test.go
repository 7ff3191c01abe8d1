package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

// TestEmbeddedDefaultServeCallAccessKey runs what an operator does after
// `make run`: serve with the embedded default, then the signed `call`
// client, then `accesskey create` against the same data directory, and a
// clean shutdown.
func TestEmbeddedDefaultServeCallAccessKey(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	g := &globalFlags{dataDir: dataDir}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, g, addr) }()
	waitReady(t, "http://"+addr)

	fi, err := os.Stat(dataDir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir mode %v (%v), want 0700", fi.Mode().Perm(), err)
	}
	for _, f := range []string{"token.pin", bootstrapFileName, dbFileName, "softhsm2.conf"} {
		fi, err := os.Stat(filepath.Join(dataDir, f))
		if err != nil {
			t.Fatalf("%s missing: %v", f, err)
		}
		if (f == "token.pin" || f == bootstrapFileName) && fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var ready map[string]string
	json.NewDecoder(resp.Body).Decode(&ready)
	resp.Body.Close()
	if ready["custody"] != "development" {
		t.Fatalf("/readyz custody = %q, want development", ready["custody"])
	}
	// `make run` is unchanged: plain HTTP on loopback, no warning.
	if ready["transport"] != "http-loopback" || ready["warning"] != "" {
		t.Fatalf("/readyz transport = %q (warning %q), want http-loopback", ready["transport"], ready["warning"])
	}

	if err := call(g, "CreateCertificate", []string{"KeySpec=EC_P256", "Subject=CN=app,OU=ops,O=Example,C=CN"}, "", "http://"+addr); err != nil {
		t.Fatalf("call CreateCertificate: %v", err)
	}
	if err := call(g, "DescribeCertificate", []string{"CertificateId=00000000-0000-0000-0000-000000000000"}, "", "http://"+addr); err == nil {
		t.Fatal("call exits zero on an API error")
	}

	// accesskey create writes to the database the running server uses.
	other := &globalFlags{dataDir: dataDir}
	a, err := openApp(context.Background(), other)
	if err != nil {
		t.Fatal(err)
	}
	ak, err := a.mgr.CreateAccessKey(context.Background(), "team-b", "")
	a.Close()
	if err != nil {
		t.Fatal(err)
	}
	c := newAPIClient("http://"+addr, ak.AccessKeyID, ak.AccessKeySecret)
	out, err := c.doJSON("ListCertificates", "2016-01-20", nil)
	if err != nil {
		t.Fatalf("new AccessKey refused by the running server: %v", err)
	}
	if out["TotalCount"].(float64) != 0 {
		t.Fatalf("team-b sees another account's certificates: %v", out)
	}

	// accesskey disable and delete, run beside the server, take effect on
	// the server's next request, cached secret or not.
	for _, step := range []struct {
		run  func(a *app) error
		code string
	}{
		{func(a *app) error { return a.mgr.DisableAccessKey(context.Background(), ak.AccessKeyID) }, "InvalidAccessKeyId.Inactive"},
		{func(a *app) error { return a.mgr.DeleteAccessKey(context.Background(), ak.AccessKeyID) }, "InvalidAccessKeyId.NotFound"},
	} {
		a, err := openApp(context.Background(), other)
		if err != nil {
			t.Fatal(err)
		}
		err = step.run(a)
		a.Close()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.doJSON("ListCertificates", "2016-01-20", nil); err == nil || !strings.Contains(err.Error(), step.code) {
			t.Fatalf("after the change beside the server: %v, want %s", err, step.code)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve did not exit cleanly: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}

	// The calls above are audit records; the log verifies until a record is
	// edited behind the service's back.
	if _, err := os.Stat(filepath.Join(dataDir, auditKeyFileName)); err != nil {
		t.Fatalf("audit public key not exported: %v", err)
	}
	verify := func() error {
		root := newRootCmd()
		root.SetArgs([]string{"--data-dir", dataDir, "audit", "verify"})
		return root.Execute()
	}
	if err := verify(); err != nil {
		t.Fatalf("audit verify on an untouched log: %v", err)
	}
	// serve signed the log's head on the way out: no unsigned tail.
	va, err := openApp(context.Background(), other)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := va.mgr.AuditPublicKey(context.Background())
	if err != nil {
		va.Close()
		t.Fatal(err)
	}
	rep, err := va.mgr.VerifyAudit(context.Background(), pub)
	va.Close()
	if err != nil || rep.Records == 0 || rep.UnsignedTail != 0 {
		t.Fatalf("after shutdown: %+v %v, want a signed head", rep, err)
	}
	raw, err := sql.Open("sqlite3", filepath.Join(dataDir, dbFileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE audit_log SET resource = resource || '-edited' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if err := verify(); err == nil || !strings.Contains(err.Error(), "record 2") {
		t.Fatalf("audit verify after an edit: %v, want a failure naming record 2", err)
	}
}

func TestServeRefusesGroupReadableDataDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	err := serve(context.Background(), &globalFlags{dataDir: dir}, "127.0.0.1:0")
	if err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Fatalf("got %v, want a refusal naming the fix", err)
	}
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	for range 300 {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("server never became ready")
}
