// Package softhsmtest gives test packages a SoftHSM token directory and one
// token per test. It lives apart from package softhsm so that the production
// binary does not link the testing package.
package softhsmtest

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/certcustody/certcustody/softhsm"
)

var seq atomic.Uint64

// Open opens a fresh token directory for a test package; call it from
// TestMain. It returns the Dir and a cleanup that removes the directory. On
// failure (SoftHSM missing) it prints the install hint and exits non-zero:
// a missing real token is a failure, never a skip.
func Open(pkg string) (*softhsm.Dir, func()) {
	path, err := os.MkdirTemp("", "certcustody-"+pkg+"-softhsm-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "softhsm:", err)
		os.Exit(1)
	}
	d, err := softhsm.Open(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%v\n%s\n", err, softhsm.InstallHint)
		os.RemoveAll(path)
		os.Exit(1)
	}
	return d, func() { os.RemoveAll(path) }
}

// Token creates a token for one test, labelled after it (tokens of one
// package share the Dir, so labels carry a sequence number).
func Token(t testing.TB, d *softhsm.Dir) *softhsm.Token {
	t.Helper()
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	label := fmt.Sprintf("%d-%s", seq.Add(1), name)
	if len(label) > 32 {
		label = label[:32]
	}
	tok, err := d.CreateToken(label, "")
	if err != nil {
		t.Fatalf("create SoftHSM token: %v (%s)", err, softhsm.InstallHint)
	}
	return tok
}
