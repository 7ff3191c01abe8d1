package certmgr

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/certcustody/certcustody/softhsm"
)

// tokenPrivateKeys counts the private-key objects on a token with
// pkcs11-tool, a tool that is not ours.
func tokenPrivateKeys(t *testing.T, tok *softhsm.Token) int {
	t.Helper()
	if _, err := exec.LookPath("pkcs11-tool"); err != nil {
		t.Fatal("pkcs11-tool is needed to list token objects: install it (apt-get install opensc)")
	}
	out, err := exec.Command("pkcs11-tool", "--module", tok.Module, "--token-label", tok.Label, "--login", "--pin", tok.PIN,
		"--list-objects", "--type", "privkey").CombinedOutput()
	if err != nil {
		t.Fatalf("pkcs11-tool --list-objects: %v\n%s", err, out)
	}
	return strings.Count(string(out), "Private Key Object")
}

// TestTokenKeyQuota: with a quota of 2, the third token-resident key of an
// account (a KMS key or a CA key) is refused with QuotaExceeded before any
// key is generated, and leaves no row and no token object; other accounts
// and freed room are unaffected.
func TestTokenKeyQuota(t *testing.T) {
	ctx := context.Background()
	limit := 2
	m, c, _, tok := newManagerWith(t, Config{Region: "cn-hangzhou", MaxTokenKeysPerAccount: &limit})
	first, _ := newKMSCertificate(t, m, c)
	ca := CreateCARequest{CommonName: "Quota Root", Organization: "o", OrganizationUnit: "ou", Locality: "l", State: "s", CountryCode: "CN", Algorithm: "ECC_256", Years: 5}
	if _, err := m.CreateRootCACertificate(ctx, c, ca); err != nil {
		t.Fatal(err)
	}
	objects := tokenPrivateKeys(t, tok)
	generated := generatedKeys(m)

	_, err := m.CreateCertificate(ctx, c, CreateCertificateRequest{KeySpec: "EC_P256", Subject: "CN=over,OU=ou,O=o,C=CN"})
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrQuotaExceeded) || e.HTTPStatus != 400 || !strings.Contains(e.Message, "2") {
		t.Fatalf("third CreateCertificate: %v, want QuotaExceeded (400) naming the limit 2", err)
	}
	if _, err := m.CreateRootCACertificate(ctx, c, ca); !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("a CA key beyond the quota: %v, want QuotaExceeded", err)
	}
	if n, err := m.sqlStore().CountKMSCertificates(ctx); err != nil || n != 1 {
		t.Fatalf("%d KMS rows (%v), want 1", n, err)
	}
	if cas, _, err := m.sqlStore().CountIssued(ctx); err != nil || cas != 1 {
		t.Fatalf("%d CA rows (%v), want 1", cas, err)
	}
	if g := generated(); len(g) != 0 {
		t.Fatalf("refused creates generated token keys %v", g)
	}
	if after := tokenPrivateKeys(t, tok); after != objects {
		t.Fatalf("private keys on the token: %d before the refused creates, %d after", objects, after)
	}

	// Another account has its own quota.
	ak, err := m.CreateAccessKey(ctx, "other", "")
	if err != nil {
		t.Fatal(err)
	}
	newKMSCertificate(t, m, Caller{AccountID: ak.AccountID, AccessKeyID: ak.AccessKeyID})
	// Deleting a key frees its place.
	if err := m.DeleteCertificate(ctx, c, first); err != nil {
		t.Fatal(err)
	}
	newKMSCertificate(t, m, c)
}

// TestTokenKeyQuotaDefaults: unset is DefaultMaxTokenKeysPerAccount, 0 is
// no limit.
func TestTokenKeyQuotaDefaults(t *testing.T) {
	m, _ := newManager(t)
	if m.keyQuota != DefaultMaxTokenKeysPerAccount {
		t.Fatalf("default quota %d, want %d", m.keyQuota, DefaultMaxTokenKeysPerAccount)
	}
	zero := 0
	m, c, _, _ := newManagerWith(t, Config{MaxTokenKeysPerAccount: &zero})
	if m.keyQuota != 0 {
		t.Fatalf("quota 0 resolved to %d", m.keyQuota)
	}
	newKMSCertificate(t, m, c)
}

// TestTokenKeyQuotaUnderConcurrency: creates racing for the last places
// cannot overshoot the quota (the transaction that writes the row counts
// again), and the keys of the losers are not left in the token.
func TestTokenKeyQuotaUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	limit := 3
	m, c, _, tok := newManagerWith(t, Config{Region: "cn-hangzhou", MaxTokenKeysPerAccount: &limit})
	serviceKeys := tokenPrivateKeys(t, tok)
	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := m.CreateCertificate(ctx, c, CreateCertificateRequest{KeySpec: "EC_P256", Subject: "CN=race,OU=ou,O=o,C=CN"})
			errs <- err
		}()
	}
	ok := 0
	for range n {
		switch err := <-errs; {
		case err == nil:
			ok++
		case !errors.Is(err, ErrQuotaExceeded):
			t.Fatalf("a racing create failed otherwise: %v", err)
		}
	}
	if rows, _ := m.sqlStore().CountKMSCertificates(ctx); ok != limit || rows != limit {
		t.Fatalf("%d creates succeeded and %d rows exist, want %d", ok, rows, limit)
	}
	if keys := tokenPrivateKeys(t, tok); keys != serviceKeys+limit {
		t.Fatalf("%d private keys on the token, want %d service keys + %d", keys, serviceKeys, limit)
	}
}

// TestTokenKeyQuotaLeavesExternalCAsOut: an external CA (its key is the
// partner's, never in our token) neither needs room under the token-key
// quota nor takes any: with the quota full of local keys, one is still
// made, and afterwards a freed place is there for a token key.
func TestTokenKeyQuotaLeavesExternalCAsOut(t *testing.T) {
	ctx := context.Background()
	limit := 3
	m, c, _, tok := newManagerWith(t, Config{Region: "cn-hangzhou", MaxTokenKeysPerAccount: &limit})
	root, _ := hierarchy(t, m, c, "ECC_256") // two token keys
	kms, _ := newKMSCertificate(t, m, c)     // the third
	objects := tokenPrivateKeys(t, tok)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		csr := csrFor(t, key, fmt.Sprintf("CN=Partner CA %d,O=Partner,C=DE", i))
		if _, err := m.CreateExternalCACertificate(ctx, c, ExternalCARequest{InstanceID: root, Csr: csr, Validity: "1y"}); err != nil {
			t.Fatalf("external CA %d with the quota full: %v", i, err)
		}
	}
	if after := tokenPrivateKeys(t, tok); after != objects {
		t.Fatalf("external CAs changed the token's private keys: %d -> %d", objects, after)
	}
	if _, err := m.CreateCertificate(ctx, c, CreateCertificateRequest{KeySpec: "EC_P256", Subject: "CN=over,OU=ou,O=o,C=CN"}); !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("a fourth token key: %v, want QuotaExceeded", err)
	}
	if err := m.DeleteCertificate(ctx, c, kms); err != nil {
		t.Fatal(err)
	}
	newKMSCertificate(t, m, c) // the freed place, not taken by the external CAs
}
