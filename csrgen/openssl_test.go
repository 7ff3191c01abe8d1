package csrgen

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sm2DistID is the GM/T 0009 default user ID. OpenSSL 3.0 verifies an SM2
// signature with an empty ID unless told otherwise, so every openssl call
// that checks an SM2 signature passes "-vfyopt distid:1234567812345678"
// (req -verify, verify) or "-sigopt distid:..." when signing. No "-sm3" is
// needed to verify: the digest comes from the signature algorithm.
const sm2DistID = "distid:1234567812345678"

// openssl runs the openssl binary and returns stdout and stderr together.
// A missing binary fails the test: interop is not optional.
func openssl(t *testing.T, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl not found; install openssl: apt-get install openssl")
	}
	out, err := exec.Command(path, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// opensslVerifyCSR runs "openssl req -verify" on a PEM request and returns
// its output. It exits 0 even when the signature is bad, so callers look for
// "verify OK" in the output, never at the exit status.
func opensslVerifyCSR(t *testing.T, pemText string, sm2 bool) string {
	t.Helper()
	f := writeTemp(t, "req.pem", []byte(pemText))
	args := []string{"req", "-in", f, "-noout", "-verify"}
	if sm2 {
		args = append(args, "-vfyopt", sm2DistID)
	}
	return openssl(t, args...)
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(f, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// writeKeyPEM writes a Go private key as PKCS#8 PEM for openssl -key.
func writeKeyPEM(t *testing.T, key crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writeTemp(t, "key.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}
