package server

import (
	"io"
	"net/http"
	"strings"
	"testing"

	kms "github.com/alibabacloud-go/kms-20160120/v3/client"
	"github.com/alibabacloud-go/tea/tea"
)

// TestMetricsCountRequestsAndTokenOperations scrapes /metrics after a
// successful and a refused call.
func TestMetricsCountRequestsAndTokenOperations(t *testing.T) {
	e := newEnv(t)
	c := e.kmsClient(t, "")
	if _, err := c.CreateCertificate(&kms.CreateCertificateRequest{KeySpec: tea.String("EC_P256"), Subject: tea.String("CN=m,OU=b,O=c,C=CN")}); err != nil {
		t.Fatal(err)
	}
	_, err := c.DescribeCertificate(&kms.DescribeCertificateRequest{CertificateId: tea.String("missing")})
	wantAPIError(t, err, "Forbidden.ResourceNotFound", 404)
	resp, err := http.Get(e.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`certcustody_requests_total{action="CreateCertificate",code="OK"} 1`,
		`certcustody_requests_total{action="DescribeCertificate",code="Forbidden.ResourceNotFound"} 1`,
		`certcustody_request_duration_seconds_count{action="CreateCertificate"} 1`,
		`certcustody_token_operations_total{kind="generate",mechanism="CKM_EC_KEY_PAIR_GEN"} 1`,
		`certcustody_token_operations_total{kind="sign",mechanism="CKM_ECDSA"} 1`,
		`certcustody_token_sessions_max`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(string(body), e.AK.AccessKeySecret) || strings.Contains(string(body), e.AK.AccessKeyID) {
		t.Error("/metrics exposes an AccessKey")
	}
}
