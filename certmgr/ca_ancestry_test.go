package certmgr

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/certcustody/certcustody/csrgen"
)

// TestRevokedAncestorStopsIssuance: revoking the root stops issuance from
// the subordinate CA under it, on every issuance path, with the code a
// revoked direct parent gets. (A subordinate CA is issued only by a root,
// so root → sub is the deepest chain.)
func TestRevokedAncestorStopsIssuance(t *testing.T) {
	ctx := context.Background()
	m, c := newManager(t)
	base := CreateCARequest{CommonName: "Anc Root", Organization: "o", OrganizationUnit: "ou", Locality: "l", State: "s", CountryCode: "CN", Algorithm: "ECC_256", Years: 5}
	root, err := m.CreateRootCACertificate(ctx, c, base)
	if err != nil {
		t.Fatal(err)
	}
	subReq := base
	subReq.CommonName, subReq.ParentIdentifier, subReq.Years = "Anc Sub", root.Identifier, 2
	sub, err := m.CreateSubCACertificate(ctx, c, subReq)
	if err != nil {
		t.Fatal(err)
	}
	other, err := m.CreateSubCACertificate(ctx, c, subReq) // revoked directly, for the reference code
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dn, _ := csrgen.ParseDN("CN=leaf,OU=ou,O=o,C=CN")
	der, err := csrgen.CreateCSR(rand.Reader, csrgen.Request{Subject: dn}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr := csrgen.EncodeCSRPEM(der)
	now := time.Now()
	paths := map[string]func(parent string) error{
		"WithCsr": func(p string) error {
			_, err := m.CreateClientCertificateWithCsr(ctx, c, IssueRequest{ParentIdentifier: p, Csr: csr, Days: 10})
			return err
		},
		"Generated": func(p string) error {
			_, err := m.CreateServerCertificate(ctx, c, GenerateRequest{IssueRequest: IssueRequest{ParentIdentifier: p, Days: 10, Domain: "a.example.com"}, Algorithm: "ECC_256", CommonName: "a.example.com"})
			return err
		},
		"WithExtension": func(p string) error {
			_, err := m.CreateCertificateWithExtension(ctx, c, ExtensionRequest{ParentIdentifier: p, CertType: "CLIENT", CsrPemString: csr, BeforeTime: now.Unix(), AfterTime: now.Add(48 * time.Hour).Unix()})
			return err
		},
		"Custom": func(p string) error {
			_, err := m.CreateCustomCertificate(ctx, c, CustomRequest{ParentIdentifier: p, Csr: csr, Validity: "7d"})
			return err
		},
	}
	for name, issue := range paths {
		if err := issue(sub.Identifier); err != nil {
			t.Fatalf("%s from a live chain: %v", name, err)
		}
	}
	if err := m.UpdateCACertificateStatus(ctx, c, other.Identifier, "REVOKE"); err != nil {
		t.Fatal(err)
	}
	var direct *Error
	if !errors.As(paths["WithCsr"](other.Identifier), &direct) || direct.Code != "InvalidParameter.ParentStatus" {
		t.Fatalf("issuing from a revoked CA: %v", direct)
	}

	if err := m.UpdateCACertificateStatus(ctx, c, root.Identifier, "REVOKE"); err != nil {
		t.Fatal(err)
	}
	_, certsBefore, _ := m.sqlStore().CountIssued(ctx)
	for name, issue := range paths {
		var e *Error
		if err := issue(sub.Identifier); !errors.As(err, &e) || e.Code != direct.Code || e.HTTPStatus != direct.HTTPStatus {
			t.Errorf("%s from a sub CA whose root is revoked: %v, want %s (%d) as for a revoked parent", name, err, direct.Code, direct.HTTPStatus)
		}
	}
	if _, certsAfter, _ := m.sqlStore().CountIssued(ctx); certsAfter != certsBefore {
		t.Fatalf("refused issuance wrote %d certificates", certsAfter-certsBefore)
	}
	if _, err := m.CreateSubCACertificate(ctx, c, subReq); !errors.Is(err, &Error{Code: direct.Code}) {
		t.Fatalf("a new sub CA under the revoked root: %v", err)
	}
}
