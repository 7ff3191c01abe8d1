package server

import (
	"context"
	"testing"

	kms "github.com/alibabacloud-go/kms-20160120/v3/client"
	"github.com/alibabacloud-go/tea/tea"
)

// TestRAMPoliciesThroughSDK: a key whose policy denies kms:CreateCertificate
// but allows kms:Describe* behaves so; an IpAddress condition admits
// 127.0.0.1 and refuses a key limited to another range; an inactive key is
// refused; a malformed policy is refused at creation.
func TestRAMPoliciesThroughSDK(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	created, err := e.kmsClient(t, "").CreateCertificate(&kms.CreateCertificateRequest{KeySpec: tea.String("EC_P256"), Subject: tea.String("CN=r,OU=b,O=c,C=CN")})
	if err != nil {
		t.Fatal(err)
	}
	id := created.Body.CertificateId
	keyWith := func(policy string) *env {
		t.Helper()
		ak, err := e.Mgr.CreateAccessKey(ctx, "acme", policy)
		if err != nil {
			t.Fatalf("create key with policy: %v", err)
		}
		other := *e
		other.AK = ak
		return &other
	}

	readOnly := keyWith(`{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:Describe*","Resource":"*"},{"Effect":"Deny","Action":"kms:CreateCertificate","Resource":"*"}]}`)
	c := readOnly.kmsClient(t, "")
	if _, err := c.DescribeCertificate(&kms.DescribeCertificateRequest{CertificateId: id}); err != nil {
		t.Fatalf("kms:Describe* was not allowed: %v", err)
	}
	_, err = c.CreateCertificate(&kms.CreateCertificateRequest{KeySpec: tea.String("EC_P256"), Subject: tea.String("CN=r,OU=b,O=c,C=CN")})
	wantAPIError(t, err, "Forbidden.RAM", 403)
	_, err = c.GetCertificate(&kms.GetCertificateRequest{CertificateId: id})
	wantAPIError(t, err, "Forbidden.RAM", 403) // no matching Allow

	loopback := keyWith(`{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"acs:kms:*:*:certificate/*","Condition":{"IpAddress":{"acs:SourceIp":["127.0.0.0/8"]}}}]}`)
	if _, err := loopback.kmsClient(t, "").GetCertificate(&kms.GetCertificateRequest{CertificateId: id}); err != nil {
		t.Fatalf("IpAddress 127.0.0.0/8 refused 127.0.0.1: %v", err)
	}
	elsewhere := keyWith(`{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"IpAddress":{"acs:SourceIp":"10.0.0.0/8"}}}]}`)
	_, err = elsewhere.kmsClient(t, "v2").GetCertificate(&kms.GetCertificateRequest{CertificateId: id})
	wantAPIError(t, err, "Forbidden.RAM", 403)

	caOnly := keyWith(`{"Version":"1","Statement":[{"Effect":"Allow","Action":"yundun-cert:Describe*","Resource":"*"}]}`)
	_, err = caOnly.rpcCall(t, caVersion, "CreateRootCACertificate", with(caSubject("Denied"), "Algorithm", "ECC_256"))
	wantAPIError(t, err, "Forbidden.RAM", 403)
	_, err = caOnly.rpcCall(t, caVersion, "DescribeCACertificateCount", nil)
	if err != nil {
		t.Fatalf("yundun-cert:Describe* not allowed: %v", err)
	}

	if err := e.Mgr.DisableAccessKey(ctx, readOnly.AK.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeCertificate(&kms.DescribeCertificateRequest{CertificateId: id})
	wantAPIError(t, err, "InvalidAccessKeyId.Inactive", 400)

	if _, err := e.Mgr.CreateAccessKey(ctx, "acme", `{"Version":"1","Statement":[{"Effect":"Perhaps","Action":"kms:*","Resource":"*"}]}`); err == nil {
		t.Fatal("a malformed policy was accepted")
	}

	// Another account sees the first account's CAs and certificates exactly
	// as missing ones.
	root, err := e.rpcCall(t, caVersion, "CreateRootCACertificate", with(caSubject("Mine"), "Algorithm", "ECC_256", "Years", 2))
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := e.Mgr.CreateAccessKey(ctx, "someone-else", "")
	if err != nil {
		t.Fatal(err)
	}
	s := *e
	s.AK = stranger
	_, err = s.rpcCall(t, caVersion, "DescribeCACertificate", map[string]interface{}{"Identifier": root["Identifier"]})
	wantAPIError(t, err, "NotFound.Certificate", 404)
	_, err = s.rpcCall(t, caVersion, "UpdateCACertificateStatus", map[string]interface{}{"Identifier": root["Identifier"], "Status": "REVOKE"})
	wantAPIError(t, err, "NotFound.Certificate", 404)
	_, err = s.kmsClient(t, "").CertificatePrivateKeySign(&kms.CertificatePrivateKeySignRequest{CertificateId: id, Algorithm: tea.String("ECDSA_SHA_256"), Message: tea.String("aGk="), MessageType: tea.String("RAW")})
	wantAPIError(t, err, "Forbidden.ResourceNotFound", 404)
}
