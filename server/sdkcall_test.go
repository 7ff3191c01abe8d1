package server

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"testing"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/alibabacloud-go/tea/tea"
	"github.com/tjfoc/gmsm/sm2"
	gmx509 "github.com/tjfoc/gmsm/x509"
)

// genericClient is darabonba-openapi's generic RPC client, for actions the
// typed SDK does not know (Private CA, our KMS extensions).
func (e *env) genericClient(t testing.TB) *openapi.Client {
	t.Helper()
	c, err := openapi.NewClient(sdkConfig(e.Host, e.AK.AccessKeyID, e.AK.AccessKeySecret, ""))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rpcCall calls an RPC action with query parameters and returns the body.
func (e *env) rpcCall(t testing.TB, version, action string, query map[string]interface{}) (map[string]interface{}, error) {
	t.Helper()
	params := &openapiutil.Params{
		Action: tea.String(action), Version: tea.String(version), Protocol: tea.String("HTTP"), Pathname: tea.String("/"),
		Method: tea.String("POST"), AuthType: tea.String("AK"), Style: tea.String("RPC"), ReqBodyType: tea.String("formData"), BodyType: tea.String("json"),
	}
	req := &openapiutil.OpenApiRequest{Query: openapiutil.Query(query)}
	res, err := e.genericClient(t).CallApi(params, req, &dara.RuntimeOptions{})
	if err != nil {
		return nil, err
	}
	body, _ := res["body"].(map[string]interface{})
	return body, nil
}

func exportViaAPI(e *env, t testing.TB, id, password string) ([]byte, error) {
	body, err := e.rpcCall(t, "2016-01-20", "ExportCertificate", map[string]interface{}{"CertificateId": id, "Password": password})
	if err != nil {
		return nil, err
	}
	s, _ := body["Pkcs12"].(string)
	return base64.StdEncoding.DecodeString(s)
}

// certPublicKey returns the public key of a PEM certificate of any family.
func certPublicKey(t testing.TB, p string) crypto.PublicKey {
	t.Helper()
	b, _ := pem.Decode([]byte(p))
	if b == nil {
		t.Fatal("not PEM")
	}
	if c, err := x509.ParseCertificate(b.Bytes); err == nil {
		return c.PublicKey
	}
	c, err := gmx509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	k := c.PublicKey.(*ecdsa.PublicKey)
	//lint:ignore SA1019 gmsm parses SM2 keys into big.Int coordinates; there is no other accessor
	x, y := k.X, k.Y
	return &sm2.PublicKey{Curve: k.Curve, X: x, Y: y}
}

func publicOf(key any) crypto.PublicKey { return key.(crypto.Signer).Public() }

// sdkConfig is the official SDKs' client configuration for a server on
// host (127.0.0.1:port) over plain HTTP. sigAlg "" is the SDK default
// (ACS3-HMAC-SHA256); "v2" selects the RPC HMAC-SHA1 signature.
func sdkConfig(host, ak, secret, sigAlg string) *openapi.Config {
	cfg := &openapi.Config{
		AccessKeyId: tea.String(ak), AccessKeySecret: tea.String(secret),
		Endpoint: tea.String(host), Protocol: tea.String("http"), RegionId: tea.String("cn-hangzhou"),
	}
	if sigAlg != "" {
		cfg.SignatureAlgorithm = tea.String(sigAlg)
	}
	return cfg
}
