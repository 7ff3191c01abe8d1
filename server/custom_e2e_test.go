package server

import (
	"strings"
	"testing"
)

// TestCreateCustomCertificate issues through ApiPassthrough, both as JSON
// and flattened: subject with a custom attribute, chosen serial, key usage,
// extended key usages with a critical EKU, typed SANs, and a validity
// string; a reused serial is refused.
func TestCreateCustomCertificate(t *testing.T) {
	e := newEnv(t)
	root, err := e.rpcCall(t, caVersion, "CreateRootCACertificate", with(caSubject("Root"), "Algorithm", "RSA_2048", "Years", 3))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := e.rpcCall(t, caVersion, "CreateSubCACertificate", with(caSubject("Sub"), "Algorithm", "RSA_2048", "Years", 2, "ParentIdentifier", root["Identifier"]))
	if err != nil {
		t.Fatal(err)
	}
	passthrough := `{"SerialNumber":"0A1B2C3D4E5F","Subject":{"CommonName":"custom.example.com","Organization":"Example","Country":"CN",
		"CustomAttributes":[{"ObjectIdentifier":"2.5.4.5","Value":"SN-42"}]},
		"Extensions":{"KeyUsage":{"DigitalSignature":true,"KeyEncipherment":true},"ExtendedKeyUsages":["serverAuth","clientAuth"],
		"Criticals":["extendedKeyUsage"],"SubjectAlternativeNames":[{"Type":"dnsName","Value":"custom.example.com"},{"Type":"ipAddress","Value":"10.9.8.7"}]}}`
	got, err := e.rpcCall(t, caVersion, "CreateCustomCertificate", map[string]interface{}{"ParentIdentifier": sub["Identifier"],
		"Csr": clientCSR(t, "RSA", "ignored-subject"), "Validity": "90d", "ApiPassthrough": passthrough, "Immediately": 2})
	if err != nil {
		t.Fatalf("CreateCustomCertificate (JSON): %v", err)
	}
	text := opensslText(t, certOf(got))
	for _, want := range []string{"CN = custom.example.com", "serialNumber = SN-42", "(0xa1b2c3d4e5f)", "Digital Signature, Key Encipherment",
		"X509v3 Extended Key Usage: critical", "TLS Web Server Authentication, TLS Web Client Authentication", "DNS:custom.example.com", "IP Address:10.9.8.7"} {
		if !strings.Contains(text, want) {
			t.Fatalf("custom certificate lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "ignored-subject") {
		t.Fatal("the ApiPassthrough subject must replace the CSR's")
	}
	verifyChain(t, "RSA", certOf(root), certOf(sub), certOf(got))

	flat, err := e.rpcCall(t, caVersion, "CreateCustomCertificate", map[string]interface{}{"ParentIdentifier": sub["Identifier"],
		"Csr": clientCSR(t, "RSA", "flat-csr"), "Validity": "1y",
		"ApiPassthrough.Extensions.KeyUsage.DigitalSignature": "true", "ApiPassthrough.Extensions.ExtendedKeyUsages.1": "clientAuth",
		"ApiPassthrough.Extensions.SubjectAlternativeNames.1.Type": "rfc822Name", "ApiPassthrough.Extensions.SubjectAlternativeNames.1.Value": "dev@example.com"})
	if err != nil {
		t.Fatalf("CreateCustomCertificate (flattened): %v", err)
	}
	text = opensslText(t, certOf(flat))
	if !strings.Contains(text, "CN = flat-csr") || !strings.Contains(text, "email:dev@example.com") || !strings.Contains(text, "TLS Web Client Authentication") {
		t.Fatalf("flattened custom certificate:\n%s", text)
	}

	_, err = e.rpcCall(t, caVersion, "CreateCustomCertificate", map[string]interface{}{"ParentIdentifier": sub["Identifier"],
		"Csr": clientCSR(t, "RSA", "again"), "Validity": "7d", "ApiPassthrough": `{"SerialNumber":"0A1B2C3D4E5F"}`})
	wantAPIError(t, err, "InvalidParameter.SerialNumber", 400)
	for name, params := range map[string]map[string]interface{}{
		"bad validity":   {"Validity": "forever"},
		"unknown usage":  {"Validity": "7d", "ApiPassthrough": `{"Extensions":{"KeyUsage":{"Teleport":true}}}`},
		"bad SAN type":   {"Validity": "7d", "ApiPassthrough": `{"Extensions":{"SubjectAlternativeNames":[{"Type":"x400","Value":"y"}]}}`},
		"bad critical":   {"Validity": "7d", "ApiPassthrough": `{"Extensions":{"Criticals":["subjectKeyIdentifier"]}}`},
		"malformed JSON": {"Validity": "7d", "ApiPassthrough": `{"Subject":`},
	} {
		t.Run(name, func(t *testing.T) {
			params["ParentIdentifier"], params["Csr"] = sub["Identifier"], clientCSR(t, "RSA", "x")
			_, err := e.rpcCall(t, caVersion, "CreateCustomCertificate", params)
			wantAPIError(t, err, "InvalidParameter", 400)
		})
	}
}
