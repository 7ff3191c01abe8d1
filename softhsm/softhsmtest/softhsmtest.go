// Package softhsmtest gives test packages a SoftHSM token directory and one
// token per test. It lives apart from package softhsm so that the production
// binary does not link the testing package.
package softhsmtest

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/certcustody/certcustody/softhsm"
	"github.com/miekg/pkcs11"
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

// RawSession opens a read-write session on tok, logged in as the user, with
// the PKCS#11 library itself rather than through keystore: tests use it to
// plant objects or to ask what the token itself enforces. The session
// closes when the test ends.
func RawSession(t testing.TB, tok *softhsm.Token) (*pkcs11.Ctx, pkcs11.SessionHandle) {
	t.Helper()
	ctx := pkcs11.New(tok.Module)
	if err := ctx.Initialize(); err != nil && !isCKR(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		t.Fatal(err)
	}
	sh, err := ctx.OpenSession(tok.Slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctx.CloseSession(sh) })
	if err := ctx.Login(sh, pkcs11.CKU_USER, tok.PIN); err != nil && !isCKR(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
		t.Fatal(err)
	}
	return ctx, sh
}

func isCKR(err error, code uint) bool {
	var e pkcs11.Error
	return errors.As(err, &e) && uint(e) == code
}
