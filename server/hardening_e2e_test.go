package server

import (
	"context"
	"testing"

	kms "github.com/alibabacloud-go/kms-20160120/v3/client"
	"github.com/alibabacloud-go/tea/tea"
)

// TestRevokedRootStopsIssuanceBelowIt, through the API: once a root CA is
// revoked, its subordinate CA (still ISSUE itself) refuses to issue, with
// the code a revoked issuing CA gets.
func TestRevokedRootStopsIssuanceBelowIt(t *testing.T) {
	e := newEnv(t)
	root, err := e.rpcCall(t, caVersion, "CreateRootCACertificate", with(caSubject("Chain Root"), "Algorithm", "ECC_256", "Years", 5))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := e.rpcCall(t, caVersion, "CreateSubCACertificate", with(caSubject("Chain Sub"), "Algorithm", "ECC_256", "Years", 2, "ParentIdentifier", root["Identifier"]))
	if err != nil {
		t.Fatal(err)
	}
	issue := func(cn string) error {
		_, err := e.rpcCall(t, caVersion, "CreateClientCertificateWithCsr", map[string]interface{}{"ParentIdentifier": sub["Identifier"], "Csr": clientCSR(t, "ECC", cn), "Days": 1})
		return err
	}
	if err := issue("before"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rpcCall(t, caVersion, "UpdateCACertificateStatus", map[string]interface{}{"Identifier": root["Identifier"], "Status": "REVOKE"}); err != nil {
		t.Fatal(err)
	}
	wantAPIError(t, issue("after"), "InvalidParameter.ParentStatus", 400)
	_, err = e.rpcCall(t, caVersion, "CreateServerCertificate", map[string]interface{}{"ParentIdentifier": sub["Identifier"], "Algorithm": "ECC_256", "CommonName": "a.example.com", "Domain": "a.example.com", "Days": 1})
	wantAPIError(t, err, "InvalidParameter.ParentStatus", 400)
}

// TestDeleteCertificateWhoseKeyIsAlreadyGone, through the official SDK: a
// certificate whose token key has vanished (a delete that crashed after
// destroying it) can still be deleted, and is gone afterwards.
func TestDeleteCertificateWhoseKeyIsAlreadyGone(t *testing.T) {
	e := newEnv(t)
	c := e.kmsClient(t, "")
	created, err := c.CreateCertificate(&kms.CreateCertificateRequest{KeySpec: tea.String("EC_P256"), Subject: tea.String("CN=gone,OU=ops,O=Example,C=CN")})
	if err != nil {
		t.Fatal(err)
	}
	id := tea.StringValue(created.Body.CertificateId)
	if err := e.Keys.Destroy(context.Background(), "kms-"+id); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteCertificate(&kms.DeleteCertificateRequest{CertificateId: tea.String(id)}); err != nil {
		t.Fatalf("DeleteCertificate of a certificate whose key is gone: %v", err)
	}
	_, err = c.DescribeCertificate(&kms.DescribeCertificateRequest{CertificateId: tea.String(id)})
	wantAPIError(t, err, "Forbidden.ResourceNotFound", 404)
}
