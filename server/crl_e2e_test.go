package server

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRevocationAndCRL revokes a leaf and a subordinate CA and checks the
// served CRLs with openssl: the serial and reason are listed, `openssl
// verify -crl_check` refuses the revoked leaf and accepts the others, and
// the revoked sub CA appears on its root's CRL. SM2 CRLs are checked for
// content with `openssl crl -text` (OpenSSL 3.0 cannot verify an SM2 CRL
// signed with the default ID) and for signature with gmsm.
func TestRevocationAndCRL(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ family, alg string }{{"ECC", "ECC_256"}, {"RSA", "RSA_2048"}, {"SM2", "SM2_256"}} {
		t.Run(tc.family, func(t *testing.T) {
			root, err := e.rpcCall(t, caVersion, "CreateRootCACertificate", with(caSubject(tc.family+" Root"), "Algorithm", tc.alg, "Years", 5, "EnableCrl", true))
			if err != nil {
				t.Fatal(err)
			}
			sub, err := e.rpcCall(t, caVersion, "CreateSubCACertificate", with(caSubject(tc.family+" Sub"), "Algorithm", tc.alg, "Years", 2, "ParentIdentifier", root["Identifier"], "EnableCrl", true))
			if err != nil {
				t.Fatal(err)
			}
			var leaves []map[string]interface{}
			for _, cn := range []string{"keep", "revoke"} {
				l, err := e.rpcCall(t, caVersion, "CreateClientCertificateWithCsr", map[string]interface{}{"ParentIdentifier": sub["Identifier"], "Csr": clientCSR(t, tc.family, cn), "Days": 10})
				if err != nil {
					t.Fatal(err)
				}
				leaves = append(leaves, l)
			}
			st, err := e.rpcCall(t, caVersion, "DescribeClientCertificateStatus", map[string]interface{}{"Identifier": leaves[0]["Identifier"].(string) + "," + leaves[1]["Identifier"].(string)})
			if err != nil || len(st["CertificateStatus"].([]interface{})) != 2 {
				t.Fatalf("DescribeClientCertificateStatus: %v %v", st, err)
			}
			crlURL := e.URL + "/crl/" + sub["Identifier"].(string) + ".crl"
			if text := opensslText(t, certOf(leaves[0])); !strings.Contains(text, crlURL) {
				t.Fatalf("leaf lacks the CRL distribution point %s:\n%s", crlURL, text)
			}
			addr, err := e.rpcCall(t, caVersion, "GetCaInstanceCrlAddress", map[string]interface{}{"CaIdentifier": sub["Identifier"]})
			if err != nil || addr["CrlUrl"] != crlURL || addr["CaInstanceStatus"] != "normal" || len(fmt.Sprint(addr["HashCode"])) != 64 {
				t.Fatalf("GetCaInstanceCrlAddress: %v %v", addr, err)
			}
			empty, etag := fetchCRL(t, crlURL, "")
			if sum := sha256.Sum256(empty); hex.EncodeToString(sum[:]) != addr["HashCode"] {
				t.Fatal("HashCode is not the SHA-256 of the served CRL")
			}
			if _, err := e.rpcCall(t, caVersion, "CreateRevokeClientCertificate", map[string]interface{}{"Identifier": leaves[1]["Identifier"], "Reason": "keyCompromise"}); err != nil {
				t.Fatalf("revoke: %v", err)
			}
			_, err = e.rpcCall(t, caVersion, "CreateRevokeClientCertificate", map[string]interface{}{"Identifier": leaves[1]["Identifier"]})
			wantAPIError(t, err, "InvalidParameter.Status", 400)
			crl, etag2 := fetchCRL(t, crlURL, etag)
			if crl == nil || etag2 == etag {
				t.Fatal("the CRL did not change after a revocation")
			}
			if again, _ := fetchCRL(t, crlURL, etag2); again != nil {
				t.Fatal("an unchanged CRL was sent again despite If-None-Match")
			}
			serial := leafSerialHex(t, certOf(leaves[1]))
			text := opensslCRLText(t, crl)
			if !strings.Contains(text, "Serial Number: "+serial) || !strings.Contains(text, "Key Compromise") || !strings.Contains(text, "X509v3 CRL Number") {
				t.Fatalf("openssl crl -text lacks the revoked serial %s, its reason or the CRL number:\n%s", serial, text)
			}
			if strings.Contains(opensslCRLText(t, empty), "Serial Number") {
				t.Fatal("the first CRL already lists a serial")
			}
			if tc.family != "SM2" {
				for i, want := range []bool{true, false} {
					if got := verifyWithCRL(t, certOf(root), certOf(sub), certOf(leaves[i]), crl); got != want {
						t.Fatalf("openssl verify -crl_check on leaf %d: ok=%v, want %v", i, got, want)
					}
				}
			} else {
				checkSM2CRL(t, crl, certOf(sub))
			}
			d, err := e.rpcCall(t, caVersion, "DescribeClientCertificate", map[string]interface{}{"Identifier": leaves[1]["Identifier"]})
			if err != nil {
				t.Fatal(err)
			}
			if desc := d["Certificate"].(map[string]interface{}); desc["Status"] != "REVOKE" || desc["SerialNumber"] != strings.ToLower(serial) || desc["CertificateType"] != "CLIENT" {
				t.Fatalf("DescribeClientCertificate after revocation: %v", desc)
			}
			st, _ = e.rpcCall(t, caVersion, "DescribeClientCertificateStatus", map[string]interface{}{"Identifier": leaves[1]["Identifier"]})
			if entry := st["CertificateStatus"].([]interface{})[0].(map[string]interface{}); entry["Status"] != "revoked" || len(fmt.Sprint(entry["RevokeTime"])) != 13 {
				t.Fatalf("status after revocation: %v", entry)
			}
			_, err = e.rpcCall(t, caVersion, "DeleteClientCertificate", map[string]interface{}{"Identifier": leaves[0]["Identifier"]})
			wantAPIError(t, err, "InvalidParameter.Status", 400)
			revokedList, err := e.rpcCall(t, caVersion, "ListRevokeCertificate", map[string]interface{}{"ShowSize": 100})
			if err != nil || !strings.Contains(fmt.Sprint(revokedList["CertificateList"]), leaves[1]["Identifier"].(string)) || strings.Contains(fmt.Sprint(revokedList["CertificateList"]), leaves[0]["Identifier"].(string)) {
				t.Fatalf("ListRevokeCertificate: %v %v", revokedList, err)
			}
			if _, err := e.rpcCall(t, caVersion, "DeleteClientCertificate", map[string]interface{}{"Identifier": leaves[1]["Identifier"]}); err != nil {
				t.Fatalf("delete a revoked certificate: %v", err)
			}
			_, err = e.rpcCall(t, caVersion, "DescribeClientCertificate", map[string]interface{}{"Identifier": leaves[1]["Identifier"]})
			wantAPIError(t, err, "NotFound.Certificate", 404)
			if crl2, _ := fetchCRL(t, crlURL, ""); !strings.Contains(opensslCRLText(t, crl2), "Serial Number: "+serial) {
				t.Fatal("a deleted revoked certificate fell off the CRL")
			}
			all, err := e.rpcCall(t, caVersion, "ListClientCertificate", map[string]interface{}{"ShowSize": 100})
			if err != nil || !strings.Contains(fmt.Sprint(all["CertificateList"]), leaves[0]["Identifier"].(string)) || strings.Contains(fmt.Sprint(all["CertificateList"]), leaves[1]["Identifier"].(string)) {
				t.Fatalf("ListClientCertificate: %v", err)
			}
			if _, err := e.rpcCall(t, caVersion, "UpdateCACertificateStatus", map[string]interface{}{"Identifier": sub["Identifier"], "Status": "REVOKE"}); err != nil {
				t.Fatalf("revoke sub CA: %v", err)
			}
			rootCRL, _ := fetchCRL(t, e.URL+"/crl/"+root["Identifier"].(string)+".crl", "")
			if !strings.Contains(opensslCRLText(t, rootCRL), "Serial Number: "+leafSerialHex(t, certOf(sub))) {
				t.Fatal("the revoked subordinate CA is not on its root's CRL")
			}
			_, err = e.rpcCall(t, caVersion, "CreateClientCertificateWithCsr", map[string]interface{}{"ParentIdentifier": sub["Identifier"], "Csr": clientCSR(t, tc.family, "late"), "Days": 1})
			wantAPIError(t, err, "InvalidParameter.ParentStatus", 400)
		})
	}
}

// fetchCRL GETs a CRL; with etag it expects 304 when unchanged (nil body).
func fetchCRL(t testing.TB, url, etag string) ([]byte, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified {
		return nil, etag
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/pkix-crl" || resp.Header.Get("Last-Modified") == "" {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, resp.Header)
	}
	b, _ := io.ReadAll(resp.Body)
	return b, resp.Header.Get("ETag")
}

func leafSerialHex(t testing.TB, p string) string {
	t.Helper()
	b, _ := pem.Decode([]byte(p))
	var serial *big.Int
	if c, err := x509.ParseCertificate(b.Bytes); err == nil {
		serial = c.SerialNumber
	} else {
		serial = gmCert(t, p).SerialNumber
	}
	return fmt.Sprintf("%X", serial.Bytes()) // openssl prints whole bytes
}

func opensslCRLText(t testing.TB, der []byte) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "c.crl")
	if err := os.WriteFile(f, der, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("openssl", "crl", "-inform", "DER", "-in", f, "-noout", "-text").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl crl: %v\n%s", err, out)
	}
	return string(out)
}

func verifyWithCRL(t testing.TB, root, sub, leaf string, crl []byte) bool {
	t.Helper()
	dir := t.TempDir()
	files := map[string][]byte{"root.pem": []byte(root), "sub.pem": []byte(sub), "leaf.pem": []byte(leaf),
		"crl.pem": pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crl})}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command("openssl", "verify", "-crl_check", "-CAfile", filepath.Join(dir, "root.pem"), "-untrusted", filepath.Join(dir, "sub.pem"),
		"-CRLfile", filepath.Join(dir, "crl.pem"), filepath.Join(dir, "leaf.pem")).CombinedOutput()
	ok := err == nil && strings.Contains(string(out), ": OK")
	if !ok && !strings.Contains(string(out), "certificate revoked") {
		t.Fatalf("openssl verify failed for another reason:\n%s", out)
	}
	return ok
}
