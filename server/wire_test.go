package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	"github.com/alibabacloud-go/tea/tea"
	"github.com/certcustody/certcustody/certmgr"
	"github.com/google/uuid"
)

func TestParseParamsMergesAndRefusesDuplicates(t *testing.T) {
	tests := []struct {
		name, query, body, ctype string
		want                     Params
		wantErr                  bool
	}{
		{"query only", "A=1&B=", "", "", Params{"A": "1", "B": ""}, false},
		{"query and form", "A=1", "B=2", "application/x-www-form-urlencoded", Params{"A": "1", "B": "2"}, false},
		{"form with charset", "", "B=%E4%B8%AD", "application/x-www-form-urlencoded; charset=utf-8", Params{"B": "中"}, false},
		{"non-form body ignored", "A=1", "B=2", "application/json", Params{"A": "1"}, false},
		{"same name in query and body", "A=1", "A=1", "application/x-www-form-urlencoded", nil, true},
		{"twice in query", "A=1&A=2", "", "", nil, true},
		{"bad escape", "A=%zz", "", "", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/?"+tc.query, strings.NewReader(tc.body))
			if tc.ctype != "" {
				r.Header.Set("Content-Type", tc.ctype)
			}
			got, err := ParseParams(r, []byte(tc.body))
			if tc.wantErr {
				var e *certmgr.Error
				if !errors.As(err, &e) || e.Code != "InvalidParameter" {
					t.Fatalf("got %v, want InvalidParameter", err)
				}
				return
			}
			if err != nil || len(got) != len(tc.want) {
				t.Fatalf("got %v %v, want %v", got, err, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Fatalf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestParamsListAndMap(t *testing.T) {
	p := Params{"E.1": "a", "E.2": "b", "E.3": "c", "Tag.Key": "k", "Tag.Value": "v", "Other": "x"}
	l, err := p.List("E")
	if err != nil || strings.Join(l, ",") != "a,b,c" {
		t.Fatalf("List: %v %v", l, err)
	}
	m := p.Map("Tag")
	if len(m) != 2 || m["Key"] != "k" || m["Value"] != "v" {
		t.Fatalf("Map: %v", m)
	}
	for _, bad := range []Params{{"E.1": "a", "E.3": "c"}, {"E.0": "a"}, {"E.01": "a"}, {"E.x": "a"}, {"E.1001": "a"}} {
		if _, err := bad.List("E"); err == nil {
			t.Fatalf("List accepted %v", bad)
		}
	}
	if n, err := (Params{"N": "x"}).Int("N", 0); err == nil {
		t.Fatalf("Int accepted garbage: %d", n)
	}
	if b, err := (Params{"B": "TRUE"}).Bool("B", false); err != nil || !b {
		t.Fatal("Bool is case-insensitive")
	}
}

// TestSignV1MatchesSDK compares our canonicalisation with the SDK's own
// signer over awkward values (UTF-8, reserved and unreserved characters).
func TestSignV1MatchesSDK(t *testing.T) {
	values := []string{"", "plain", "a b+c*d~e", "中文/?&=", "%41", "!'()", "CN=x,OU=y\\,z"}
	for _, v := range values {
		p := Params{"Action": "CreateCertificate", "Subject": v, "Empty": "", "Signature": "ignored"}
		sdkParams := map[string]*string{}
		for k, val := range p {
			if k != "Signature" {
				sdkParams[k] = tea.String(val)
			}
		}
		want := tea.StringValue(openapiutil.GetRPCSignature(sdkParams, tea.String("POST"), tea.String("secret")))
		if got := SignV1("POST", p, "secret"); got != want {
			t.Fatalf("value %q: got %s, SDK %s", v, got, want)
		}
	}
}

// rawV1 sends a v1-signed form POST built by hand, so tests can replay it,
// age it or inflate it.
func (e *env) rawV1(t testing.TB, params Params, mutate func(form url.Values)) (int, map[string]string) {
	t.Helper()
	status, b := e.postV1(t, params, mutate)
	out := map[string]string{}
	var raw map[string]any
	_ = json.Unmarshal(b, &raw)
	for k, v := range raw {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return status, out
}

// postV1 signs params (over KMS JSON defaults) with v1, lets mutate
// change the form after signing, and returns the status and body as sent.
func (e *env) postV1(t testing.TB, params Params, mutate func(form url.Values)) (int, []byte) {
	t.Helper()
	base := Params{
		"Format": "JSON", "Version": "2016-01-20", "AccessKeyId": e.AK.AccessKeyID, "SignatureMethod": "HMAC-SHA1",
		"SignatureVersion": "1.0", "SignatureNonce": uuid.NewString(), "Timestamp": time.Now().UTC().Format("2006-01-02T15:04:05Z"),
	}
	for k, v := range params {
		base[k] = v
	}
	base["Signature"] = SignV1("POST", base, e.AK.AccessKeySecret)
	form := url.Values{}
	for k, v := range base {
		form.Set(k, v)
	}
	if mutate != nil {
		mutate(form)
	}
	resp, err := http.Post(e.URL+"/", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// TestAuthRefusalsChangeNothing: replayed nonce, stale timestamp, oversized
// body and a parameter given twice are refused with their codes, and no
// certificate or token key appears.
func TestAuthRefusalsChangeNothing(t *testing.T) {
	e := newEnv(t)
	rows0, keys0 := e.counts(t)
	create := Params{"Action": "CreateCertificate", "KeySpec": "EC_P256", "Subject": "CN=a,OU=b,O=c,C=CN"}
	bad := Params{"Action": "CreateCertificate", "KeySpec": "EC_P999", "Subject": "CN=a,OU=b,O=c,C=CN"}
	// A replay repeats the signed timestamp with the nonce.
	fixedNonce := Params{"SignatureNonce": "nonce-once", "Timestamp": time.Now().UTC().Format("2006-01-02T15:04:05Z")}
	for k, v := range bad {
		fixedNonce[k] = v
	}
	if status, body := e.rawV1(t, fixedNonce, nil); status != 400 || body["Code"] != "InvalidParameter" || body["RequestId"] == "" {
		t.Fatalf("first use of the nonce: %d %v", status, body)
	}
	tests := []struct {
		name   string
		params Params
		mutate func(url.Values)
		status int
		code   string
	}{
		{"replayed nonce", fixedNonce, nil, 400, "SignatureNonceUsed"},
		{"stale timestamp", withParam(create, "Timestamp", time.Now().Add(-20*time.Minute).UTC().Format("2006-01-02T15:04:05Z")), nil, 400, "InvalidTimeStamp.Expired"},
		{"future timestamp", withParam(create, "Timestamp", time.Now().Add(20*time.Minute).UTC().Format("2006-01-02T15:04:05Z")), nil, 400, "InvalidTimeStamp.Expired"},
		{"garbled timestamp", withParam(create, "Timestamp", "yesterday"), nil, 400, "InvalidTimeStamp.Format"},
		{"oversized body", create, func(f url.Values) { f.Set("Pad", strings.Repeat("x", MaxBodyBytes)) }, 413, "RequestEntityTooLarge"},
		{"tampered parameter", create, func(f url.Values) { f.Set("KeySpec", "RSA_2048") }, 400, "SignatureDoesNotMatch"},
		{"missing signature", create, func(f url.Values) { f.Del("Signature") }, 400, "MissingParameter"},
		{"unknown action", Params{"Action": "Nope"}, nil, 404, "InvalidAction.NotFound"},
		{"wrong signature method", withParam(create, "SignatureMethod", "HMAC-MD5"), nil, 400, "InvalidSignatureMethod"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.rawV1(t, tc.params, tc.mutate)
			if status != tc.status || body["Code"] != tc.code || body["RequestId"] == "" {
				t.Fatalf("got %d %v, want %d %s", status, body, tc.status, tc.code)
			}
		})
	}
	t.Run("parameter in query and body", func(t *testing.T) {
		p := withParam(create, "SignatureNonce", uuid.NewString())
		p["Version"], p["Format"], p["AccessKeyId"] = "2016-01-20", "JSON", e.AK.AccessKeyID
		p["SignatureMethod"], p["SignatureVersion"] = "HMAC-SHA1", "1.0"
		p["Timestamp"] = time.Now().UTC().Format("2006-01-02T15:04:05Z")
		p["Signature"] = SignV1("POST", p, e.AK.AccessKeySecret)
		form := url.Values{}
		for k, v := range p {
			form.Set(k, v)
		}
		resp, err := http.Post(e.URL+"/?KeySpec=RSA_2048", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("got HTTP %d", resp.StatusCode)
		}
	})
	if rows, keys := e.counts(t); rows != rows0 || keys != keys0 {
		t.Fatalf("refused requests left rows %d→%d, keys %d→%d", rows0, rows, keys0, keys)
	}
	if status, body := e.rawV1(t, create, nil); status != 200 || body["CertificateId"] == "" {
		t.Fatalf("a correct request after the refusals: %d %v", status, body)
	}
}

func TestV1CanBeTurnedOff(t *testing.T) {
	a := &Authenticator{Creds: nil, Nonces: nil, Now: time.Now, AllowV1: false, Window: 15 * time.Minute}
	p := Params{"Action": "X", "Version": "v", "AccessKeyId": "a", "Signature": "s", "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0", "SignatureNonce": "n", "Timestamp": "2026-01-01T00:00:00Z"}
	form := url.Values{}
	for k, v := range p {
		form.Set(k, v)
	}
	r := httptest.NewRequest(http.MethodGet, "/?"+form.Encode(), nil)
	_, err := a.Authenticate(context.Background(), r, nil)
	var e *certmgr.Error
	if !errors.As(err, &e) || e.Code != "InvalidSignatureVersion" {
		t.Fatalf("got %v", err)
	}
}

func withParam(p Params, k, v string) Params {
	out := Params{}
	for a, b := range p {
		out[a] = b
	}
	out[k] = v
	return out
}
