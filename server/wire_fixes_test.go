package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestCanonicalQueryV3NamesLikeSDK: names holding '+', '*' or "%7E", or
// starting with '&', are canonicalised as the SDK does.
func TestCanonicalQueryV3NamesLikeSDK(t *testing.T) {
	for _, k := range []string{"a*b", "a+b", "a%7Eb", "a b", "a~b", "&", "&&a", "=", "a&b=c"} {
		r, body := sdkV3Request(t, "AKID", "secret", time.Now(), "n", v3Call{method: "POST", query: map[string]string{k: "v*+ ~"}})
		auth, err := parseAuthorizationV3(r.Header.Get("Authorization"))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(body)
		if got := signV3("secret", stringToSignV3(r, auth, hex.EncodeToString(sum[:]))); got != auth.Signature {
			t.Errorf("name %q: signature %s, SDK %s", k, got, auth.Signature)
		}
	}
}

// TestV3SignedHeaderRules: a signed header sent twice, and a body whose
// content-type is not signed, are refused.
func TestV3SignedHeaderRules(t *testing.T) {
	a, _ := newTestAuth(true)
	r, body := sdkV3Request(t, testAK, testSecret, authNow, "dup", v3Call{method: "POST"})
	r.Header.Add("x-acs-action", "DeleteCertificate")
	_, err := a.Authenticate(context.Background(), r, body)
	wantCode(t, err, "IncompleteSignature", 400)

	r, body = sdkV3Request(t, testAK, testSecret, authNow, "ct", v3Call{method: "POST", form: map[string]string{"A": "1"}})
	r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "content-type;", "", 1))
	_, err = a.Authenticate(context.Background(), r, body)
	wantCode(t, err, "IncompleteSignature", 400)
}

// TestZeroAuthenticatorDoesNotPanic: no clock and no window fall back to
// time.Now and 15 minutes.
func TestZeroAuthenticatorDoesNotPanic(t *testing.T) {
	a := &Authenticator{Creds: memCreds{testAK: testSecret}, Nonces: &MemoryNonces{}, AllowV1: true}
	p := v1Params("zero")
	p["Timestamp"] = time.Now().UTC().Format("2006-01-02T15:04:05Z")
	r, body := v1HTTP("GET", p, testSecret)
	if _, err := a.Authenticate(context.Background(), r, body); err != nil {
		t.Fatal(err)
	}
}

// TestWriteResultXMLRefusesUnsafeNames: a map key that is not an XML name
// becomes InternalError, never injected markup or an empty 200.
func TestWriteResultXMLRefusesUnsafeNames(t *testing.T) {
	rec := httptest.NewRecorder()
	err := WriteResult(rec, "XML", "A", "r", map[string]any{"Tags": map[string]any{"a><Injected>x</Injected><b": "v"}})
	if err == nil || rec.Code != 500 || strings.Contains(rec.Body.String(), "<Injected>") || !strings.Contains(rec.Body.String(), "<Code>InternalError</Code>") {
		t.Fatalf("%v %d %s", err, rec.Code, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	if err := WriteResult(rec, "JSON", "A", "r", map[string]any{"Tags": map[string]any{"a b": "v"}}); err != nil || rec.Code != 200 {
		t.Fatalf("JSON keys need no XML rules: %v %d", err, rec.Code)
	}
}
