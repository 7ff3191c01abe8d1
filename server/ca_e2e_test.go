package server

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certcustody/certcustody/csrgen"
	"github.com/tjfoc/gmsm/sm2"
	gmx509 "github.com/tjfoc/gmsm/x509"
)

func caSubject(cn string) map[string]interface{} {
	return map[string]interface{}{"CommonName": cn, "Organization": "Example Corp", "OrganizationUnit": "PKI",
		"Locality": "Hangzhou", "State": "Zhejiang", "CountryCode": "CN"}
}

func with(m map[string]interface{}, kv ...interface{}) map[string]interface{} {
	out := map[string]interface{}{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// clientCSR makes a CSR the way a customer would, with a key of their own.
func clientCSR(t testing.TB, family string, cn string) string {
	t.Helper()
	var key crypto.Signer
	var err error
	switch family {
	case "RSA":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ECC":
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ECC_256": // what the shared peer benchmark sends
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "SM2":
		key, err = sm2.GenerateKey(rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	dn, err := csrgen.ParseDN("CN=" + cn + ",O=Example Corp,C=CN")
	if err != nil {
		t.Fatal(err)
	}
	der, err := csrgen.CreateCSR(rand.Reader, csrgen.Request{Subject: dn}, key)
	if err != nil {
		t.Fatal(err)
	}
	return csrgen.EncodeCSRPEM(der)
}

// TestPrivateCAHierarchyThroughSDK builds root → subordinate → server and
// client certificates in each family through the generic SDK client, and
// checks them with openssl verify (RSA, ECC) or gmsm (SM2, which OpenSSL 3.0
// verifies only one link at a time).
func TestPrivateCAHierarchyThroughSDK(t *testing.T) {
	e := newEnv(t)
	t.Cleanup(func() {
		count, err := e.rpcCall(t, caVersion, "DescribeCACertificateCount", nil)
		if err != nil || fmt.Sprint(count["TotalCount"]) != "6" {
			t.Errorf("DescribeCACertificateCount: %v %v", count, err)
		}
		list, err := e.rpcCall(t, caVersion, "DescribeCACertificateList", map[string]interface{}{"CurrentPage": 2, "ShowSize": 4})
		if err != nil || len(list["CertificateList"].([]interface{})) != 2 || fmt.Sprint(list["PageCount"]) != "2" {
			t.Errorf("DescribeCACertificateList page 2: %v %v", list, err)
		}
	})
	for _, tc := range []struct{ family, alg string }{{"RSA", "RSA_2048"}, {"ECC", "ECC_256"}, {"SM2", "SM2_256"}} {
		t.Run(tc.family, func(t *testing.T) {
			root, err := e.rpcCall(t, caVersion, "CreateRootCACertificate", with(caSubject(tc.family+" Root"), "Algorithm", tc.alg, "Years", 10))
			if err != nil {
				t.Fatalf("CreateRootCACertificate: %v", err)
			}
			sub, err := e.rpcCall(t, caVersion, "CreateSubCACertificate", with(caSubject(tc.family+" Issuing"), "Algorithm", tc.alg, "Years", 5,
				"ParentIdentifier", root["Identifier"], "PathLenConstraint", 0, "ExtendedKeyUsages.1", "serverAuth", "ExtendedKeyUsages.2", "clientAuth",
				"Tags.1.Key", "env", "Tags.1.Value", "prod", "Tags.2.Key", "team", "Tags.2.Value", "pki", "ResourceGroupId", "rg-acme"))
			if err != nil {
				t.Fatalf("CreateSubCACertificate: %v", err)
			}
			d, err := e.rpcCall(t, caVersion, "DescribeCACertificate", map[string]interface{}{"Identifier": sub["Identifier"]})
			if err != nil {
				t.Fatal(err)
			}
			desc := d["Certificate"].(map[string]interface{})
			if desc["CertificateType"] != "SUB_ROOT" || desc["Status"] != "ISSUE" || desc["Algorithm"] != tc.family || desc["ParentIdentifier"] != root["Identifier"] {
				t.Fatalf("DescribeCACertificate: %v", desc)
			}
			if desc["ResourceGroupId"] != "rg-acme" || fmt.Sprint(desc["Tags"]) != "[map[TagKey:env TagValue:prod] map[TagKey:team TagValue:pki]]" {
				t.Fatalf("Tags/ResourceGroupId not returned: %v %v", desc["Tags"], desc["ResourceGroupId"])
			}
			if before, after := fmt.Sprint(desc["BeforeDate"]), fmt.Sprint(desc["AfterDate"]); len(before) != 13 || len(after) != 13 {
				t.Fatalf("BeforeDate/AfterDate must be Unix milliseconds: %s %s", before, after)
			}
			server, err := e.rpcCall(t, caVersion, "CreateServerCertificateWithCsr", map[string]interface{}{
				"ParentIdentifier": sub["Identifier"], "Csr": clientCSR(t, tc.family, "www.example.com"),
				"Domain": "www.example.com,api.example.com,10.0.0.7", "Days": 30})
			if err != nil {
				t.Fatalf("CreateServerCertificateWithCsr: %v", err)
			}
			client, err := e.rpcCall(t, caVersion, "CreateClientCertificateWithCsr", map[string]interface{}{
				"ParentIdentifier": sub["Identifier"], "Csr": clientCSR(t, tc.family, "alice"), "SanType": 1, "SanValue": "alice@example.com",
				"BeforeTime": time.Now().Unix(), "AfterTime": time.Now().Add(48 * time.Hour).Unix()})
			if err != nil {
				t.Fatalf("CreateClientCertificateWithCsr: %v", err)
			}
			chain := server["CertificateChain"].(string)
			if !strings.HasPrefix(chain, certOf(sub)) || !strings.HasSuffix(chain, certOf(root)) {
				t.Fatal("CertificateChain is not issuer first, root last")
			}
			for _, leaf := range []map[string]interface{}{server, client} {
				verifyChain(t, tc.family, certOf(root), certOf(sub), certOf(leaf))
			}
			text := opensslText(t, certOf(server))
			for _, want := range []string{"DNS:www.example.com", "DNS:api.example.com", "IP Address:10.0.0.7", "TLS Web Server Authentication", "CA:FALSE"} {
				if !strings.Contains(text, want) {
					t.Fatalf("server certificate lacks %q:\n%s", want, text)
				}
			}
			if text := opensslText(t, certOf(client)); !strings.Contains(text, "email:alice@example.com") || !strings.Contains(text, "TLS Web Client Authentication") {
				t.Fatalf("client certificate:\n%s", text)
			}
		})
	}
}

// TestPrivateCARulesChangeNothing asserts each issuance rule's Code and
// status, and that a refusal writes no row and leaves no token key.
func TestPrivateCARulesChangeNothing(t *testing.T) {
	e := newEnv(t)
	root, err := e.rpcCall(t, caVersion, "CreateRootCACertificate", with(caSubject("Root"), "Algorithm", "ECC_256", "Years", 5))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := e.rpcCall(t, caVersion, "CreateSubCACertificate", with(caSubject("Sub"), "Algorithm", "ECC_256", "Years", 2, "ParentIdentifier", root["Identifier"]))
	if err != nil {
		t.Fatal(err)
	}
	badCSR := []byte(clientCSR(t, "ECC", "tampered"))
	block, _ := pem.Decode(badCSR)
	block.Bytes[len(block.Bytes)-3] ^= 0x40
	cas0, certs0 := issuedCounts(t, e)
	_, keys0 := e.counts(t)
	tests := []struct {
		name, action string
		params       map[string]interface{}
		code         string
	}{
		{"root as parent", "CreateServerCertificateWithCsr", map[string]interface{}{"ParentIdentifier": root["Identifier"], "Csr": clientCSR(t, "ECC", "a"), "Days": 1}, "InvalidParameter.ParentIdentifier"},
		{"family mismatch", "CreateServerCertificateWithCsr", map[string]interface{}{"ParentIdentifier": sub["Identifier"], "Csr": clientCSR(t, "RSA", "a"), "Days": 1}, "InvalidParameter.AlgorithmFamily"},
		{"BeforeTime without AfterTime", "CreateClientCertificateWithCsr", map[string]interface{}{"ParentIdentifier": sub["Identifier"], "Csr": clientCSR(t, "ECC", "a"), "BeforeTime": time.Now().Unix()}, "InvalidParameter"},
		{"validity past the issuer", "CreateServerCertificateWithCsr", map[string]interface{}{"ParentIdentifier": sub["Identifier"], "Csr": clientCSR(t, "ECC", "a"), "Years": 3}, "InvalidParameter.Validity"},
		{"CSR with a bad signature", "CreateServerCertificateWithCsr", map[string]interface{}{"ParentIdentifier": sub["Identifier"], "Csr": string(pem.EncodeToMemory(block)), "Days": 1}, "InvalidParameter"},
		{"unknown SAN type", "CreateClientCertificateWithCsr", map[string]interface{}{"ParentIdentifier": sub["Identifier"], "Csr": clientCSR(t, "ECC", "a"), "Days": 1, "SanType": 3, "SanValue": "x"}, "InvalidParameter"},
		{"sub CA outliving its parent", "CreateSubCACertificate", with(caSubject("Long"), "Algorithm", "ECC_256", "Years", 9, "ParentIdentifier", root["Identifier"]), "InvalidParameter.Validity"},
		{"sub CA of another family", "CreateSubCACertificate", with(caSubject("Fam"), "Algorithm", "RSA_2048", "Years", 1, "ParentIdentifier", root["Identifier"]), "InvalidParameter.AlgorithmFamily"},
		{"RSA_1024 CA", "CreateRootCACertificate", with(caSubject("Weak"), "Algorithm", "RSA_1024"), "InvalidParameter"},
		{"unknown parent", "CreateServerCertificateWithCsr", map[string]interface{}{"ParentIdentifier": "nope", "Csr": clientCSR(t, "ECC", "a"), "Days": 1}, "NotFound.Certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.rpcCall(t, caVersion, tc.action, tc.params)
			status := 400
			if strings.HasPrefix(tc.code, "NotFound") {
				status = 404
			}
			wantAPIError(t, err, tc.code, status)
		})
	}
	cas, certs := issuedCounts(t, e)
	_, keys := e.counts(t)
	if cas != cas0 || certs != certs0 || keys != keys0 {
		t.Fatalf("refusals wrote: CAs %d→%d, certificates %d→%d, token keys %d→%d", cas0, cas, certs0, certs, keys0, keys)
	}
}

func issuedCounts(t testing.TB, e *env) (int, int) {
	t.Helper()
	cas, certs, err := e.DB.CountIssued(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return cas, certs
}

func verifyChain(t testing.TB, family, root, sub, leaf string) {
	t.Helper()
	if family == "SM2" {
		r, s, l := gmCert(t, root), gmCert(t, sub), gmCert(t, leaf)
		if err := s.CheckSignatureFrom(r); err != nil {
			t.Fatalf("gmsm: sub not signed by root: %v", err)
		}
		if err := l.CheckSignatureFrom(s); err != nil {
			t.Fatalf("gmsm: leaf not signed by sub: %v", err)
		}
		opensslVerifySM2Links(t, root, sub, leaf)
		return
	}
	dir := t.TempDir()
	paths := map[string]string{"root": root, "sub": sub, "leaf": leaf}
	for n, p := range paths {
		if err := os.WriteFile(filepath.Join(dir, n+".pem"), []byte(p), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command("openssl", "verify", "-CAfile", filepath.Join(dir, "root.pem"), "-untrusted", filepath.Join(dir, "sub.pem"), filepath.Join(dir, "leaf.pem")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ": OK") {
		t.Fatalf("openssl verify: %v\n%s", err, out)
	}
}

func gmCert(t testing.TB, p string) *gmx509.Certificate {
	t.Helper()
	b, _ := pem.Decode([]byte(p))
	c, err := gmx509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func opensslText(t testing.TB, p string) string {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl not found: apt-get install openssl")
	}
	f := filepath.Join(t.TempDir(), "c.pem")
	if err := os.WriteFile(f, []byte(p), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("openssl", "x509", "-in", f, "-noout", "-text").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl x509: %v\n%s", err, out)
	}
	return string(out)
}

// opensslVerifySM2Links has OpenSSL 3.0 check an SM2 chain one link at a
// time (it cannot verify a whole SM2 chain with the default ID at once).
func opensslVerifySM2Links(t testing.TB, root, sub, leaf string) {
	t.Helper()
	dir := t.TempDir()
	for n, p := range map[string]string{"root": root, "sub": sub, "leaf": leaf} {
		if err := os.WriteFile(filepath.Join(dir, n+".pem"), []byte(p), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, link := range [][2]string{{"root", "sub"}, {"sub", "leaf"}} {
		out, err := exec.Command("openssl", "verify", "-vfyopt", "distid:1234567812345678", "-partial_chain",
			"-CAfile", filepath.Join(dir, link[0]+".pem"), filepath.Join(dir, link[1]+".pem")).CombinedOutput()
		if err != nil || !strings.Contains(string(out), ": OK") {
			t.Fatalf("openssl verify %s by %s: %v\n%s", link[1], link[0], err, out)
		}
	}
}
