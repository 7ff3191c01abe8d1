package server

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
)

// commonRequest builds a classic-SDK CommonRequest (v1 HMAC-SHA1 signature)
// aimed at the test server.
func (e *env) commonRequest(version, action, format string, params map[string]string) *requests.CommonRequest {
	r := requests.NewCommonRequest()
	r.Method = "POST"
	r.Scheme = "http"
	r.Domain = e.Host
	r.Version = version
	r.ApiName = action
	r.AcceptFormat = format
	for k, v := range params {
		r.QueryParams[k] = v
	}
	return r
}

func (e *env) classicClient(t testing.TB) *sdk.Client {
	t.Helper()
	c, err := sdk.NewClientWithOptions("cn-hangzhou", sdk.NewConfig(), credentials.NewAccessKeyCredential(e.AK.AccessKeyID, e.AK.AccessKeySecret))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestClassicSDKJSONAndXML drives KMS through the classic SDK's
// CommonRequest with a v1 signature, in JSON and in XML.
func TestClassicSDKJSONAndXML(t *testing.T) {
	e := newEnv(t)
	c := e.classicClient(t)
	resp, err := c.ProcessCommonRequest(e.commonRequest("2016-01-20", "CreateCertificate", "JSON", map[string]string{
		"KeySpec": "EC_P256", "Subject": "CN=classic,OU=ops,O=Example,C=CN", "SubjectAlternativeNames": `["classic.example.com"]`,
	}))
	if err != nil {
		t.Fatalf("CreateCertificate (JSON, v1): %v", err)
	}
	var created struct{ RequestId, CertificateId, Arn, Csr string }
	if err := json.Unmarshal(resp.GetHttpContentBytes(), &created); err != nil || created.CertificateId == "" || created.RequestId == "" {
		t.Fatalf("JSON body %s: %v", resp.GetHttpContentString(), err)
	}
	if resp.GetHttpHeaders()["X-Acs-Request-Id"][0] != created.RequestId {
		t.Fatal("RequestId header and body differ")
	}
	resp, err = c.ProcessCommonRequest(e.commonRequest("2016-01-20", "DescribeCertificate", "XML", map[string]string{"CertificateId": created.CertificateId}))
	if err != nil {
		t.Fatalf("DescribeCertificate (XML, v1): %v", err)
	}
	var described struct {
		XMLName                 xml.Name
		CertificateId, KeySpec  string
		Status                  string
		SubjectAlternativeNames []string
	}
	if err := xml.Unmarshal(resp.GetHttpContentBytes(), &described); err != nil {
		t.Fatalf("XML body %s: %v", resp.GetHttpContentString(), err)
	}
	if described.CertificateId != created.CertificateId || described.Status != "PENDING" || described.KeySpec != "EC_P256" ||
		strings.Join(described.SubjectAlternativeNames, ",") != "classic.example.com" {
		t.Fatalf("XML describe: %+v\n%s", described, resp.GetHttpContentString())
	}
	_, err = c.ProcessCommonRequest(e.commonRequest("2016-01-20", "NoSuchAction", "XML", nil))
	// The classic SDK reads error codes only from JSON bodies; in XML the
	// body is the cloud's <Error> document.
	var se *sdkerrors.ServerError
	if !errors.As(err, &se) || se.HttpStatus() != http.StatusNotFound {
		t.Fatalf("unknown action in XML: %v", err)
	}
	var xmlErr struct{ Code, RequestId string }
	if err := xml.Unmarshal([]byte(se.Message()), &xmlErr); err != nil || xmlErr.Code != "InvalidAction.NotFound" || xmlErr.RequestId == "" {
		t.Fatalf("XML error body %q: %v", se.Message(), err)
	}
	_, err = c.ProcessCommonRequest(e.commonRequest("2016-01-20", "NoSuchAction", "JSON", nil))
	if !errors.As(err, &se) || se.ErrorCode() != "InvalidAction.NotFound" || se.HttpStatus() != http.StatusNotFound {
		t.Fatalf("unknown action in JSON: %v", err)
	}
}

// TestClassicSDKPrivateCAInXML builds a root and a subordinate CA and issues
// a certificate through the classic SDK (v1 signature) with XML responses.
func TestClassicSDKPrivateCAInXML(t *testing.T) {
	e := newEnv(t)
	c := e.classicClient(t)
	call := func(action string, params map[string]string) map[string]string {
		t.Helper()
		resp, err := c.ProcessCommonRequest(e.commonRequest(caVersion, action, "XML", params))
		if err != nil {
			t.Fatalf("%s: %v", action, err)
		}
		var body struct {
			XMLName          xml.Name
			Identifier       string
			Certificate      string
			X509Certificate  string
			CertificateChain string
			RequestId        string
		}
		if err := xml.Unmarshal(resp.GetHttpContentBytes(), &body); err != nil || body.XMLName.Local != action+"Response" || body.RequestId == "" {
			t.Fatalf("%s XML %s: %v", action, resp.GetHttpContentString(), err)
		}
		cert := body.Certificate
		if cert == "" {
			cert = body.X509Certificate
		}
		return map[string]string{"Identifier": body.Identifier, "Certificate": cert, "CertificateChain": body.CertificateChain}
	}
	subject := map[string]string{"CommonName": "XML Root", "Organization": "Example", "OrganizationUnit": "PKI", "Locality": "Hangzhou", "State": "Zhejiang", "CountryCode": "CN", "Algorithm": "ECC_256", "Years": "3"}
	root := call("CreateRootCACertificate", subject)
	subject["CommonName"], subject["ParentIdentifier"], subject["Years"] = "XML Sub", root["Identifier"], "2"
	sub := call("CreateSubCACertificate", subject)
	leaf := call("CreateServerCertificateWithCsr", map[string]string{"ParentIdentifier": sub["Identifier"], "Csr": clientCSR(t, "ECC", "xml.example.com"), "Domain": "xml.example.com", "Days": "5"})
	verifyChain(t, "ECC", root["Certificate"], sub["Certificate"], leaf["Certificate"])
}
