package server

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/alibabacloud-go/tea/tea"
)

// v3Call describes a V3 request the way darabonba-openapi's DoRequest
// assembles one, so the SDK's own GetAuthorization can sign it.
type v3Call struct {
	method  string
	query   map[string]string
	form    map[string]string // nil: no body
	headers map[string]string // more headers, signed when x-acs-* (as the SDK does)
}

// sdkV3Request builds the HTTP request the SDK would send for c, signed by
// the SDK's GetAuthorization with (ak, secret). It mirrors DoRequest: the
// same default headers, the form body and its hash, the query encoded by
// url.Values. sdk_test.go checks the real client over the wire.
func sdkV3Request(t testing.TB, ak, secret string, when time.Time, nonce string, c v3Call) (*http.Request, []byte) {
	t.Helper()
	const host = "127.0.0.1:8443"
	dr := dara.NewRequest()
	dr.Method, dr.Pathname = tea.String(c.method), tea.String("/")
	dr.Query = map[string]*string{}
	for k, v := range c.query {
		dr.Query[k] = tea.String(v)
	}
	dr.Headers = map[string]*string{
		"host":                  tea.String(host),
		"x-acs-version":         tea.String("2016-01-20"),
		"x-acs-action":          tea.String("DescribeCertificate"),
		"user-agent":            tea.String("test"),
		"x-acs-date":            tea.String(when.UTC().Format("2006-01-02T15:04:05Z")),
		"x-acs-signature-nonce": tea.String(nonce),
		"accept":                tea.String("application/json"),
	}
	for k, v := range c.headers {
		dr.Headers[k] = tea.String(v)
	}
	var body []byte
	if c.form != nil {
		m := map[string]interface{}{}
		for k, v := range c.form {
			m[k] = v
		}
		body = []byte(tea.StringValue(openapiutil.ToForm(m)))
		dr.Headers["content-type"] = tea.String("application/x-www-form-urlencoded")
	}
	sum := sha256.Sum256(body)
	dr.Headers["x-acs-content-sha256"] = tea.String(hex.EncodeToString(sum[:]))
	dr.Headers["Authorization"] = openapiutil.GetAuthorization(dr, tea.String(v3Algorithm), tea.String(hex.EncodeToString(sum[:])), tea.String(ak), tea.String(secret))

	q := url.Values{}
	for k, v := range c.query {
		q.Set(k, v)
	}
	r := httptest.NewRequest(c.method, "http://"+host+"/?"+q.Encode(), strings.NewReader(string(body)))
	for k, v := range dr.Headers {
		if k != "host" {
			r.Header.Set(k, tea.StringValue(v))
		}
	}
	return r, body
}

// TestStringToSignV3AgreesWithSDK signs requests with the SDK's
// GetAuthorization and recomputes the signature from the received request.
func TestStringToSignV3AgreesWithSDK(t *testing.T) {
	when := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name string
		call v3Call
	}{
		{"no query, no body", v3Call{method: "POST"}},
		{"typed SDK query", v3Call{method: "POST", query: map[string]string{"CertificateId": "9f0c", "RegionId": "cn-hangzhou"}}},
		{"empty value", v3Call{method: "GET", query: map[string]string{"A": "", "B": "x"}}},
		{"reserved and unreserved", v3Call{method: "POST", query: map[string]string{"Subject": "CN=a b+c,O=x*y~z/", "P": "%41&=?#"}}},
		{"utf-8", v3Call{method: "POST", query: map[string]string{"Subject": "CN=中文 é", "名": "值"}}},
		{"flattened names", v3Call{method: "POST", query: map[string]string{"Tags.1.Key": "k", "Tags.1.Value": "v", "Tags.10.Key": "k10", "Tags.2.Key": "k2"}}},
		{"form body", v3Call{method: "POST", query: map[string]string{"Q": "1"}, form: map[string]string{"Csr": "-----BEGIN+/=\n", "Name": "a b"}}},
		{"extra x-acs header", v3Call{method: "POST", headers: map[string]string{"x-acs-credentials-provider": "static_ak"}}},
		{"header with spaces", v3Call{method: "POST", headers: map[string]string{"x-acs-extra": "  padded value  "}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, body := sdkV3Request(t, "AKID", "secret", when, "nonce-1", tc.call)
			auth, err := parseAuthorizationV3(r.Header.Get("Authorization"))
			if err != nil {
				t.Fatalf("parse %q: %v", r.Header.Get("Authorization"), err)
			}
			sum := sha256.Sum256(body)
			if got := signV3("secret", stringToSignV3(r, auth, hex.EncodeToString(sum[:]))); got != auth.Signature {
				t.Fatalf("signature %s, SDK %s", got, auth.Signature)
			}
			if auth.AccessKeyID != "AKID" || !strings.Contains(strings.Join(auth.SignedHeaders, ";"), "host;") {
				t.Fatalf("parsed %+v", auth)
			}
		})
	}
}

// TestParseAuthorizationV3 covers the header grammar and what it refuses.
func TestParseAuthorizationV3(t *testing.T) {
	sig := strings.Repeat("ab", 32)
	tests := []struct {
		name, header string
		ok           bool
	}{
		{"sdk form", "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host;x-acs-action,Signature=" + sig, true},
		{"spaces after commas", "ACS3-HMAC-SHA256 Credential=AK, SignedHeaders=host, Signature=" + sig, true},
		{"upper-case hex", "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host,Signature=" + strings.ToUpper(sig), true},
		{"other algorithm", "ACS3-HMAC-SM3 Credential=AK,SignedHeaders=host,Signature=" + sig, false},
		{"v4-style", "ACS4-HMAC-SHA256 Credential=AK/20260101/cn/kms/aliyun_v4_request,SignedHeaders=host,Signature=" + sig, false},
		{"no credential", "ACS3-HMAC-SHA256 SignedHeaders=host,Signature=" + sig, false},
		{"empty credential", "ACS3-HMAC-SHA256 Credential=,SignedHeaders=host,Signature=" + sig, false},
		{"short signature", "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host,Signature=abcd", false},
		{"non-hex signature", "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host,Signature=" + strings.Repeat("zz", 32), false},
		{"unsorted headers", "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=x-acs-action;host,Signature=" + sig, false},
		{"upper-case header", "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=Host,Signature=" + sig, false},
		{"empty header name", "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host;;x,Signature=" + sig, false},
		{"repeated field", "ACS3-HMAC-SHA256 Credential=AK,Credential=BK,SignedHeaders=host,Signature=" + sig, false},
		{"unknown field", "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host,Signature=" + sig + ",Extra=1", false},
		{"no fields", "ACS3-HMAC-SHA256 ", false},
		{"bearer", "Bearer abc", false},
		{"huge", "ACS3-HMAC-SHA256 Credential=" + strings.Repeat("A", 5000) + ",SignedHeaders=host,Signature=" + sig, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := parseAuthorizationV3(tc.header)
			if (err == nil) != tc.ok {
				t.Fatalf("ok=%v, want %v (%v)", err == nil, tc.ok, err)
			}
			if tc.ok && (a.AccessKeyID != "AK" || a.Signature != sig) {
				t.Fatalf("parsed %+v", a)
			}
		})
	}
}

// TestCanonicalQueryV3 pins the canonical query of the received request:
// sorted by byte, values RFC 3986-encoded, empty values kept as "k=".
func TestCanonicalQueryV3(t *testing.T) {
	q := url.Values{"b": {"x y"}, "A": {""}, "a": {"~*+/中"}, "Tags.1.Key": {"k"}}
	want := "A=&Tags.1.Key=k&a=~%2A%2B%2F%E4%B8%AD&b=x%20y"
	if got := canonicalQueryV3(q); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if got := canonicalQueryV3(url.Values{}); got != "" {
		t.Fatalf("empty query gave %q", got)
	}
}
