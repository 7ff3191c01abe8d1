package server

import (
	"encoding/pem"
	"testing"

	zx509 "github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3"
	"github.com/zmap/zlint/v3/lint"
)

// TestIssuedCertificatesPassZlint runs zlint on issued server and client
// certificates and CAs. Certificates from a private CA are not bound by the
// CA/Browser Forum, Mozilla, Apple or ETSI programme rules (DESIGN.md), so
// those sources are excluded; no RFC or community lint may report error or
// fatal. zcrypto cannot parse SM2 certificates, so zlint covers RSA and ECC.
func TestIssuedCertificatesPassZlint(t *testing.T) {
	registry, err := lint.GlobalRegistry().Filter(lint.FilterOptions{ExcludeSources: lint.SourceList{
		lint.CABFBaselineRequirements, lint.CABFEVGuidelines, lint.CABFCSBaselineRequirements, lint.CABFSMIMEBaselineRequirements,
		lint.MozillaRootStorePolicy, lint.AppleRootStorePolicy, lint.EtsiEsi,
	}})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	for _, alg := range []string{"RSA_2048", "ECC_256"} {
		t.Run(alg, func(t *testing.T) {
			root, err := e.rpcCall(t, caVersion, "CreateRootCACertificate", with(caSubject("Lint Root"), "Algorithm", alg, "Years", 5, "EnableCrl", true))
			if err != nil {
				t.Fatal(err)
			}
			sub, err := e.rpcCall(t, caVersion, "CreateSubCACertificate", with(caSubject("Lint Sub"), "Algorithm", alg, "Years", 3, "ParentIdentifier", root["Identifier"], "EnableCrl", true))
			if err != nil {
				t.Fatal(err)
			}
			server, err := e.rpcCall(t, caVersion, "CreateServerCertificate", map[string]interface{}{"ParentIdentifier": sub["Identifier"], "Algorithm": alg,
				"CommonName": "lint.example.com", "Organization": "Example", "OrganizationUnit": "Ops", "Country": "CN", "Domain": "lint.example.com,10.1.2.3", "Years": 1})
			if err != nil {
				t.Fatal(err)
			}
			client, err := e.rpcCall(t, caVersion, "CreateClientCertificate", map[string]interface{}{"ParentIdentifier": sub["Identifier"], "Algorithm": alg,
				"CommonName": "carol", "SanType": 1, "SanValue": "carol@example.com", "Days": 30})
			if err != nil {
				t.Fatal(err)
			}
			for name, p := range map[string]string{"root": certOf(root), "sub": certOf(sub),
				"server": certOf(server), "client": certOf(client)} {
				b, _ := pem.Decode([]byte(p))
				c, err := zx509.ParseCertificate(b.Bytes)
				if err != nil {
					t.Fatalf("%s: zcrypto cannot parse: %v", name, err)
				}
				for lintName, r := range zlint.LintCertificateEx(c, registry).Results {
					if r.Status == lint.Error || r.Status == lint.Fatal {
						t.Errorf("%s certificate: %s: %s %s", name, lintName, r.Status, r.Details)
					}
				}
			}
		})
	}
}
