package server

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// TestForbiddenRAMCarriesAccessDeniedDetail: a refusal says which action
// and principal were refused, and whether no statement allowed it or a
// Deny matched, in the SDK's AccessDeniedDetail object; the policy text
// never leaves the server.
func TestForbiddenRAMCarriesAccessDeniedDetail(t *testing.T) {
	e := newEnv(t)
	policy := `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:List*","Resource":"*"},` +
		`{"Effect":"Deny","Action":"kms:ExportCertificate","Resource":"*","Condition":{"StringLike":{"acs:SourceIp":"secret-marker-*"}}},` +
		`{"Effect":"Deny","Action":"kms:DeleteCertificate","Resource":"*"}]}`
	ak, err := e.Mgr.CreateAccessKey(context.Background(), "acme", policy)
	if err != nil {
		t.Fatal(err)
	}
	limited := *e
	limited.AK = ak
	for _, tc := range []struct {
		action, want string
	}{{"DescribeCertificate", "ImplicitDeny"}, {"DeleteCertificate", "ExplicitDeny"}} {
		status, body := limited.raw(t, kmsVersion, tc.action, "JSON", map[string]string{"CertificateId": "some-id"})
		m, err := decodeJSON(body)
		if err != nil || status != http.StatusForbidden || m["Code"] != "Forbidden.RAM" {
			t.Fatalf("%s: %d %s", tc.action, status, body)
		}
		d, ok := m["AccessDeniedDetail"].(map[string]any)
		if !ok {
			t.Fatalf("%s: no AccessDeniedDetail in %s", tc.action, body)
		}
		if d["AuthAction"] != "kms:"+tc.action || d["NoPermissionType"] != tc.want || d["AuthPrincipalDisplayName"] != ak.AccessKeyID ||
			d["AuthPrincipalOwnerId"] != ak.AccountID || d["AuthPrincipalType"] == "" || d["PolicyType"] == "" {
			t.Errorf("%s: AccessDeniedDetail %v", tc.action, d)
		}
		if strings.Contains(string(body), "secret-marker") || strings.Contains(string(body), "Statement") {
			t.Errorf("%s: the policy text reached the answer: %s", tc.action, body)
		}
		// The SDK shape that declares the object; the cloud's encoded
		// diagnostic (for its own decoding service) has no meaning here.
		check := &shapeCheck{action: "UpdatePcaCertificate", absent: map[string]bool{"AccessDeniedDetail.EncodedDiagnosticMessage": true}}
		for _, a := range wireShapes(t, "cas-20200630.json") {
			if a.Action == "UpdatePcaCertificate" {
				for _, f := range a.Response {
					if f.Name == "AccessDeniedDetail" {
						check.value("AccessDeniedDetail", d, f.Type, f.Doc, f.Items, f.Children)
					}
				}
			}
		}
		for _, p := range check.problems {
			t.Error(p)
		}
	}
}
