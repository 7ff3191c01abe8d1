package server

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// BenchmarkCSRIssuanceHTTP issues server certificates for a CSR through the
// whole stack (v1-signed HTTP, auth, nonce, P-256 token signature, SQLite
// with synchronous=FULL and group commit) from b.RunParallel clients on
// 127.0.0.1, with a P-256 CSR as ../shared/bench/peers.sh sends. Profile with -cpuprofile to see where an issuance goes.
func BenchmarkCSRIssuanceHTTP(b *testing.B) {
	e := newEnv(b)
	root, err := e.rpcCall(b, caVersion, "CreateRootCACertificate", with(caSubject("Bench Root"), "Algorithm", "ECC_256", "Years", 5))
	if err != nil {
		b.Fatal(err)
	}
	sub, err := e.rpcCall(b, caVersion, "CreateSubCACertificate", with(caSubject("Bench Sub"), "Algorithm", "ECC_256", "Years", 2, "ParentIdentifier", root["Identifier"]))
	if err != nil {
		b.Fatal(err)
	}
	csr := clientCSR(b, "ECC_256", "bench.example.com")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p := Params{"Action": "CreateServerCertificateWithCsr", "Version": caVersion, "Format": "JSON", "AccessKeyId": e.AK.AccessKeyID,
				"SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0", "SignatureNonce": uuid.NewString(),
				"Timestamp": time.Now().UTC().Format("2006-01-02T15:04:05Z"), "ParentIdentifier": sub["Identifier"].(string), "Csr": csr, "Days": "30"}
			p["Signature"] = SignV1("POST", p, e.AK.AccessKeySecret)
			form := url.Values{}
			for k, v := range p {
				form.Set(k, v)
			}
			resp, err := client.Post(e.URL+"/", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
			if err != nil {
				b.Error(err)
				return
			}
			// Drained, so the connection is reused as a real client's is.
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("HTTP %d", resp.StatusCode)
				return
			}
		}
	})
}
