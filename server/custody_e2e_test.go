package server

import (
	"testing"
)

// TestKeyCustodyOnDescribe: DescribeCertificate and DescribeCACertificate
// carry the key's custody attributes as the token reports them now: a key
// created non-exportable has never been extractable, an exportable one
// says so, a CA key signs only, and no private key can be modified.
func TestKeyCustodyOnDescribe(t *testing.T) {
	e := newEnv(t)
	custody := func(m map[string]any) map[string]any {
		t.Helper()
		k, ok := m["KeyCustody"].(map[string]any)
		if !ok {
			t.Fatalf("no KeyCustody object in %v", m)
		}
		return k
	}
	for _, tc := range []struct {
		exportable       string
		extractable, nev bool
	}{{"false", false, true}, {"true", true, false}} {
		c := e.rawOK(t, kmsVersion, "CreateCertificate", map[string]string{"KeySpec": "EC_P256", "Subject": "CN=c,OU=o,O=E,C=CN", "ExportablePrivateKey": tc.exportable})
		d := e.rawOK(t, kmsVersion, "DescribeCertificate", map[string]string{"CertificateId": str(c["CertificateId"])})
		k := custody(d)
		if k["Class"] != "TOKEN" || k["Token"] != true || k["Sensitive"] != true || k["AlwaysSensitive"] != true || k["Local"] != true ||
			k["Modifiable"] != false || k["Extractable"] != tc.extractable || k["NeverExtractable"] != tc.nev {
			t.Errorf("ExportablePrivateKey=%s: KeyCustody %v", tc.exportable, k)
		}
		if mechs, _ := k["AllowedMechanisms"].([]any); len(mechs) == 0 {
			t.Errorf("ExportablePrivateKey=%s: no allowed mechanisms reported", tc.exportable)
		}
	}
	root := e.rawOK(t, caVersion, "CreateRootCACertificate", strs(with(caSubject("Custody Root"), "Algorithm", "ECC_256", "Years", "5")))
	d := e.rawOK(t, caVersion, "DescribeCACertificate", map[string]string{"Identifier": str(root["Identifier"])})
	k := custody(d["Certificate"].(map[string]any))
	mechs, _ := k["AllowedMechanisms"].([]any)
	if k["Extractable"] != false || k["NeverExtractable"] != true || k["Modifiable"] != false || len(mechs) != 1 || mechs[0] != "CKM_ECDSA" {
		t.Errorf("CA key custody: %v", k)
	}
	sm2 := e.rawOK(t, kmsVersion, "CreateCertificate", map[string]string{"KeySpec": "EC_SM2", "Subject": "CN=s,OU=o,O=E,C=CN", "ExportablePrivateKey": "false"})
	k = custody(e.rawOK(t, kmsVersion, "DescribeCertificate", map[string]string{"CertificateId": str(sm2["CertificateId"])}))
	if k["Class"] != "SEALED" || k["ProtectionLevel"] != "SOFTWARE" || k["SealedUnder"] == nil || k["NeverExtractable"] == true {
		t.Errorf("software SM2 custody must not borrow the KEK's attributes: %v", k)
	}
}
