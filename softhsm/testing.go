package softhsm

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
)

var testSeq atomic.Uint64

// OpenForTests opens a fresh token directory for a test package; call it from
// TestMain. It returns the Dir and a cleanup that removes the directory. On
// failure (SoftHSM missing) it prints the install hint and exits non-zero:
// a missing real token is a failure, never a skip.
func OpenForTests(pkg string) (*Dir, func()) {
	path, err := os.MkdirTemp("", "certcustody-"+pkg+"-softhsm-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "softhsm:", err)
		os.Exit(1)
	}
	d, err := Open(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%v\n%s\n", err, InstallHint)
		os.RemoveAll(path)
		os.Exit(1)
	}
	return d, func() { os.RemoveAll(path) }
}

// NewTestToken creates a token for one test, labelled after it (tokens of one
// package share the Dir, so labels carry a sequence number).
func (d *Dir) NewTestToken(t testing.TB) *Token {
	t.Helper()
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	label := fmt.Sprintf("%d-%s", testSeq.Add(1), name)
	if len(label) > 32 {
		label = label[:32]
	}
	tok, err := d.CreateToken(label, "")
	if err != nil {
		t.Fatalf("create SoftHSM token: %v (%s)", err, InstallHint)
	}
	return tok
}
