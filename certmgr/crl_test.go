package certmgr

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/certcustody/certcustody/certmgr/store"
	"github.com/certcustody/certcustody/csrgen"
)

// crlFixture is a root CA and a CRL-enabled subordinate CA on a real
// token, for issuing and revoking leaves.
type crlFixture struct {
	m     *Manager
	c     Caller
	sub   string
	subKy string // the sub CA's token key ID
	path  string // the database
}

func newCRLFixture(t *testing.T) *crlFixture {
	t.Helper()
	m, c, path := newManagerAt(t)
	ctx := context.Background()
	base := CreateCARequest{CommonName: "CRL Root", Organization: "o", OrganizationUnit: "ou", Locality: "l", State: "s", CountryCode: "CN", Algorithm: "ECC_256", Years: 5, EnableCrl: true}
	root, err := m.CreateRootCACertificate(ctx, c, base)
	if err != nil {
		t.Fatal(err)
	}
	base.CommonName, base.ParentIdentifier, base.Years = "CRL Sub", root.Identifier, 2
	sub, err := m.CreateSubCACertificate(ctx, c, base)
	if err != nil {
		t.Fatal(err)
	}
	row, err := m.sqlStore().GetCACertificate(ctx, c.AccountID, sub.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	return &crlFixture{m: m, c: c, sub: sub.Identifier, subKy: row.KeyID, path: path}
}

// leaf issues a client certificate from the sub CA and returns its
// Identifier and its serial as openssl prints it.
func (f *crlFixture) leaf(t testing.TB) (id, serial string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dn, err := csrgen.ParseDN("CN=leaf,OU=ou,O=o,C=CN")
	if err != nil {
		t.Fatal(err)
	}
	der, err := csrgen.CreateCSR(rand.Reader, csrgen.Request{Subject: dn}, key)
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.m.CreateClientCertificateWithCsr(context.Background(), f.c, IssueRequest{ParentIdentifier: f.sub, Csr: csrgen.EncodeCSRPEM(der), Days: 10})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode([]byte(res.Certificate))
	leaf, err := parseCert(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return res.Identifier, fmt.Sprintf("%X", leaf.Serial.Bytes()) // openssl prints whole bytes
}

func (f *crlFixture) revoke(t testing.TB, id string) {
	t.Helper()
	if err := f.m.CreateRevokeClientCertificate(context.Background(), f.c, id, "keyCompromise"); err != nil {
		t.Fatal(err)
	}
}

// onSign makes every signature with the sub CA's key call fn first; fn's
// error, if any, is the signature's. nil removes the hook.
func (f *crlFixture) onSign(fn func() error) {
	if fn == nil {
		f.m.signerHook.Store(nil)
		return
	}
	hook := func(keyID string, s crypto.Signer) crypto.Signer {
		if keyID != f.subKy {
			return s
		}
		return hookedSigner{Signer: s, before: fn}
	}
	f.m.signerHook.Store(&hook)
}

// hookedSigner is the real token signer with a function run before each
// signature.
type hookedSigner struct {
	crypto.Signer
	before func() error
}

func (s hookedSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if err := s.before(); err != nil {
		return nil, err
	}
	return s.Signer.Sign(r, digest, opts)
}

// opensslCRL is `openssl crl -text` of a DER CRL: the oracle for what a
// relying party reads from it.
func opensslCRL(t testing.TB, der []byte) string {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is needed to check CRLs: install it (apt-get install openssl)")
	}
	f := filepath.Join(t.TempDir(), "c.crl")
	if err := os.WriteFile(f, der, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("openssl", "crl", "-inform", "DER", "-in", f, "-noout", "-text").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl crl: %v\n%s", err, out)
	}
	return string(out)
}

func (f *crlFixture) fetch(t testing.TB) *CRLDocument {
	t.Helper()
	doc, err := f.m.CRL(context.Background(), f.sub)
	if err != nil {
		t.Fatalf("fetch CRL: %v", err)
	}
	return doc
}

func wantOnCRL(t testing.TB, doc *CRLDocument, why string, serials ...string) {
	t.Helper()
	text := opensslCRL(t, doc.DER)
	for _, s := range serials {
		if !strings.Contains(text, "Serial Number: "+s) {
			t.Fatalf("%s: serial %s is not on CRL number %d:\n%s", why, s, doc.Number, text)
		}
	}
}

var errInjected = errors.New("injected token failure (CKR_DEVICE_ERROR)")

// TestRevocationSurvivesFailedCRLBuild: the token fails while signing the
// CRL that would carry a revocation; the next fetch still lists it.
func TestRevocationSurvivesFailedCRLBuild(t *testing.T) {
	f := newCRLFixture(t)
	id, serial := f.leaf(t)
	f.fetch(t) // a CRL exists and is fresh
	f.revoke(t, id)

	f.onSign(func() error { return errInjected })
	if _, err := f.m.CRL(context.Background(), f.sub); err == nil {
		t.Fatal("a CRL build whose signature failed reported success")
	}
	f.onSign(nil)
	wantOnCRL(t, f.fetch(t), "after a failed build", serial)
}

// TestRevocationSurvivesCancelledCRLFetch: the only client asking for the
// CRL hangs up while it is being built; the revocation is on the next CRL.
func TestRevocationSurvivesCancelledCRLFetch(t *testing.T) {
	f := newCRLFixture(t)
	id, serial := f.leaf(t)
	f.fetch(t)
	f.revoke(t, id)

	ctx, cancel := context.WithCancel(context.Background())
	f.onSign(func() error { cancel(); return nil }) // the client goes away mid-build
	_, _ = f.m.CRL(ctx, f.sub)                      // either answer is fine; the client is gone
	f.onSign(nil)
	wantOnCRL(t, f.fetch(t), "after a fetch cancelled mid-build", serial)
}

// TestRevocationRacingCRLBuildIsNotLost: a revocation commits after a
// build has read its entries and before it saves; the build's CRL lacks
// it, so the CRL stays dirty and the next fetch lists it.
func TestRevocationRacingCRLBuildIsNotLost(t *testing.T) {
	f := newCRLFixture(t)
	a, serialA := f.leaf(t)
	b, serialB := f.leaf(t)
	f.fetch(t)
	f.revoke(t, a)

	var once sync.Once
	f.onSign(func() error { once.Do(func() { f.revoke(t, b) }); return nil })
	wantOnCRL(t, f.fetch(t), "the build the revocation raced", serialA)
	f.onSign(nil)
	wantOnCRL(t, f.fetch(t), "the fetch after the race", serialA, serialB)
}

// TestConcurrentRevocationsAllReachTheCRL: revocations and fetches from
// many goroutines; each fetch that starts after a revocation committed
// lists it, and the final CRL lists them all.
func TestConcurrentRevocationsAllReachTheCRL(t *testing.T) {
	f := newCRLFixture(t)
	const n = 24
	ids, serials := make([]string, n), make([]string, n)
	for i := range n {
		ids[i], serials[i] = f.leaf(t)
	}
	f.fetch(t)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f.m.CreateRevokeClientCertificate(context.Background(), f.c, ids[i], ""); err != nil {
				t.Error(err)
				return
			}
			doc, err := f.m.CRL(context.Background(), f.sub)
			if err != nil {
				t.Error(err)
				return
			}
			if !crlLists(doc.DER, serials[i]) {
				t.Errorf("a fetch after revoking %s returned CRL %d without it", serials[i], doc.Number)
			}
		}()
	}
	wg.Wait()
	wantOnCRL(t, f.fetch(t), "the final CRL", serials...)
}

// crlLists reports whether a DER CRL lists a serial (upper-case hex), by
// parsing it with Go's x509.
func crlLists(der []byte, serial string) bool {
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return false
	}
	for _, e := range crl.RevokedCertificateEntries {
		if fmt.Sprintf("%X", e.SerialNumber.Bytes()) == serial {
			return true
		}
	}
	return false
}

// TestDirtyCRLFetchesShareOneBuild: fetches that arrive while a build is
// in flight wait for it instead of starting their own, and all get the
// CRL that lists the revocation.
func TestDirtyCRLFetchesShareOneBuild(t *testing.T) {
	f := newCRLFixture(t)
	id, serial := f.leaf(t)
	f.fetch(t)
	f.revoke(t, id)

	release := make(chan struct{})
	var signs atomic.Int32
	f.onSign(func() error { signs.Add(1); <-release; return nil })
	const fetchers = 8
	docs := make(chan *CRLDocument, fetchers)
	for range fetchers {
		go func() {
			doc, err := f.m.CRL(context.Background(), f.sub)
			if err != nil {
				t.Error(err)
			}
			docs <- doc
		}()
	}
	close(release)
	for range fetchers {
		if doc := <-docs; doc != nil {
			wantOnCRL(t, doc, "a fetch sharing the build", serial)
		}
	}
	if n := signs.Load(); n != 1 {
		t.Fatalf("%d concurrent fetches of one dirty CRL signed %d CRLs, want 1", fetchers, n)
	}
}

// TestCRLRememberedByANodeFollowsTheStoredCRL: a node serves the CRL it
// last built from memory only while the database holds that CRL; once
// another node on the database has saved a newer one, the first node
// serves that one.
func TestCRLRememberedByANodeFollowsTheStoredCRL(t *testing.T) {
	f := newCRLFixture(t)
	id, serial := f.leaf(t)
	first := f.fetch(t)
	if again := f.fetch(t); !bytes.Equal(again.DER, first.DER) {
		t.Fatal("a clean CRL fetched twice differs")
	}
	db2, err := store.Open(context.Background(), f.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db2.Close() })
	node2 := New(f.m.keys, db2, Config{Region: "cn-hangzhou", PublicURL: "http://127.0.0.1:8080"})
	if err := node2.CreateRevokeClientCertificate(context.Background(), f.c, id, "superseded"); err != nil {
		t.Fatal(err)
	}
	built, err := node2.CRL(context.Background(), f.sub)
	if err != nil {
		t.Fatal(err)
	}
	got := f.fetch(t)
	if got.Number != built.Number || got.Number <= first.Number || !bytes.Equal(got.DER, built.DER) {
		t.Fatalf("the first node serves CRL %d, the other saved CRL %d (first was %d)", got.Number, built.Number, first.Number)
	}
	wantOnCRL(t, got, "the CRL the other node saved", serial)
}
