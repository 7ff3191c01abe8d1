package keystore

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certcustody/certcustody/softhsm"
	"github.com/certcustody/certcustody/softhsm/softhsmtest"
	"github.com/miekg/pkcs11"
	"github.com/tjfoc/gmsm/sm2"
	gmx509 "github.com/tjfoc/gmsm/x509"
)

var tokens *softhsm.Dir

func TestMain(m *testing.M) {
	d, cleanup := softhsmtest.Open("keystore")
	tokens = d
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// newStore opens a Store on a fresh token of its own.
func newStore(t testing.TB) (*Store, *softhsm.Token) {
	t.Helper()
	return newStoreWith(t, nil)
}

// newStoreWith is newStore with the Config adjusted by edit.
func newStoreWith(t testing.TB, edit func(*Config)) (*Store, *softhsm.Token) {
	t.Helper()
	tok := softhsmtest.Token(t, tokens)
	cfg := Config{Module: tok.Module, TokenLabel: tok.Label, PIN: tok.PIN, AllowSoftwareSM2: true}
	if edit != nil {
		edit(&cfg)
	}
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open keystore: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, tok
}

// rawToken is a direct PKCS#11 view of a token, bypassing keystore, so tests
// can check what the token itself enforces.
type rawToken struct {
	ctx *pkcs11.Ctx
	sh  pkcs11.SessionHandle
}

func openRaw(t testing.TB, tok *softhsm.Token) *rawToken {
	t.Helper()
	ctx, sh := softhsmtest.RawSession(t, tok)
	return &rawToken{ctx: ctx, sh: sh}
}

func (r *rawToken) find(t testing.TB, id string, class uint) pkcs11.ObjectHandle {
	t.Helper()
	if err := r.ctx.FindObjectsInit(r.sh, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_ID, []byte(id)), pkcs11.NewAttribute(pkcs11.CKA_CLASS, class)}); err != nil {
		t.Fatal(err)
	}
	hs, _, err := r.ctx.FindObjects(r.sh, 2)
	r.ctx.FindObjectsFinal(r.sh)
	if err != nil || len(hs) != 1 {
		t.Fatalf("find %s class %d: %d objects, %v", id, class, len(hs), err)
	}
	return hs[0]
}

func (r *rawToken) boolAttr(t testing.TB, h pkcs11.ObjectHandle, typ uint) bool {
	t.Helper()
	a, err := r.ctx.GetAttributeValue(r.sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(typ, nil)})
	if err != nil {
		t.Fatalf("read attribute 0x%x: %v", typ, err)
	}
	return attrBool(a[0])
}

// writePublicPEM writes a public key as a PEM SubjectPublicKeyInfo file.
func writePublicPEM(t testing.TB, dir string, pub any) string {
	t.Helper()
	var der []byte
	var err error
	switch k := pub.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey:
		der, err = x509.MarshalPKIXPublicKey(k)
	case *sm2.PublicKey:
		der, err = gmx509.MarshalSm2PublicKey(k)
	}
	if err != nil || der == nil {
		t.Fatalf("marshal public key %T: %v", pub, err)
	}
	p := filepath.Join(dir, "pub.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// runTool runs a real tool and returns its combined output; a missing tool
// fails the test with an install hint.
func runTool(t testing.TB, name string, args ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		hint := map[string]string{"openssl": "apt-get install openssl", "pkcs11-tool": "apt-get install opensc"}[name]
		t.Fatalf("%s not found: %s", name, hint)
	}
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// findAll returns every object matching the template.
func (r *rawToken) findAll(t testing.TB, template ...*pkcs11.Attribute) []pkcs11.ObjectHandle {
	t.Helper()
	if err := r.ctx.FindObjectsInit(r.sh, template); err != nil {
		t.Fatal(err)
	}
	defer r.ctx.FindObjectsFinal(r.sh)
	var out []pkcs11.ObjectHandle
	for {
		hs, _, err := r.ctx.FindObjects(r.sh, 256)
		if err != nil {
			t.Fatal(err)
		}
		if len(hs) == 0 {
			return out
		}
		out = append(out, hs...)
	}
}

// attr reads one attribute's raw value.
func (r *rawToken) attr(t testing.TB, h pkcs11.ObjectHandle, typ uint) []byte {
	t.Helper()
	a, err := r.ctx.GetAttributeValue(r.sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(typ, nil)})
	if err != nil {
		t.Fatalf("read attribute 0x%x: %v", typ, err)
	}
	return a[0].Value
}
