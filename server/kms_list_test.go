package server

import (
	"context"
	"fmt"
	"testing"

	kms "github.com/alibabacloud-go/kms-20160120/v3/client"
	"github.com/alibabacloud-go/tea/tea"
)

// TestListCertificatesPagesWithinTheAccount pages through the caller's
// certificates and shows another account neither listing nor reading them.
func TestListCertificatesPagesWithinTheAccount(t *testing.T) {
	e := newEnv(t)
	c := e.kmsClient(t, "")
	var ids []string
	for range 3 {
		r, err := c.CreateCertificate(&kms.CreateCertificateRequest{KeySpec: tea.String("EC_P256"), Subject: tea.String("CN=l,OU=b,O=c,C=CN")})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tea.StringValue(r.Body.CertificateId))
	}
	seen := map[string]bool{}
	for page := 1; page <= 2; page++ {
		body, err := e.rpcCall(t, "2016-01-20", "ListCertificates", map[string]interface{}{"PageNumber": page, "PageSize": 2})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(body["TotalCount"]) != "3" {
			t.Fatalf("TotalCount %v", body["TotalCount"])
		}
		for _, item := range body["Certificates"].([]interface{}) {
			seen[item.(map[string]interface{})["CertificateId"].(string)] = true
		}
	}
	for _, id := range ids {
		if !seen[id] {
			t.Fatalf("certificate %s missing from the pages", id)
		}
	}
	_, err := e.rpcCall(t, "2016-01-20", "ListCertificates", map[string]interface{}{"PageSize": 101})
	wantAPIError(t, err, "InvalidParameter", 400)

	other, err := e.Mgr.CreateAccessKey(context.Background(), "other-team", "")
	if err != nil {
		t.Fatal(err)
	}
	e2 := *e
	e2.AK = other
	body, err := e2.rpcCall(t, "2016-01-20", "ListCertificates", nil)
	if err != nil || fmt.Sprint(body["TotalCount"]) != "0" {
		t.Fatalf("another account lists %v (%v)", body["TotalCount"], err)
	}
	_, err = e2.kmsClient(t, "").DescribeCertificate(&kms.DescribeCertificateRequest{CertificateId: tea.String(ids[0])})
	wantAPIError(t, err, "Forbidden.ResourceNotFound", 404)
	_, err = e2.kmsClient(t, "").DeleteCertificate(&kms.DeleteCertificateRequest{CertificateId: tea.String(ids[0])})
	wantAPIError(t, err, "Forbidden.ResourceNotFound", 404)
}
