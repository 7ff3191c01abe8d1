package certmgr

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certcustody/certcustody/certmgr/store"
	"github.com/certcustody/certcustody/keystore"
)

// TestServiceTLSCertificate: EnsureTLSKey creates the TLS key once;
// IssueTLSCertificate issues for it from a subordinate CA through the
// ordinary issuance path (the row is in the CA's account, the chain
// verifies, the names are SANs, serverAuth only); both are audit records;
// the TLS key's signatures (handshakes) are not unaudited uses; the
// orphan sweep, even of unknown age, never touches the key.
func TestServiceTLSCertificate(t *testing.T) {
	ctx := context.Background()
	m, c := newManager(t)
	root, sub := hierarchy(t, m, c, "ECC_256")
	pub, created, err := m.EnsureTLSKey(ctx, keystore.ECP256)
	if err != nil || !created {
		t.Fatalf("EnsureTLSKey: created=%v %v", created, err)
	}
	again, created, err := m.EnsureTLSKey(ctx, keystore.RSA2048)
	if err != nil || created || !publicKeysEqual(pub, again) {
		t.Fatalf("second EnsureTLSKey: created=%v %v, same key %v", created, err, publicKeysEqual(pub, again))
	}
	if _, err := m.IssueTLSCertificate(ctx, TLSCertificateRequest{CAIdentifier: root, Public: pub, Names: []string{"a.example"}}); err == nil {
		t.Error("a root CA issued the TLS certificate")
	}
	res, err := m.IssueTLSCertificate(ctx, TLSCertificateRequest{CAIdentifier: sub, Public: pub, Names: []string{"certcustody.example.com", "127.0.0.1"}, Validity: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	leaf := parsePEM(t, res.Certificate)
	if !publicKeysEqual(leaf.PublicKey, pub) || !slices.Equal(leaf.DNSNames, []string{"certcustody.example.com"}) || len(leaf.IPAddresses) != 1 ||
		!leaf.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) || leaf.Subject.CommonName != "certcustody.example.com" ||
		!slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("certificate: key %v, DNS %v, IP %v, CN %q, EKU %v", publicKeysEqual(leaf.PublicKey, pub), leaf.DNSNames, leaf.IPAddresses, leaf.Subject.CommonName, leaf.ExtKeyUsage)
	}
	if d := leaf.NotAfter.Sub(leaf.NotBefore); d < 30*24*time.Hour || d > 30*24*time.Hour+2*time.Minute {
		t.Errorf("validity %v, want 30 days", d)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	chain, _ := parseCertsPEM(res.CertificateChain)
	for i, ch := range chain {
		x := parsePEM(t, certPEM(ch.Raw))
		if i == len(chain)-1 {
			roots.AddCert(x)
		} else {
			inter.AddCert(x)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: "certcustody.example.com"}); err != nil {
		t.Errorf("chain does not verify: %v", err)
	}
	if _, err := m.DescribeClientCertificate(ctx, c, res.Identifier); err != nil {
		t.Errorf("the TLS certificate is not a certificate of the CA's account: %v", err)
	}

	signer, err := m.keys.(*keystore.Store).TLSSigner(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before := m.UnauditedKeyUses() // the test's CAs were made outside any call
	if _, err := signer.Sign(nil, make([]byte, 32), nil); err != nil {
		t.Fatal(err)
	}
	if n := m.UnauditedKeyUses() - before; n != 0 {
		t.Errorf("%d unaudited key uses from a TLS signature", n)
	}
	var actions []string
	if err := m.sqlStore().WalkAudit(ctx, func(r *store.AuditRecord) error {
		if strings.HasPrefix(r.Action, "admin:") && strings.Contains(r.Action, "TLS") {
			actions = append(actions, r.Action+"="+r.Code)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(actions, []string{"admin:CreateTLSKey=OK", "admin:IssueTLSCertificate=InvalidParameter.ParentIdentifier", "admin:IssueTLSCertificate=OK"}) {
		t.Errorf("audit records %v", actions)
	}
	if _, err := m.SweepOrphanKeysOfUnknownAge(ctx); err != nil {
		t.Fatal(err)
	}
	keys, err := m.TokenKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, k := range keys {
		if k.KeyID == keystore.TLSKeyID {
			found = true
			if k.Orphan || k.Owner == nil || k.Owner.Kind != "ServiceKey" || k.Extractable || !k.NeverExtractable || k.Modifiable {
				t.Errorf("TLS key reported as %+v owner %+v", k.KeyCustody, k.Owner)
			}
		}
	}
	if !found {
		t.Error("the sweep destroyed the TLS key, or token keys does not list it")
	}
}

func parsePEM(t *testing.T, s string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		t.Fatal("not PEM")
	}
	x, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return x
}
