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
	body := e.scrapeMetrics(t)
	for _, want := range []string{
		`certcustody_requests_total{action="CreateCertificate",code="OK"} 1`,
		`certcustody_requests_total{action="DescribeCertificate",code="Forbidden.ResourceNotFound"} 1`,
		`certcustody_request_duration_seconds_count{action="CreateCertificate"} 1`,
		`certcustody_token_operations_total{kind="generate",mechanism="CKM_EC_KEY_PAIR_GEN"} 1`,
		`certcustody_token_operations_total{kind="sign",mechanism="CKM_ECDSA"} 1`,
		`certcustody_token_sessions_max`,
		"certcustody_audit_append_failures_total 0\n",
		"certcustody_audit_unrecorded_key_uses_total 0\n",
		"certcustody_store_group_commits_total ",
		"certcustody_store_group_writes_total ",
		"certcustody_store_group_run_seconds_total ",
		"certcustody_store_group_commit_seconds_total ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, e.AK.AccessKeySecret) || strings.Contains(body, e.AK.AccessKeyID) {
		t.Error("/metrics exposes an AccessKey")
	}
}

// scrapeMetrics returns the /metrics text.
func (e *env) scrapeMetrics(t testing.TB) string {
	t.Helper()
	resp, err := http.Get(e.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	return string(body)
}
