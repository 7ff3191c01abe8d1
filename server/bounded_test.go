package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certcustody/certcustody/certmgr/store"
)

func codeIn(t *testing.T, body []byte) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("not JSON: %s", body)
	}
	s, _ := m["Code"].(string)
	return s
}

// TestUnknownActionsShareOneBucketLabelAndRecord: invented action names
// (distinct, huge, invalid UTF-8) get no throttle bucket, metric series or
// audit field of their own.
func TestUnknownActionsShareOneBucketLabelAndRecord(t *testing.T) {
	frozen := time.Now()
	e := newEnv(t, func(c *Config) {
		c.Throttle = &Throttle{}
		c.Now = func() time.Time { return frozen }
	})
	throttled := 0
	for i := range 30 {
		status, body := e.raw(t, kmsVersion, fmt.Sprintf("Invented%d", i), "JSON", nil)
		switch code := codeIn(t, body); {
		case code == "Throttling.User":
			throttled++
		case status != http.StatusNotFound || code != "InvalidAction.NotFound":
			t.Fatalf("unknown action: %d %s", status, body)
		}
	}
	if throttled != 20 {
		t.Fatalf("30 distinct unknown actions at one instant: %d throttled, want 20 (one shared bucket of 10)", throttled)
	}
	e2 := newEnv(t)
	huge := strings.Repeat("A", 512<<10)
	for _, action := range []string{"Bad\xff\xfeUTF8", huge} {
		status, body := e2.raw(t, kmsVersion, action, "JSON", nil)
		if status != http.StatusNotFound || codeIn(t, body) != "InvalidAction.NotFound" || len(body) > 2048 {
			t.Fatalf("unknown action %q...: %d, %d bytes", clip(action, 16), status, len(body))
		}
	}
	metrics := e2.scrapeMetrics(t)
	if strings.Contains(metrics, "Bad") || strings.Contains(metrics, "AAAA") || !strings.Contains(metrics, `action="unknown"`) {
		t.Fatal("an unknown action reached the metrics under its own name")
	}
	unknown := 0
	err := e2.DB.WalkAudit(context.Background(), func(r *store.AuditRecord) error {
		if strings.HasPrefix(r.Action, "token:") || strings.HasPrefix(r.Action, "admin:") {
			return nil
		}
		if r.Action != "unknown" || r.Resource != "" || r.Code != "InvalidAction.NotFound" {
			t.Errorf("audit record of an unknown action: %+v", r)
		}
		unknown++
		return nil
	})
	if err != nil || unknown != 2 {
		t.Fatalf("%d audit records of the two unknown calls (%v)", unknown, err)
	}
}

// TestRegionAndIdentifiersAreCheckedBeforeAuthorization: RegionId must be
// the configured region; identifiers are bounded and may not carry the
// characters that shape an ARN.
func TestRegionAndIdentifiersAreCheckedBeforeAuthorization(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name   string
		params map[string]string
		code   string
	}{
		{"other region", map[string]string{"RegionId": "cn-shanghai", "CertificateId": "x"}, "InvalidParameter.RegionId"},
		{"region with a colon", map[string]string{"RegionId": "cn-hangzhou:123:certificate/*", "CertificateId": "x"}, "InvalidParameter.RegionId"},
		{"identifier too long", map[string]string{"CertificateId": strings.Repeat("a", MaxIdentifierLength+1)}, "InvalidParameter"},
		{"identifier with a slash", map[string]string{"CertificateId": "a/../b"}, "InvalidParameter"},
		{"identifier with a wildcard", map[string]string{"CertificateId": "*"}, "InvalidParameter"},
		{"20k colons", map[string]string{"CertificateId": strings.Repeat(":", 20000)}, "InvalidParameter"},
	}
	for _, tc := range cases {
		status, body := e.raw(t, kmsVersion, "DescribeCertificate", "JSON", tc.params)
		if status != http.StatusBadRequest || codeIn(t, body) != tc.code {
			t.Errorf("%s: %d %s, want 400 %s", tc.name, status, clip(string(body), 200), tc.code)
		}
	}
	if status, body := e.raw(t, kmsVersion, "ListCertificates", "JSON", map[string]string{"RegionId": "cn-hangzhou"}); status != http.StatusOK {
		t.Fatalf("the configured region is refused: %d %s", status, body)
	}
	ids := strings.TrimSuffix(strings.Repeat("a,", maxIdentifiers+1), ",")
	status, body := e.raw(t, caVersion, "DescribeClientCertificateStatus", "JSON", map[string]string{"Identifier": ids})
	if status != http.StatusBadRequest || codeIn(t, body) != "InvalidParameter" {
		t.Fatalf("%d identifiers: %d %s", maxIdentifiers+1, status, body)
	}
}

// TestExpensiveCallsHaveTheirOwnThrottle: at one instant a user gets two
// private-key downloads and one RSA-4096 key generation, while cheap
// calls of the same user still pass.
func TestExpensiveCallsHaveTheirOwnThrottle(t *testing.T) {
	frozen := time.Now()
	e := newEnv(t, func(c *Config) {
		c.Throttle = &Throttle{}
		c.Now = func() time.Time { return frozen }
	})
	n := 0
	for range 5 {
		_, body := e.raw(t, caVersion, "DescribeCertificatePrivateKey", "JSON", map[string]string{"Identifier": "nothing", "EncryptedCode": "12345678"})
		if codeIn(t, body) == "Throttling.User" {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("5 DescribeCertificatePrivateKey at one instant: %d throttled, want 3", n)
	}
	// Years 0 is refused after the cost is counted, without a key.
	n = 0
	for range 3 {
		_, body := e.raw(t, caVersion, "CreateRootCACertificate", "JSON", map[string]string{"CommonName": "r", "Organization": "o",
			"OrganizationUnit": "u", "Locality": "l", "State": "s", "Algorithm": "RSA_4096", "Years": "0"})
		if codeIn(t, body) == "Throttling.User" {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("3 RSA-4096 creations at one instant: %d throttled, want 2", n)
	}
	if _, body := e.raw(t, caVersion, "DescribeCACertificateCount", "JSON", nil); codeIn(t, body) != "" {
		t.Fatalf("a cheap call was throttled with the expensive ones: %s", body)
	}
}

// TestReadyzPingsAtMostOncePerSecond: a burst of unauthenticated probes
// costs the token one readiness check per second, not one each.
func TestReadyzPingsAtMostOncePerSecond(t *testing.T) {
	var checks atomic.Int64
	e := newEnv(t, func(c *Config) {
		inner := c.Ready
		c.Ready = func(ctx context.Context) error { checks.Add(1); return inner(ctx) }
	})
	start := time.Now()
	for range 50 {
		resp, err := http.Get(e.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/readyz: %d", resp.StatusCode)
		}
	}
	if max := int64(time.Since(start)/readyFor) + 1; checks.Load() > max {
		t.Fatalf("50 probes ran %d readiness checks in %v, want at most %d", checks.Load(), time.Since(start), max)
	}
}
