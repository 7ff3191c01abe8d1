package server

import (
	"context"
	"crypto"
	"strings"
	"testing"

	kms "github.com/alibabacloud-go/kms-20160120/v3/client"
	"github.com/alibabacloud-go/tea/tea"
	"github.com/certcustody/certcustody/certmgr"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// TestWrappedCustodyThroughSDK: for an account configured for wrapped key
// custody, the KMS lifecycle works through the official SDK as for token
// keys (create, upload, sign RAW and DIGEST, decrypt, export of an
// exportable key, refusal for a non-exportable one), no token object is
// made, DescribeCertificate's KeyCustody names the class and says what it
// cannot prove, and every key use is in the audit log.
func TestWrappedCustodyThroughSDK(t *testing.T) {
	e := newEnv(t)
	e.Mgr.SetKMSKeyCustody(certmgr.KMSKeyCustody{Accounts: map[string]string{e.AK.AccountID: certmgr.KeyCustodyWrapped}})
	_, keysBefore := e.counts(t)
	for _, tc := range []struct {
		spec, family, signAlg, encAlg string
		exportable                    bool
	}{
		{"RSA_2048", "RSA", "RSA_PSS_SHA_256", "RSAES_OAEP_SHA_256", true},
		{"EC_P256", "EC", "ECDSA_SHA_256", "", false},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			c := e.kmsClient(t, "")
			created, err := c.CreateCertificate(&kms.CreateCertificateRequest{KeySpec: tea.String(tc.spec), Subject: tea.String("CN=w.example.com,OU=ops,O=Example,C=CN"),
				ExportablePrivateKey: tea.Bool(tc.exportable)})
			if err != nil {
				t.Fatalf("CreateCertificate: %v", err)
			}
			id := tea.StringValue(created.Body.CertificateId)
			if ok, err := e.Keys.Exists(context.Background(), "kms-"+id); err != nil || ok {
				t.Fatalf("a wrapped key left a token object (%v)", err)
			}
			ca := newTestCA(t, tc.family)
			leaf := ca.sign(t, tea.StringValue(created.Body.Csr))
			if _, err := c.UploadCertificate(&kms.UploadCertificateRequest{CertificateId: tea.String(id), Certificate: tea.String(leaf), CertificateChain: tea.String(ca.pem)}); err != nil {
				t.Fatalf("UploadCertificate: %v", err)
			}
			msg := []byte("wrapped custody")
			verifyLocally(t, leaf, tc.family, msg, signViaAPI(t, c, id, tc.signAlg, msg))
			ds, err := c.CertificatePrivateKeySign(&kms.CertificatePrivateKeySignRequest{CertificateId: tea.String(id), Algorithm: tea.String(tc.signAlg),
				Message: tea.String(b64(digestFor(t, tc.family, leaf, msg))), MessageType: tea.String("DIGEST")})
			if err != nil {
				t.Fatalf("sign DIGEST: %v", err)
			}
			verifyLocally(t, leaf, tc.family, msg, mustB64(t, tea.StringValue(ds.Body.SignatureValue)))
			if tc.encAlg != "" {
				ct, err := c.CertificatePublicKeyEncrypt(&kms.CertificatePublicKeyEncryptRequest{CertificateId: tea.String(id), Algorithm: tea.String(tc.encAlg), Plaintext: tea.String(b64([]byte("data key")))})
				if err != nil {
					t.Fatal(err)
				}
				pt, err := c.CertificatePrivateKeyDecrypt(&kms.CertificatePrivateKeyDecryptRequest{CertificateId: tea.String(id), Algorithm: tea.String(tc.encAlg), CiphertextBlob: ct.Body.CiphertextBlob})
				if err != nil || string(mustB64(t, tea.StringValue(pt.Body.Plaintext))) != "data key" {
					t.Fatalf("decrypt: %v", err)
				}
			}
			pfx, err := exportViaAPI(e, t, id, "correct horse battery")
			if tc.exportable {
				if err != nil {
					t.Fatalf("ExportCertificate: %v", err)
				}
				key, cert, _, err := pkcs12.DecodeChain(pfx, "correct horse battery")
				if err != nil || !publicOf(key).(interface{ Equal(crypto.PublicKey) bool }).Equal(cert.PublicKey) {
					t.Fatalf("PKCS#12 does not hold the certificate's key: %v", err)
				}
			} else {
				wantAPIError(t, err, "Forbidden.KeyNotExportable", 403)
			}
			d := e.rawOK(t, kmsVersion, "DescribeCertificate", map[string]string{"CertificateId": id})
			k, _ := d["KeyCustody"].(map[string]any)
			if k["Class"] != "WRAPPED" || k["Token"] != false || k["Sensitive"] != true || k["NeverExtractable"] != false ||
				k["Extractable"] != tc.exportable || k["WrappedUnder"] != "certcustody-wrap-1" || !strings.Contains(str(k["Note"]), "CKA_NEVER_EXTRACTABLE") {
				t.Fatalf("KeyCustody %v", k)
			}
			// The first sign unwrapped the key (the create forgot its
			// object): the unseal, the unwrap and the signature are all
			// records of that call, naming the key.
			recs := e.auditOfCall(t, "2016-01-20/CertificatePrivateKeySign", tea.StringValue(created.Body.Arn))
			got := map[string]bool{}
			for _, r := range recs {
				got[r.Action+" "+r.Resource+" "+r.Code] = true
			}
			for _, want := range []string{"token:unwrap/CKM_AES_KEY_WRAP_PAD kms-" + id + " OK", "token:unseal/CKM_AES_GCM certcustody-kek-1 OK"} {
				if !got[want] {
					t.Errorf("no %q record in the sign call's %v", want, actionsOf(recs))
				}
			}
			if _, err := c.DeleteCertificate(&kms.DeleteCertificateRequest{CertificateId: tea.String(id)}); err != nil {
				t.Fatal(err)
			}
			_, err = c.CertificatePrivateKeySign(&kms.CertificatePrivateKeySignRequest{CertificateId: tea.String(id), Algorithm: tea.String(tc.signAlg), Message: tea.String(b64(msg)), MessageType: tea.String("RAW")})
			wantAPIError(t, err, "Forbidden.ResourceNotFound", 404)
		})
	}
	if _, keys := e.counts(t); keys != keysBefore {
		t.Fatalf("token keys %d → %d", keysBefore, keys)
	}
	if n := e.Mgr.UnauditedKeyUses(); n != 0 {
		t.Fatalf("%d key uses outside an audited call", n)
	}
}
