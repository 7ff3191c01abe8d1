package server

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	"github.com/alibabacloud-go/tea/tea"
)

// FuzzParseParams: no input panics, and whatever parses re-encodes to the
// same parameters.
func FuzzParseParams(f *testing.F) {
	f.Add("Action=CreateCertificate&Version=2016-01-20", "KeySpec=EC_P256")
	f.Add("A.1=x&A.2=y", "")
	f.Add("a=%zz", "b=%")
	f.Fuzz(func(t *testing.T, query, body string) {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.URL.RawQuery = query
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		p, err := ParseParams(r, []byte(body))
		if err != nil {
			return
		}
		_, _ = p.List("A")
		_ = p.Map("A")
		enc := url.Values{}
		for k, v := range p {
			enc.Set(k, v)
		}
		again, err := ParseParams(httptest.NewRequest(http.MethodGet, "/?"+enc.Encode(), nil), nil)
		if err != nil || len(again) != len(p) {
			t.Fatalf("re-encoded parameters do not parse back: %v", err)
		}
		for k, v := range p {
			if again[k] != v {
				t.Fatalf("%q: %q became %q", k, v, again[k])
			}
		}
	})
}

// FuzzCanonicalizeV1: our v1 signature always equals the SDK's for the
// same parameters.
func FuzzCanonicalizeV1(f *testing.F) {
	f.Add("Subject", "CN=a,OU=b", "POST")
	f.Add("中", "~*+ %", "GET")
	f.Add("", "", "POST")
	f.Fuzz(func(t *testing.T, k, v, method string) {
		p := Params{"Action": "A", k: v}
		sdk := map[string]*string{}
		for a, b := range p {
			sdk[a] = tea.String(b)
		}
		want := tea.StringValue(openapiutil.GetRPCSignature(sdk, tea.String(method), tea.String("s")))
		if got := SignV1(method, p, "s"); got != want {
			t.Fatalf("SignV1(%q, %q=%q) = %s, SDK %s", method, k, v, got, want)
		}
	})
}

// FuzzParseAuthorizationV3: no input panics; what parses has the fields
// the verifier relies on.
func FuzzParseAuthorizationV3(f *testing.F) {
	f.Add("ACS3-HMAC-SHA256 Credential=LTAI,SignedHeaders=host;x-acs-action,Signature=" + strings.Repeat("a", 64))
	f.Add("ACS3-HMAC-SHA256 Credential=,SignedHeaders=,Signature=")
	f.Add("Bearer x")
	f.Fuzz(func(t *testing.T, h string) {
		a, err := parseAuthorizationV3(h)
		if err != nil {
			return
		}
		if a.AccessKeyID == "" || len(a.Signature) != 64 || len(a.SignedHeaders) == 0 {
			t.Fatalf("accepted incomplete header %q", h)
		}
	})
}
