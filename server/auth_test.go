package server

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/certcustody/certcustody/certmgr"
)

const (
	testAK     = "LTAI5tTestAccessKey"
	testSecret = "s3cr3t-DO-NOT-LEAK-9f2b"
)

// authNow is the frozen instant every Authenticator test runs at.
var authNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// memCreds is a Credentials over a map; unknown keys answer as the real
// store does (InvalidAccessKeyId.NotFound, 404).
type memCreds map[string]string

func (m memCreds) SecretFor(_ context.Context, id string) (string, error) {
	s, ok := m[id]
	if !ok {
		return "", certmgr.NotFound("InvalidAccessKeyId.NotFound", "Specified access key is not found.")
	}
	return s, nil
}

// failingNonces is a NonceStore whose backend is down.
type failingNonces struct{}

func (failingNonces) UseNonce(context.Context, string, string, time.Time) (bool, error) {
	return false, errors.New("database is locked")
}

func newTestAuth(allowV1 bool) (*Authenticator, *MemoryNonces) {
	clock := func() time.Time { return authNow }
	n := &MemoryNonces{Now: clock}
	return &Authenticator{Creds: memCreds{testAK: testSecret}, Nonces: n, Now: clock, AllowV1: allowV1, Window: 15 * time.Minute}, n
}

// v1Params are the common parameters of a v1 call at authNow.
func v1Params(nonce string) Params {
	return Params{
		"Action": "DescribeCertificate", "Version": "2016-01-20", "Format": "XML", "AccessKeyId": testAK,
		"SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0", "SignatureNonce": nonce,
		"Timestamp": authNow.Format("2006-01-02T15:04:05Z"), "CertificateId": "c-1",
	}
}

// v1HTTP signs p with secret (unless p already has a Signature) and sends
// it as a GET query or a POST form.
func v1HTTP(method string, p Params, secret string) (*http.Request, []byte) {
	if _, ok := p["Signature"]; !ok {
		p["Signature"] = SignV1(method, p, secret)
	}
	form := url.Values{}
	for k, v := range p {
		form.Set(k, v)
	}
	if method == http.MethodGet {
		return httptest.NewRequest(method, "/?"+form.Encode(), nil), nil
	}
	body := []byte(form.Encode())
	r := httptest.NewRequest(method, "/", strings.NewReader(string(body)))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r, body
}

// wantCode asserts err is a *certmgr.Error with the code and status, and
// that its text does not carry the secret.
func wantCode(t testing.TB, err error, code string, status int) *certmgr.Error {
	t.Helper()
	var e *certmgr.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v (%T), want %s", err, err, code)
	}
	if e.Code != code || e.HTTPStatus != status {
		t.Fatalf("got %s/%d (%s), want %s/%d", e.Code, e.HTTPStatus, e.Message, code, status)
	}
	if strings.Contains(e.Error(), testSecret) || strings.Contains(e.Message, testSecret) {
		t.Fatalf("error carries the secret: %v", e)
	}
	return e
}

func TestAuthenticateV1(t *testing.T) {
	ts := func(d time.Duration) string { return authNow.Add(d).Format("2006-01-02T15:04:05Z") }
	tests := []struct {
		name    string
		method  string
		mutate  func(p Params)
		secret  string
		allowV1 bool
		code    string // "" = success
		status  int
	}{
		{"GET query", "GET", nil, testSecret, true, "", 200},
		{"POST form", "POST", nil, testSecret, true, "", 200},
		{"lower-case Format", "POST", func(p Params) { p["Format"] = "json" }, testSecret, true, "", 200},
		{"window edge past", "GET", func(p Params) { p["Timestamp"] = ts(-15 * time.Minute) }, testSecret, true, "", 200},
		{"window edge future", "GET", func(p Params) { p["Timestamp"] = ts(15 * time.Minute) }, testSecret, true, "", 200},
		{"milliseconds timestamp", "GET", func(p Params) { p["Timestamp"] = "2026-03-04T05:06:07.123Z" }, testSecret, true, "", 200},
		{"wrong secret", "POST", nil, "not-the-secret", true, "SignatureDoesNotMatch", 400},
		{"signature from other method", "GET", func(p Params) { p["Signature"] = SignV1("POST", p, testSecret) }, testSecret, true, "SignatureDoesNotMatch", 400},
		{"stale", "GET", func(p Params) { p["Timestamp"] = ts(-15*time.Minute - time.Second) }, testSecret, true, "InvalidTimeStamp.Expired", 400},
		{"future", "GET", func(p Params) { p["Timestamp"] = ts(16 * time.Minute) }, testSecret, true, "InvalidTimeStamp.Expired", 400},
		{"garbled timestamp", "GET", func(p Params) { p["Timestamp"] = "2026-03-04 05:06:07" }, testSecret, true, "InvalidTimeStamp.Format", 400},
		{"local-time timestamp", "GET", func(p Params) { p["Timestamp"] = "2026-03-04T05:06:07+08:00" }, testSecret, true, "InvalidTimeStamp.Format", 400},
		{"missing timestamp", "GET", func(p Params) { delete(p, "Timestamp") }, testSecret, true, "MissingParameter", 400},
		{"missing nonce", "GET", func(p Params) { delete(p, "SignatureNonce") }, testSecret, true, "MissingParameter", 400},
		{"missing AccessKeyId", "GET", func(p Params) { delete(p, "AccessKeyId") }, testSecret, true, "MissingParameter", 400},
		{"missing Action", "GET", func(p Params) { delete(p, "Action") }, testSecret, true, "MissingParameter", 400},
		{"unknown AccessKeyId", "GET", func(p Params) { p["AccessKeyId"] = "LTAInobody" }, testSecret, true, "InvalidAccessKeyId.NotFound", 404},
		{"HMAC-SHA256 method", "GET", func(p Params) { p["SignatureMethod"] = "HMAC-SHA256" }, testSecret, true, "InvalidSignatureMethod", 400},
		{"version 2.0", "GET", func(p Params) { p["SignatureVersion"] = "2.0" }, testSecret, true, "InvalidSignatureMethod", 400},
		{"v1 turned off", "GET", nil, testSecret, false, "InvalidSignatureVersion", 400},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := newTestAuth(tc.allowV1)
			p := v1Params("nonce-" + string(rune('a'+i)))
			if tc.mutate != nil {
				tc.mutate(p)
			}
			r, body := v1HTTP(tc.method, p, tc.secret)
			req, err := a.Authenticate(context.Background(), r, body)
			if tc.code != "" {
				e := wantCode(t, err, tc.code, tc.status)
				if tc.code == "SignatureDoesNotMatch" {
					// The cloud's message, which the classic SDK compares with
					// its own string to sign to tell a bad secret from a bug.
					if !strings.Contains(e.Message, "server string to sign is:"+StringToSignV1(tc.method, p)) {
						t.Fatalf("message lacks the string to sign: %s", e.Message)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if req.AccessKeyID != testAK || req.Action != "DescribeCertificate" || req.Version != "2016-01-20" ||
				req.SignatureVersion != "1.0" || !strings.EqualFold(req.Format, p["Format"]) || req.Params.Get("CertificateId") != "c-1" {
				t.Fatalf("got %+v", req)
			}
		})
	}
}

// TestNonceIsSpentOnlyByAVerifiedRequest: a forged request cannot burn a
// nonce, a verified one can be used once, and another AccessKey has its own
// nonce space.
func TestNonceIsSpentOnlyByAVerifiedRequest(t *testing.T) {
	a, nonces := newTestAuth(true)
	a.Creds = memCreds{testAK: testSecret, "LTAIother": "other-secret"}
	ctx := context.Background()

	r, body := v1HTTP("POST", v1Params("n-1"), "forged")
	wantCode(t, func() error { _, err := a.Authenticate(ctx, r, body); return err }(), "SignatureDoesNotMatch", 400)
	stale := v1Params("n-1")
	stale["Timestamp"] = "2020-01-01T00:00:00Z"
	r, body = v1HTTP("POST", stale, testSecret)
	wantCode(t, func() error { _, err := a.Authenticate(ctx, r, body); return err }(), "InvalidTimeStamp.Expired", 400)
	if nonces.Len() != 0 {
		t.Fatalf("refused requests recorded %d nonces", nonces.Len())
	}

	good := v1Params("n-1")
	r, body = v1HTTP("POST", good, testSecret)
	if _, err := a.Authenticate(ctx, r, body); err != nil {
		t.Fatalf("first use: %v", err)
	}
	r, body = v1HTTP("POST", good, testSecret) // byte-identical replay
	wantCode(t, func() error { _, err := a.Authenticate(ctx, r, body); return err }(), "SignatureNonceUsed", 400)

	other := v1Params("n-1")
	other["AccessKeyId"] = "LTAIother"
	r, body = v1HTTP("GET", other, "other-secret")
	if _, err := a.Authenticate(ctx, r, body); err != nil {
		t.Fatalf("same nonce, other AccessKey: %v", err)
	}
}

func TestAuthenticateNonceStoreDownIsInternal(t *testing.T) {
	a, _ := newTestAuth(true)
	a.Nonces = failingNonces{}
	r, body := v1HTTP("GET", v1Params("n"), testSecret)
	_, err := a.Authenticate(context.Background(), r, body)
	e := wantCode(t, err, "InternalError", 500)
	if strings.Contains(e.Message, "database") {
		t.Fatalf("internal detail reached the message: %s", e.Message)
	}
}

// TestAuthenticateRefusesAmbiguousParameters: the value handled must be the
// value signed, so a name in both query and body, or twice, is refused
// before any signature check.
func TestAuthenticateRefusesAmbiguousParameters(t *testing.T) {
	a, nonces := newTestAuth(true)
	p := v1Params("n-amb")
	p["Signature"] = SignV1("POST", p, testSecret)
	form := url.Values{}
	for k, v := range p {
		form.Set(k, v)
	}
	for _, query := range []string{"CertificateId=c-2", "CertificateId=c-1", "X=1&X=2"} {
		r := httptest.NewRequest("POST", "/?"+query, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		_, err := a.Authenticate(context.Background(), r, []byte(form.Encode()))
		wantCode(t, err, "InvalidParameter", 400)
	}
	if nonces.Len() != 0 {
		t.Fatal("a refused request spent its nonce")
	}
}

func TestAuthenticateV3(t *testing.T) {
	query := map[string]string{"CertificateId": "c-1"}
	tests := []struct {
		name   string
		call   v3Call
		secret string
		skew   time.Duration
		mutate func(r *http.Request, body *[]byte)
		code   string
		status int
	}{
		{"query", v3Call{method: "POST", query: query}, testSecret, 0, nil, "", 200},
		{"form body", v3Call{method: "POST", form: map[string]string{"CertificateId": "c-1"}}, testSecret, 0, nil, "", 200},
		{"GET", v3Call{method: "GET", query: query}, testSecret, 0, nil, "", 200},
		{"wrong secret", v3Call{method: "POST", query: query}, "wrong", 0, nil, "SignatureDoesNotMatch", 400},
		{"tampered query", v3Call{method: "POST", query: query}, testSecret, 0,
			func(r *http.Request, _ *[]byte) { r.URL.RawQuery = "CertificateId=c-2" }, "SignatureDoesNotMatch", 400},
		{"tampered body", v3Call{method: "POST", form: map[string]string{"CertificateId": "c-1"}}, testSecret, 0,
			func(_ *http.Request, b *[]byte) { *b = []byte("CertificateId=c-2") }, "SignatureDoesNotMatch", 400},
		{"tampered action", v3Call{method: "POST", query: query}, testSecret, 0,
			func(r *http.Request, _ *[]byte) { r.Header.Set("x-acs-action", "DeleteCertificate") }, "SignatureDoesNotMatch", 400},
		{"tampered host", v3Call{method: "POST", query: query}, testSecret, 0,
			func(r *http.Request, _ *[]byte) { r.Host = "evil.example:80" }, "SignatureDoesNotMatch", 400},
		{"unsigned x-acs header", v3Call{method: "POST", query: query}, testSecret, 0,
			func(r *http.Request, _ *[]byte) { r.Header.Set("x-acs-security-token", "t") }, "IncompleteSignature", 400},
		{"host not signed", v3Call{method: "POST", query: query}, testSecret, 0,
			func(r *http.Request, _ *[]byte) {
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "SignedHeaders=host;", "SignedHeaders=", 1))
			}, "IncompleteSignature", 400},
		{"malformed Authorization", v3Call{method: "POST", query: query}, testSecret, 0,
			func(r *http.Request, _ *[]byte) { r.Header.Set("Authorization", "ACS3-HMAC-SHA256 nonsense") }, "IncompleteSignature", 400},
		{"stale", v3Call{method: "POST", query: query}, testSecret, -16 * time.Minute, nil, "InvalidTimeStamp.Expired", 400},
		{"future", v3Call{method: "POST", query: query}, testSecret, 16 * time.Minute, nil, "InvalidTimeStamp.Expired", 400},
		{"garbled date", v3Call{method: "POST", query: query}, testSecret, 0,
			func(r *http.Request, _ *[]byte) { r.Header.Set("x-acs-date", "Wed, 04 Mar 2026 05:06:07 GMT") }, "InvalidTimeStamp.Format", 400},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := newTestAuth(false) // V3 works with v1 turned off
			r, body := sdkV3Request(t, testAK, tc.secret, authNow.Add(tc.skew), "v3-nonce-"+string(rune('a'+i)), tc.call)
			if tc.mutate != nil {
				tc.mutate(r, &body)
			}
			req, err := a.Authenticate(context.Background(), r, body)
			if tc.code != "" {
				wantCode(t, err, tc.code, tc.status)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if req.AccessKeyID != testAK || req.Action != "DescribeCertificate" || req.Version != "2016-01-20" ||
				req.SignatureVersion != v3Algorithm || req.Params.Get("CertificateId") != "c-1" {
				t.Fatalf("got %+v", req)
			}
			r2, body2 := sdkV3Request(t, testAK, tc.secret, authNow.Add(tc.skew), "v3-nonce-"+string(rune('a'+i)), tc.call)
			_, err = a.Authenticate(context.Background(), r2, body2)
			wantCode(t, err, "SignatureNonceUsed", 400)
		})
	}
}

func TestAuthenticateV3UnknownAccessKey(t *testing.T) {
	a, _ := newTestAuth(true)
	r, body := sdkV3Request(t, "LTAInobody", testSecret, authNow, "n", v3Call{method: "POST"})
	_, err := a.Authenticate(context.Background(), r, body)
	wantCode(t, err, "InvalidAccessKeyId.NotFound", 404)
}

// TestAdmitRunsAfterTheSignatureAndBeforeTheNonce: a forged request never
// reaches Admit (it cannot spend a user's throttle), and a request Admit
// refuses records no nonce, so the same signed request is accepted once
// admitted.
func TestAdmitRunsAfterTheSignatureAndBeforeTheNonce(t *testing.T) {
	a, nonces := newTestAuth(true)
	var asked []string
	refuse := true
	a.Admit = func(id, _, action string) error {
		asked = append(asked, id+" "+action)
		if refuse {
			return throttled()
		}
		return nil
	}
	r, body := v1HTTP(http.MethodPost, v1Params("n-forged"), "not-the-secret")
	_, err := a.Authenticate(context.Background(), r, body)
	wantCode(t, err, "SignatureDoesNotMatch", 400)
	if len(asked) != 0 {
		t.Fatalf("a forged request reached Admit: %q", asked)
	}

	p := v1Params("n-1")
	r, body = v1HTTP(http.MethodPost, p, testSecret)
	_, err = a.Authenticate(context.Background(), r, body)
	wantCode(t, err, "Throttling.User", 400)
	if len(asked) != 1 || asked[0] != testAK+" DescribeCertificate" || nonces.Len() != 0 {
		t.Fatalf("Admit asked %q, %d nonces recorded", asked, nonces.Len())
	}
	refuse = false
	r, body = v1HTTP(http.MethodPost, p, testSecret)
	if _, err := a.Authenticate(context.Background(), r, body); err != nil {
		t.Fatalf("the admitted retry of a refused request: %v", err)
	}
	if nonces.Len() != 1 {
		t.Fatalf("%d nonces after one admitted request", nonces.Len())
	}
}
