package certmgr

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/certcustody/certcustody/certmgr/store"
	"github.com/certcustody/certcustody/csrgen"
)

// TestIssuerCacheSeesOtherNodesRevocations: node A keeps its issuers
// cached; node B (its own Manager and database handle on the same
// database) revokes. A's next issuance is refused, whether the revocation
// committed before A's request or while A's token was signing (between
// A's first check and the transaction that writes the row), and a refused
// issuance writes nothing.
func TestIssuerCacheSeesOtherNodesRevocations(t *testing.T) {
	ctx := context.Background()
	a, c, path := newManagerAt(t)
	dbB, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dbB.Close() })
	b := New(a.keys, dbB, Config{Region: "cn-hangzhou"})

	base := CreateCARequest{CommonName: "Cache Root", Organization: "o", OrganizationUnit: "ou", Locality: "l", State: "s", CountryCode: "CN", Algorithm: "ECC_256", Years: 5}
	root, err := a.CreateRootCACertificate(ctx, c, base)
	if err != nil {
		t.Fatal(err)
	}
	subReq := base
	subReq.CommonName, subReq.ParentIdentifier, subReq.Years = "Cache Sub", root.Identifier, 2
	subs := make([]*IssuedResult, 2)
	for i := range subs {
		if subs[i], err = a.CreateSubCACertificate(ctx, c, subReq); err != nil {
			t.Fatal(err)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dn, _ := csrgen.ParseDN("CN=leaf,O=o,C=CN")
	der, err := csrgen.CreateCSR(rand.Reader, csrgen.Request{Subject: dn}, key)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(parent string) error {
		_, err := a.CreateServerCertificateWithCsr(ctx, c, IssueRequest{ParentIdentifier: parent, Csr: csrgen.EncodeCSRPEM(der), Days: 10})
		return err
	}
	for _, s := range subs {
		if err := issue(s.Identifier); err != nil {
			t.Fatalf("issuing from a live chain: %v", err)
		}
		if a.issuers.get(c.AccountID, s.Identifier) == nil {
			t.Fatalf("issuer %s not cached after issuing", s.Identifier)
		}
	}
	_, before, _ := a.sqlStore().CountIssued(ctx)

	// Revoked on B before A's request.
	if err := b.UpdateCACertificateStatus(ctx, c, subs[0].Identifier, "REVOKE"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, issue(subs[0].Identifier), "InvalidParameter.ParentStatus")

	// Revoked on B while A's token signs: A's first check passed, the
	// check in the row's transaction must refuse.
	subKey := a.issuers.get(c.AccountID, subs[1].Identifier).row.KeyID
	hook := func(keyID string, s crypto.Signer) crypto.Signer {
		if keyID != subKey {
			return s
		}
		return hookedSigner{Signer: s, before: func() error {
			return b.UpdateCACertificateStatus(ctx, c, root.Identifier, "REVOKE")
		}}
	}
	a.signerHook.Store(&hook)
	wantCode(t, issue(subs[1].Identifier), "InvalidParameter.ParentStatus")
	a.signerHook.Store(nil)
	wantCode(t, issue(subs[1].Identifier), "InvalidParameter.ParentStatus")

	if _, after, _ := a.sqlStore().CountIssued(ctx); after != before {
		t.Fatalf("refused issuances wrote %d certificates", after-before)
	}
}
