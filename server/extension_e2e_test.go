package server

import (
	"strings"
	"testing"
	"time"
)

// TestCreateCertificateWithExtension issues with all four SAN types, from a
// generated key and from a CSR whose subject wins, checks the SANs and the
// basicConstraints criticality with openssl, and refuses bad Sans.
func TestCreateCertificateWithExtension(t *testing.T) {
	e := newEnv(t)
	root, err := e.rpcCall(t, caVersion, "CreateRootCACertificate", with(caSubject("Root"), "Algorithm", "ECC_256", "Years", 3))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := e.rpcCall(t, caVersion, "CreateSubCACertificate", with(caSubject("Sub"), "Algorithm", "ECC_256", "Years", 2, "ParentIdentifier", root["Identifier"]))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	sans := `[{"Type":1,"Value":"ops@example.com"},{"Type":2,"Value":"app.example.com"},{"Type":6,"Value":"spiffe://example.com/app"},{"Type":7,"Value":"10.20.30.40"}]`
	base := map[string]interface{}{"ParentIdentifier": sub["Identifier"], "CertType": "SERVER", "CommonName": "app.example.com", "Organization": "Example",
		"Sans": sans, "BeforeTime": now.Unix(), "AfterTime": now.Add(30 * 24 * time.Hour).Unix(), "AppendCrl": true, "AlgorithmKeySize": 384}
	got, err := e.rpcCall(t, caVersion, "CreateCertificateWithExtension", base)
	if err != nil {
		t.Fatalf("CreateCertificateWithExtension: %v", err)
	}
	text := opensslText(t, certOf(got))
	for _, want := range []string{"email:ops@example.com", "DNS:app.example.com", "URI:spiffe://example.com/app", "IP Address:10.20.30.40",
		"X509v3 Basic Constraints: critical", "/crl/" + sub["Identifier"].(string) + ".crl", "NIST CURVE: P-384"} {
		if !strings.Contains(text, want) {
			t.Fatalf("certificate lacks %q:\n%s", want, text)
		}
	}
	verifyChain(t, "ECC", certOf(root), certOf(sub), certOf(got))

	fromCSR, err := e.rpcCall(t, caVersion, "CreateCertificateWithExtension", with(base, "CertType", "CLIENT", "CsrPemString", clientCSR(t, "ECC", "csr-subject"), "BasicConstraintsCritical", false))
	if err != nil {
		t.Fatal(err)
	}
	text = opensslText(t, certOf(fromCSR))
	if !strings.Contains(text, "CN = csr-subject") || strings.Contains(text, "CN = app.example.com") || strings.Contains(text, "Basic Constraints: critical") || !strings.Contains(text, "TLS Web Client Authentication") {
		t.Fatalf("CSR subject must win and basicConstraints be non-critical:\n%s", text)
	}
	for name, bad := range map[string]map[string]interface{}{
		"bad Sans JSON":    with(base, "Sans", `[{"Type":2,`),
		"unknown SAN type": with(base, "Sans", `[{"Type":3,"Value":"x"}]`),
		"missing AfterTime": func() map[string]interface{} {
			m := with(base)
			delete(m, "AfterTime")
			return m
		}(),
		"bad key size": with(base, "AlgorithmKeySize", 2048),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.rpcCall(t, caVersion, "CreateCertificateWithExtension", bad)
			if name == "missing AfterTime" {
				wantAPIError(t, err, "MissingParameter", 400)
				return
			}
			wantAPIError(t, err, "InvalidParameter", 400)
		})
	}
}
