package server

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	kms "github.com/alibabacloud-go/kms-20160120/v3/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/alibabacloud-go/tea/tea"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/certcustody/certcustody/certmgr"
	"github.com/google/uuid"
)

// The tests in this file are the ground truth for the wire core: the
// official SDKs, unmodified, sign requests against a server on 127.0.0.1
// that runs only the Authenticator and the encoders (no certmgr, no
// token), so a failure here is a wire-protocol failure and nothing else.

// rawRequest is a request as received, kept so a test can replay it.
type rawRequest struct {
	method, uri, host string
	header            http.Header
	body              []byte
}

// wireHarness is the loopback server.
type wireHarness struct {
	URL, Host string
	auth      *Authenticator

	mu   sync.Mutex
	last rawRequest // last request that authenticated
	req  *Request   // and what Authenticate made of it
}

// newWireHarness starts the server on 127.0.0.1 only and makes sure no SDK
// sends its traffic through a proxy from the environment.
func newWireHarness(t *testing.T, allowV1 bool, skew time.Duration) *wireHarness {
	t.Helper()
	for _, k := range []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"} {
		t.Setenv(k, "")
	}
	t.Setenv("NO_PROXY", "127.0.0.1")
	t.Setenv("no_proxy", "127.0.0.1")
	h := &wireHarness{auth: &Authenticator{
		Creds: memCreds{testAK: testSecret}, Nonces: &MemoryNonces{}, AllowV1: allowV1, Window: 15 * time.Minute,
		Now: func() time.Time { return time.Now().Add(skew) },
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(h.serve))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	h.URL, h.Host = srv.URL, ln.Addr().String()
	return h
}

// serve is the smallest RPC endpoint: authenticate, then echo a few
// parameters in the shape of a DescribeCertificate / DescribeCACertificate
// answer, in the format asked for.
func (h *wireHarness) serve(w http.ResponseWriter, r *http.Request) {
	requestID := uuid.NewString()
	format := r.URL.Query().Get("Format")
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes))
	if err != nil {
		WriteError(w, format, requestID, r.Host, certmgr.InvalidParameter("body", "unreadable"))
		return
	}
	req, err := h.auth.Authenticate(r.Context(), r, body)
	if err != nil {
		WriteError(w, format, requestID, r.Host, certmgr.AsError(err))
		return
	}
	h.mu.Lock()
	h.last = rawRequest{method: r.Method, uri: r.RequestURI, host: r.Host, header: r.Header.Clone(), body: body}
	h.req = req
	h.mu.Unlock()
	if req.Format != "" {
		format = req.Format
	}
	_ = WriteResult(w, format, req.Action, requestID, map[string]any{
		"CertificateId": req.Params.Get("CertificateId"), "Identifier": req.Params.Get("Identifier"),
		"Subject": "CN=wire,O=Example", "SubjectAlternativeNames": []string{"a.example", "b.example"},
		"ExportablePrivateKey": true, "Status": "ACTIVE",
	})
}

func (h *wireHarness) lastCall() (rawRequest, *Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last, h.req
}

// replay sends a captured request again, byte for byte, with net/http.
func (h *wireHarness) replay(t *testing.T, raw rawRequest) (int, string) {
	t.Helper()
	r, err := http.NewRequest(raw.method, h.URL+raw.uri, bytes.NewReader(raw.body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header = raw.header.Clone()
	r.Host = raw.host
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// kmsClient is the typed KMS SDK aimed at the harness: Endpoint host:port
// and Protocol http. sigAlg "" is the SDK default (ACS3-HMAC-SHA256); "v2"
// makes CallApi take DoRPCRequest (HMAC-SHA1, SignatureVersion 1.0).
func (h *wireHarness) kmsClient(t *testing.T, ak, secret, sigAlg string) *kms.Client {
	t.Helper()
	c, err := kms.NewClient(sdkConfig(h.Host, ak, secret, sigAlg))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// callCA calls a Private CA (2020-06-30) action through darabonba's
// generic CallApi, RPC style, parameters in the query or a form body.
func (h *wireHarness) callCA(t *testing.T, sigAlg, method string, query, body map[string]interface{}) (map[string]interface{}, error) {
	t.Helper()
	c, err := openapi.NewClient(sdkConfig(h.Host, testAK, testSecret, sigAlg))
	if err != nil {
		t.Fatal(err)
	}
	params := &openapiutil.Params{
		Action: tea.String("DescribeCACertificate"), Version: tea.String("2020-06-30"), Protocol: tea.String("HTTP"),
		Pathname: tea.String("/"), Method: tea.String(method), AuthType: tea.String("AK"), Style: tea.String("RPC"),
		ReqBodyType: tea.String("formData"), BodyType: tea.String("json"),
	}
	req := &openapiutil.OpenApiRequest{Query: openapiutil.Query(query)}
	if body != nil {
		req.Body = body
	}
	res, err := c.CallApi(params, req, &dara.RuntimeOptions{})
	if err != nil {
		return nil, err
	}
	b, _ := res["body"].(map[string]interface{})
	return b, nil
}

// classic is the classic SDK (github.com/aliyun/alibaba-cloud-sdk-go), which
// signs only with v1 HMAC-SHA1; CommonRequest.Domain is the harness.
func (h *wireHarness) classic(t *testing.T, ak, secret string) *sdk.Client {
	t.Helper()
	c, err := sdk.NewClientWithOptions("cn-hangzhou", sdk.NewConfig(), credentials.NewAccessKeyCredential(ak, secret))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (h *wireHarness) commonRequest(format string) *requests.CommonRequest {
	r := requests.NewCommonRequest()
	r.Method, r.Scheme, r.Domain = "POST", "http", h.Host
	r.Version, r.ApiName, r.AcceptFormat = "2016-01-20", "DescribeCertificate", format
	r.QueryParams["CertificateId"] = "c-classic"
	return r
}

// wantSDKError is wantAPIError for the wire harness, whose secret must not
// come back in the error either.
func wantSDKError(t *testing.T, err error, code string, status int) {
	t.Helper()
	wantAPIError(t, err, code, status)
	if strings.Contains(err.Error(), testSecret) {
		t.Fatal("the secret came back in the error")
	}
}

// wantClassicError asserts what the classic SDK decoded.
func wantClassicError(t *testing.T, err error, code string, status int) *sdkerrors.ServerError {
	t.Helper()
	var e *sdkerrors.ServerError
	if !errors.As(err, &e) {
		t.Fatalf("got %v (%T), want server error %s", err, err, code)
	}
	if e.ErrorCode() != code || e.HttpStatus() != status {
		t.Fatalf("got %s/%d, want %s/%d (%v)", e.ErrorCode(), e.HttpStatus(), code, status, err)
	}
	if strings.Contains(err.Error(), testSecret) {
		t.Fatal("the secret came back in the error")
	}
	return e
}

// TestTypedKMSSDKBothSignatures: the typed KMS SDK authenticates with its
// default V3 signature and with "v2" (v1 HMAC-SHA1), decodes our JSON, and
// a byte-identical replay of its request is refused as SignatureNonceUsed.
func TestTypedKMSSDKBothSignatures(t *testing.T) {
	h := newWireHarness(t, true, 0)
	for _, tc := range []struct{ sigAlg, wantSig string }{{"", v3Algorithm}, {"v2", "1.0"}} {
		t.Run("SignatureAlgorithm="+tc.sigAlg, func(t *testing.T) {
			c := h.kmsClient(t, testAK, testSecret, tc.sigAlg)
			resp, err := c.DescribeCertificate(&kms.DescribeCertificateRequest{CertificateId: tea.String("c-42")})
			if err != nil {
				t.Fatal(err)
			}
			b := resp.Body
			if tea.StringValue(b.CertificateId) != "c-42" || tea.StringValue(b.RequestId) == "" || !tea.BoolValue(b.ExportablePrivateKey) ||
				len(b.SubjectAlternativeNames) != 2 || tea.StringValue(b.SubjectAlternativeNames[1]) != "b.example" {
				t.Fatalf("decoded %s", b)
			}
			raw, req := h.lastCall()
			if req.SignatureVersion != tc.wantSig || req.Action != "DescribeCertificate" || req.Version != "2016-01-20" || req.AccessKeyID != testAK {
				t.Fatalf("authenticated as %+v", req)
			}
			if hasSig := strings.Contains(raw.uri, "Signature="); hasSig != (tc.wantSig == "1.0") {
				t.Fatalf("v1 Signature parameter present=%v in %s", hasSig, raw.uri)
			}
			if status, body := h.replay(t, raw); status != 400 || !strings.Contains(body, `"Code":"SignatureNonceUsed"`) {
				t.Fatalf("replay: %d %s", status, body)
			}
		})
	}
}

// TestGenericCallApiPrivateCA: darabonba's generic CallApi for a Version
// 2020-06-30 action, with parameters in the query, in a form body (the
// body's SHA-256 is then signed), by GET, and with the v1 signature.
func TestGenericCallApiPrivateCA(t *testing.T) {
	h := newWireHarness(t, true, 0)
	id := map[string]interface{}{"Identifier": "ca-7"}
	tests := []struct {
		name, sigAlg, method string
		query, body          map[string]interface{}
		wantSig              string
	}{
		{"V3 query", "", "POST", id, nil, v3Algorithm},
		{"V3 form body", "", "POST", nil, id, v3Algorithm},
		{"V3 GET", "", "GET", id, nil, v3Algorithm},
		{"v1 query", "v2", "POST", id, nil, "1.0"},
		{"v1 form body", "v2", "POST", map[string]interface{}{"RegionId": "cn-hangzhou"}, id, "1.0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, err := h.callCA(t, tc.sigAlg, tc.method, tc.query, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if body["Identifier"] != "ca-7" || body["RequestId"] == "" {
				t.Fatalf("decoded %v", body)
			}
			raw, req := h.lastCall()
			if req.SignatureVersion != tc.wantSig || req.Version != "2020-06-30" || req.Action != "DescribeCACertificate" {
				t.Fatalf("authenticated as %+v", req)
			}
			if tc.body != nil && !bytes.Contains(raw.body, []byte("Identifier=ca-7")) {
				t.Fatalf("the SDK sent no form body: %q %s", raw.body, raw.uri)
			}
			if auth := raw.header.Get("Authorization"); tc.wantSig == v3Algorithm && tc.body != nil && !strings.Contains(auth, "content-type;") {
				t.Fatalf("V3 with a body did not sign content-type: %s", auth)
			}
		})
	}
}

// TestClassicSDKCommonRequest: the classic SDK's CommonRequest (v1) in JSON
// and XML; XML comes back as <DescribeCertificateResponse> and decodes with
// encoding/xml (the classic SDK's own XML path), and a replay is refused in
// the format the request asked for.
func TestClassicSDKCommonRequest(t *testing.T) {
	h := newWireHarness(t, true, 0)
	c := h.classic(t, testAK, testSecret)

	resp, err := c.ProcessCommonRequest(h.commonRequest("JSON"))
	if err != nil {
		t.Fatal(err)
	}
	var j struct {
		RequestId, CertificateId string
		SubjectAlternativeNames  []string
	}
	if err := json.Unmarshal(resp.GetHttpContentBytes(), &j); err != nil || j.CertificateId != "c-classic" || len(j.SubjectAlternativeNames) != 2 {
		t.Fatalf("JSON %s: %v", resp.GetHttpContentString(), err)
	}

	resp, err = c.ProcessCommonRequest(h.commonRequest("XML"))
	if err != nil {
		t.Fatal(err)
	}
	var x struct {
		XMLName                  xml.Name
		RequestId, CertificateId string
		SubjectAlternativeNames  []string
		ExportablePrivateKey     bool
	}
	if err := xml.Unmarshal(resp.GetHttpContentBytes(), &x); err != nil || x.XMLName.Local != "DescribeCertificateResponse" ||
		x.CertificateId != "c-classic" || x.RequestId == "" || len(x.SubjectAlternativeNames) != 2 || !x.ExportablePrivateKey {
		t.Fatalf("XML %s: %v", resp.GetHttpContentString(), err)
	}
	raw, req := h.lastCall()
	if req.SignatureVersion != "1.0" || !strings.EqualFold(req.Format, "XML") {
		t.Fatalf("authenticated as %+v", req)
	}
	if status, body := h.replay(t, raw); status != 400 || !strings.Contains(body, "<Code>SignatureNonceUsed</Code>") {
		t.Fatalf("replay: %d %s", status, body)
	}
}

// TestSDKsSeeOurErrors: wrong secret, unknown AccessKey, a clock 20 minutes
// apart and v1 turned off reach each SDK as the cloud's codes and statuses.
func TestSDKsSeeOurErrors(t *testing.T) {
	h := newWireHarness(t, true, 0)
	for _, sigAlg := range []string{"", "v2"} {
		_, err := h.kmsClient(t, testAK, "wrong-secret", sigAlg).DescribeCertificate(&kms.DescribeCertificateRequest{CertificateId: tea.String("c")})
		wantSDKError(t, err, "SignatureDoesNotMatch", 400)
		_, err = h.kmsClient(t, "LTAInobody", testSecret, sigAlg).DescribeCertificate(&kms.DescribeCertificateRequest{CertificateId: tea.String("c")})
		wantSDKError(t, err, "InvalidAccessKeyId.NotFound", 404)
	}

	_, err := h.classic(t, testAK, "wrong-secret").ProcessCommonRequest(h.commonRequest("JSON"))
	e := wantClassicError(t, err, "SignatureDoesNotMatch", 400)
	// The classic SDK compares our string to sign with its own: equal means
	// "your secret is wrong", different means "SDK bug". Equal proves the
	// v1 canonicalisation matches byte for byte.
	if !strings.Contains(e.Recommend(), "InvalidAccessKeySecret") {
		t.Fatalf("server and SDK strings to sign differ: %q", e.Recommend())
	}
	_, err = h.classic(t, "LTAInobody", testSecret).ProcessCommonRequest(h.commonRequest("JSON"))
	wantClassicError(t, err, "InvalidAccessKeyId.NotFound", 404)

	t.Run("clock 20 minutes apart", func(t *testing.T) {
		for _, skew := range []time.Duration{20 * time.Minute, -20 * time.Minute} {
			late := newWireHarness(t, true, skew)
			for _, sigAlg := range []string{"", "v2"} {
				_, err := late.kmsClient(t, testAK, testSecret, sigAlg).DescribeCertificate(&kms.DescribeCertificateRequest{CertificateId: tea.String("c")})
				wantSDKError(t, err, "InvalidTimeStamp.Expired", 400)
			}
			_, err := late.classic(t, testAK, testSecret).ProcessCommonRequest(late.commonRequest("JSON"))
			wantClassicError(t, err, "InvalidTimeStamp.Expired", 400)
		}
	})

	t.Run("v1 turned off", func(t *testing.T) {
		v3only := newWireHarness(t, false, 0)
		_, err := v3only.kmsClient(t, testAK, testSecret, "v2").DescribeCertificate(&kms.DescribeCertificateRequest{CertificateId: tea.String("c")})
		wantSDKError(t, err, "InvalidSignatureVersion", 400)
		_, err = v3only.classic(t, testAK, testSecret).ProcessCommonRequest(v3only.commonRequest("JSON"))
		wantClassicError(t, err, "InvalidSignatureVersion", 400)
		if _, err := v3only.kmsClient(t, testAK, testSecret, "").DescribeCertificate(&kms.DescribeCertificateRequest{CertificateId: tea.String("c")}); err != nil {
			t.Fatalf("V3 with v1 turned off: %v", err)
		}
	})
}
