package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/certcustody/certcustody/server"
	"github.com/google/uuid"
)

// apiClient sends v1-signed RPC requests (form-encoded POST), as the
// classic SDKs do. It is safe for concurrent use.
type apiClient struct {
	endpoint   string
	id, secret string
	http       *http.Client
}

func newAPIClient(endpoint, id, secret string) *apiClient {
	return &apiClient{endpoint: strings.TrimRight(endpoint, "/") + "/", id: id, secret: secret,
		http: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256, Proxy: nil}}}
}

// trustCA makes the client verify an https endpoint against the PEM CA
// bundle in file (our own root, for a server whose certificate came from
// `tls issue`); empty: the system roots. Keep-alive stays on; the client
// speaks HTTP/1.1, as the SDKs do.
func (c *apiClient) trustCA(file string) error {
	if file == "" {
		return nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return fmt.Errorf("%s holds no PEM certificate", file)
	}
	c.http.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return nil
}

// do calls action and returns the raw body and HTTP status.
func (c *apiClient) do(action, version string, args map[string]string) ([]byte, int, error) {
	params := server.Params{
		"Action": action, "Version": version, "Format": "JSON", "AccessKeyId": c.id,
		"SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0", "SignatureNonce": uuid.NewString(),
		"Timestamp": time.Now().UTC().Format("2006-01-02T15:04:05Z"),
	}
	for k, v := range args {
		params[k] = v
	}
	params["Signature"] = server.SignV1(http.MethodPost, params, c.secret)
	form := url.Values{}
	for k, v := range params {
		form.Set(k, v)
	}
	resp, err := c.http.Post(c.endpoint, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return body, resp.StatusCode, err
}

// doJSON calls action and decodes a successful response; an API error
// becomes an error naming its Code.
func (c *apiClient) doJSON(action, version string, args map[string]string) (map[string]any, error) {
	body, status, err := c.do(action, version, args)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("%s: HTTP %d: undecodable response", action, status)
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %d %v: %v", action, status, out["Code"], out["Message"])
	}
	return out, nil
}
