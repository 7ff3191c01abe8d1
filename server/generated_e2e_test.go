package server

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestServiceGeneratedKeys issues server and client certificates for keys
// the service generates, downloads the private key encrypted under a
// password, and proves with openssl that it decrypts and matches the
// certificate; the token keeps no per-leaf object.
func TestServiceGeneratedKeys(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ family, caAlg, leafAlg string }{{"ECC", "ECC_384", "ECC_256"}, {"RSA", "RSA_2048", "RSA_1024"}, {"SM2", "SM2_256", "SM2_256"}} {
		t.Run(tc.family, func(t *testing.T) {
			root, err := e.rpcCall(t, caVersion, "CreateRootCACertificate", with(caSubject("Root"), "Algorithm", tc.caAlg, "Years", 3))
			if err != nil {
				t.Fatal(err)
			}
			sub, err := e.rpcCall(t, caVersion, "CreateSubCACertificate", with(caSubject("Sub"), "Algorithm", tc.caAlg, "Years", 2, "ParentIdentifier", root["Identifier"]))
			if err != nil {
				t.Fatal(err)
			}
			_, keys0 := e.counts(t)
			server, err := e.rpcCall(t, caVersion, "CreateServerCertificate", map[string]interface{}{"ParentIdentifier": sub["Identifier"], "Algorithm": tc.leafAlg,
				"CommonName": "svc.example.com", "Organization": "Example", "Country": "CN", "Domain": "svc.example.com", "Years": 1, "Immediately": 2})
			if err != nil {
				t.Fatalf("CreateServerCertificate: %v", err)
			}
			if server["CertificateChain"] == "" || certOf(server) == "" {
				t.Fatalf("Immediately=2 must return the certificate and chain: %v", server)
			}
			client, err := e.rpcCall(t, caVersion, "CreateClientCertificate", map[string]interface{}{"ParentIdentifier": sub["Identifier"], "Algorithm": tc.leafAlg,
				"CommonName": "bob", "SanType": 2, "SanValue": "bob.example.com", "Days": 7, "Immediately": 0})
			if err != nil {
				t.Fatalf("CreateClientCertificate: %v", err)
			}
			if certOf(client) != "" {
				t.Fatalf("Immediately=0 returned the certificate: %v", client)
			}
			if _, keys := e.counts(t); keys != keys0 {
				t.Fatalf("service-generated leaf keys left token objects: %d → %d", keys0, keys)
			}
			_, err = e.rpcCall(t, caVersion, "CreateServerCertificate", map[string]interface{}{"ParentIdentifier": sub["Identifier"], "Algorithm": map[string]string{"ECC": "RSA_2048", "RSA": "ECC_256", "SM2": "ECC_256"}[tc.family],
				"CommonName": "x", "Years": 1})
			wantAPIError(t, err, "InvalidParameter.AlgorithmFamily", 400)

			key, err := e.rpcCall(t, caVersion, "DescribeCertificatePrivateKey", map[string]interface{}{"Identifier": server["Identifier"], "EncryptedCode": "s3cret-passw0rd"})
			if err != nil {
				t.Fatalf("DescribeCertificatePrivateKey: %v", err)
			}
			enc := key["EncryptedData"].(string)
			if !strings.HasPrefix(enc, "-----BEGIN ENCRYPTED PRIVATE KEY-----") {
				t.Fatalf("key is not encrypted PKCS#8: %.60s", enc)
			}
			if tc.family != "SM2" {
				opensslKeyMatchesCert(t, enc, "s3cret-passw0rd", certOf(server))
			}
		})
	}
}

// opensslKeyMatchesCert decrypts the key with openssl and compares its
// public key with the certificate's.
func opensslKeyMatchesCert(t testing.TB, encKey, password, certPEM string) {
	t.Helper()
	dir := t.TempDir()
	kf, cf := filepath.Join(dir, "k.pem"), filepath.Join(dir, "c.pem")
	os.WriteFile(kf, []byte(encKey), 0o600)
	os.WriteFile(cf, []byte(certPEM), 0o600)
	keyPub, err := exec.Command("openssl", "pkey", "-in", kf, "-passin", "pass:"+password, "-pubout").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl cannot decrypt the key: %v\n%s", err, keyPub)
	}
	certPub, err := exec.Command("openssl", "x509", "-in", cf, "-noout", "-pubkey").CombinedOutput()
	if err != nil || string(keyPub) != string(certPub) {
		t.Fatalf("decrypted key does not match the certificate:\n%s\n%s", keyPub, certPub)
	}
	if out, err := exec.Command("openssl", "pkey", "-in", kf, "-passin", "pass:wrong-password", "-noout").CombinedOutput(); err == nil {
		t.Fatalf("openssl decrypted the key with a wrong password:\n%s", out)
	}
}
