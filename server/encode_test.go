package server

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/responses"
	"github.com/certcustody/certcustody/certmgr"
)

// encodeSample exercises every shape a certmgr result has: strings with
// markup, exact large integers, booleans, nested objects, lists of scalars
// and of objects, and empty lists.
type encodeSample struct {
	CertificateId string         `json:"CertificateId"`
	Subject       string         `json:"Subject"`
	Serial        int64          `json:"Serial"`
	Exportable    bool           `json:"ExportablePrivateKey"`
	Sans          []string       `json:"SubjectAlternativeNames"`
	Certs         []encodeItem   `json:"Certificates"`
	Empty         []string       `json:"Empty"`
	Nested        map[string]any `json:"Nested"`
	Omitted       string         `json:"Omitted,omitempty"`
}

type encodeItem struct {
	Id     string `json:"Id"`
	Status string `json:"Status"`
}

var sample = encodeSample{
	CertificateId: "c-1", Subject: `CN=<a&b>,O="x"`, Serial: 9007199254740993, Exportable: true,
	Sans:   []string{"a.example", "b.example"},
	Certs:  []encodeItem{{"1", "ISSUE"}, {"2", "REVOKE"}},
	Empty:  []string{},
	Nested: map[string]any{"Inner": "v", "N": 1.5},
}

func TestWriteResultJSON(t *testing.T) {
	rec := httptest.NewRecorder()
	if err := WriteResult(rec, "", "DescribeCertificate", "req-1", sample); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("status %d, type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	body := rec.Body.String()
	// Large integers are not rounded through float64; markup is not
	// HTML-escaped (a PEM or DN must come back byte for byte).
	for _, want := range []string{`"Serial":9007199254740993`, `"Subject":"CN=<a&b>,O=\"x\""`, `"RequestId":"req-1"`, `"Empty":[]`} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %s: %s", want, body)
		}
	}
	if strings.Contains(body, "Omitted") {
		t.Error("omitempty ignored")
	}
	var back encodeSample
	if err := json.Unmarshal(rec.Body.Bytes(), &back); err != nil || back.Serial != sample.Serial || len(back.Certs) != 2 {
		t.Fatalf("round trip: %+v %v", back, err)
	}
}

// TestWriteResultJSONOnePass: the one-pass JSON answer has exactly the
// members of the general path (struct to map, RequestId added, encoded),
// for an object, an empty object, null, and a pointer to a struct.
func TestWriteResultJSONOnePass(t *testing.T) {
	for name, v := range map[string]any{"object": sample, "pointer": &sample, "empty": struct{}{}, "null": nil, "map": map[string]any{"A": 1}} {
		body, ok := jsonResult(v, "req-1")
		if !ok {
			t.Fatalf("%s: not encoded in one pass", name)
		}
		m, err := toMap(v)
		if err != nil {
			t.Fatal(err)
		}
		m["RequestId"] = "req-1"
		var want, got any
		wb, _ := json.Marshal(m)
		if err := json.Unmarshal(wb, &want); err != nil {
			t.Fatal(err)
		}
		d := json.NewDecoder(strings.NewReader(string(body)))
		if err := d.Decode(&got); err != nil {
			t.Fatalf("%s: %s is not JSON: %v", name, body, err)
		}
		if d.More() {
			t.Fatalf("%s: trailing data after the object: %s", name, body)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: one pass %s, general path %s", name, body, wb)
		}
	}
	if _, ok := jsonResult([]string{"a"}, "req-1"); ok {
		t.Error("a list was answered as an object")
	}
}

// classicXMLResponse is how the classic SDK's generated response types
// look: an embedded *responses.BaseResponse and xml tags naming children;
// the root element's name is not checked.
type classicXMLResponse struct {
	*responses.BaseResponse
	RequestId     string       `xml:"RequestId"`
	CertificateId string       `xml:"CertificateId"`
	Subject       string       `xml:"Subject"`
	Serial        int64        `xml:"Serial"`
	Exportable    bool         `xml:"ExportablePrivateKey"`
	Sans          []string     `xml:"SubjectAlternativeNames"`
	Certs         []encodeItem `xml:"Certificates"`
	Nested        struct {
		Inner string  `xml:"Inner"`
		N     float64 `xml:"N"`
	} `xml:"Nested"`
}

// TestWriteResultXMLDecodesInClassicSDK runs the classic SDK's own
// response decoder (responses.Unmarshal with format "XML") over our body.
func TestWriteResultXMLDecodesInClassicSDK(t *testing.T) {
	for _, format := range []string{"XML", "xml", "Xml"} {
		rec := httptest.NewRecorder()
		if err := WriteResult(rec, format, "DescribeCertificate", "req-2", sample); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/xml") {
			t.Fatalf("%s: content type %q", format, rec.Header().Get("Content-Type"))
		}
		body := rec.Body.String()
		if !strings.HasPrefix(body, xml.Header+"<DescribeCertificateResponse>") || !strings.HasSuffix(body, "</DescribeCertificateResponse>") {
			t.Fatalf("%s: root element: %s", format, body)
		}
		// Lists are repeated elements of the field's name.
		if !strings.Contains(body, "<SubjectAlternativeNames>a.example</SubjectAlternativeNames><SubjectAlternativeNames>b.example</SubjectAlternativeNames>") {
			t.Fatalf("list shape: %s", body)
		}
		got := &classicXMLResponse{BaseResponse: &responses.BaseResponse{}}
		if err := responses.Unmarshal(got, rec.Result(), "XML"); err != nil {
			t.Fatalf("classic SDK decode: %v\n%s", err, body)
		}
		if got.RequestId != "req-2" || got.CertificateId != "c-1" || got.Subject != sample.Subject || got.Serial != sample.Serial ||
			!got.Exportable || strings.Join(got.Sans, ",") != "a.example,b.example" || len(got.Certs) != 2 ||
			got.Certs[1] != (encodeItem{"2", "REVOKE"}) || got.Nested.Inner != "v" || got.Nested.N != 1.5 {
			t.Fatalf("decoded %+v from %s", got, body)
		}
	}
}

func TestWriteResultEdgeValues(t *testing.T) {
	for _, v := range []any{nil, map[string]any{}, struct{}{}} {
		rec := httptest.NewRecorder()
		if err := WriteResult(rec, "XML", "A", "r", v); err != nil {
			t.Fatalf("%#v: %v", v, err)
		}
		if !strings.Contains(rec.Body.String(), "<AResponse><RequestId>r</RequestId></AResponse>") {
			t.Fatalf("%#v: %s", v, rec.Body.String())
		}
	}
	// A result that is not an object cannot carry a RequestId: an error
	// and an InternalError body, not a panic and not an empty 200.
	rec := httptest.NewRecorder()
	if err := WriteResult(rec, "JSON", "A", "r", []string{"x"}); err == nil || rec.Code != 500 || !strings.Contains(rec.Body.String(), `"Code":"InternalError"`) {
		t.Fatalf("list result: %v %q", err, rec.Body.String())
	}
	// A null inside an object is an empty element.
	rec = httptest.NewRecorder()
	if err := WriteResult(rec, "XML", "A", "r", map[string]any{"Chain": nil}); err != nil || !strings.Contains(rec.Body.String(), "<Chain/>") {
		t.Fatalf("null: %v %s", err, rec.Body.String())
	}
}

func TestWriteErrorJSON(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, "JSON", "req-3", "kms.example:8443", certmgr.NotFound("InvalidAccessKeyId.NotFound", "Specified access key is not found."))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("status %d", rec.Code)
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"RequestId", "HostId", "Code", "Message", "Recommend"} {
		if _, ok := body[k].(string); !ok {
			t.Fatalf("field %s missing or not a string: %s", k, rec.Body.String())
		}
	}
	// The classic SDK reads exactly these fields out of a JSON error body.
	se, ok := sdkerrors.NewServerError(rec.Code, rec.Body.String(), "").(*sdkerrors.ServerError)
	if !ok || se.ErrorCode() != "InvalidAccessKeyId.NotFound" || se.RequestId() != "req-3" || se.HostId() != "kms.example:8443" || se.HttpStatus() != 404 {
		t.Fatalf("classic SDK read %v", se)
	}
}

func TestWriteErrorXML(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, "xml", "req-4", "h", certmgr.InvalidParameter("Subject", "bad <DN> & more"))
	if rec.Code != 400 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/xml") {
		t.Fatalf("status %d type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var e struct {
		XMLName                                     xml.Name
		RequestId, HostId, Code, Message, Recommend string
	}
	if err := xml.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		t.Fatalf("%v: %s", err, rec.Body.String())
	}
	if e.XMLName.Local != "Error" || e.Code != "InvalidParameter" || e.RequestId != "req-4" || !strings.Contains(e.Message, "bad <DN> & more") {
		t.Fatalf("decoded %+v from %s", e, rec.Body.String())
	}
}

// TestWriteErrorInternalIsGeneric: the cause of an InternalError (which
// may name files, SQL or token state) never reaches the body.
func TestWriteErrorInternalIsGeneric(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, "JSON", "r", "h", certmgr.AsError(errorString("open /var/lib/secret.db: permission denied")))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "secret.db") || !strings.Contains(rec.Body.String(), `"Code":"InternalError"`) {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }
