package server

import (
	"strings"
	"testing"
	"time"

	"github.com/alibabacloud-go/tea/dara"
)

// The typed cas-20200630 SDK decodes answers with dara.Convert into
// structs of pointers under exactly these json names (testdata/wire); a
// misnamed key is dropped silently, so each field is checked filled.

type sdkCreateServerCertificateBody struct {
	CertificateChain *string `json:"CertificateChain,omitempty"`
	Identifier       *string `json:"Identifier,omitempty"`
	RequestId        *string `json:"RequestId,omitempty"`
	SerialNumber     *string `json:"SerialNumber,omitempty"`
	X509Certificate  *string `json:"X509Certificate,omitempty"`
}

type sdkCertificateStatus struct {
	RevokeTime   *int64  `json:"RevokeTime,omitempty"`
	SerialNumber *string `json:"SerialNumber,omitempty"`
	Status       *string `json:"Status,omitempty"`
}

type sdkDescribeClientCertificateStatusBody struct {
	CertificateStatus []*sdkCertificateStatus `json:"CertificateStatus,omitempty"`
	RequestId         *string                 `json:"RequestId,omitempty"`
}

type sdkDescribeCertificatePrivateKeyBody struct {
	EncryptedData *string `json:"EncryptedData,omitempty"`
	RequestId     *string `json:"RequestId,omitempty"`
}

func filled(t *testing.T, what string, fields map[string]*string) {
	t.Helper()
	for name, v := range fields {
		if v == nil || *v == "" {
			t.Errorf("%s.%s: not filled in the SDK's type", what, name)
		}
	}
}

func TestTypedSDKStructsDecodeEveryField(t *testing.T) {
	e := newEnv(t)
	root, err := e.rpcCall(t, caVersion, "CreateRootCACertificate", with(caSubject("Typed Root"), "Algorithm", "ECC_256", "Years", 5))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := e.rpcCall(t, caVersion, "CreateSubCACertificate", with(caSubject("Typed Sub"), "ParentIdentifier", root["Identifier"], "Algorithm", "ECC_256", "Years", 2))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := e.rpcCall(t, caVersion, "CreateServerCertificate", map[string]interface{}{"ParentIdentifier": sub["Identifier"],
		"Algorithm": "ECC_256", "CommonName": "typed.example.com", "Domain": "typed.example.com", "Days": 10, "Immediately": 2})
	if err != nil {
		t.Fatal(err)
	}
	var created sdkCreateServerCertificateBody
	if err := dara.Convert(raw, &created); err != nil {
		t.Fatal(err)
	}
	filled(t, "CreateServerCertificate", map[string]*string{"CertificateChain": created.CertificateChain, "Identifier": created.Identifier,
		"RequestId": created.RequestId, "SerialNumber": created.SerialNumber, "X509Certificate": created.X509Certificate})
	if created.SerialNumber != nil && *created.SerialNumber != strings.ToLower(leafSerialHex(t, *created.X509Certificate)) {
		t.Errorf("SerialNumber %q is not the certificate's serial in lower-case hex", *created.SerialNumber)
	}

	revoked, err := e.rpcCall(t, caVersion, "CreateServerCertificate", map[string]interface{}{"ParentIdentifier": sub["Identifier"],
		"Algorithm": "ECC_256", "CommonName": "revoked.example.com", "Domain": "revoked.example.com", "Days": 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.rpcCall(t, caVersion, "CreateRevokeClientCertificate", map[string]interface{}{"Identifier": revoked["Identifier"]}); err != nil {
		t.Fatal(err)
	}
	raw, err = e.rpcCall(t, caVersion, "DescribeClientCertificateStatus", map[string]interface{}{
		"Identifier": *created.Identifier + "," + revoked["Identifier"].(string) + ",no-such-certificate"})
	if err != nil {
		t.Fatal(err)
	}
	var status sdkDescribeClientCertificateStatusBody
	if err := dara.Convert(raw, &status); err != nil {
		t.Fatal(err)
	}
	if len(status.CertificateStatus) != 3 {
		t.Fatalf("CertificateStatus: %d entries, want 3", len(status.CertificateStatus))
	}
	good, gone, unknown := status.CertificateStatus[0], status.CertificateStatus[1], status.CertificateStatus[2]
	filled(t, "CertificateStatus[good]", map[string]*string{"SerialNumber": good.SerialNumber, "Status": good.Status})
	filled(t, "CertificateStatus[revoked]", map[string]*string{"SerialNumber": gone.SerialNumber, "Status": gone.Status})
	if *good.Status != "good" || good.RevokeTime != nil {
		t.Errorf("live certificate: Status %q RevokeTime %v, want good and no RevokeTime", *good.Status, good.RevokeTime)
	}
	if *gone.Status != "revoked" || gone.RevokeTime == nil || *gone.RevokeTime < 1e12 {
		t.Errorf("revoked certificate: Status %q RevokeTime %v, want revoked with Unix ms", *gone.Status, gone.RevokeTime)
	}
	if unknown.Status == nil || *unknown.Status != "unknown" {
		t.Errorf("missing identifier: %+v, want Status unknown", unknown)
	}
	filled(t, "DescribeClientCertificateStatus", map[string]*string{"RequestId": status.RequestId})

	raw, err = e.rpcCall(t, caVersion, "DescribeCertificatePrivateKey", map[string]interface{}{"Identifier": *created.Identifier, "EncryptedCode": "typed-passw0rd"})
	if err != nil {
		t.Fatal(err)
	}
	var key sdkDescribeCertificatePrivateKeyBody
	if err := dara.Convert(raw, &key); err != nil {
		t.Fatal(err)
	}
	filled(t, "DescribeCertificatePrivateKey", map[string]*string{"EncryptedData": key.EncryptedData, "RequestId": key.RequestId})
	if key.EncryptedData != nil {
		opensslKeyMatchesCert(t, *key.EncryptedData, "typed-passw0rd", *created.X509Certificate)
	}
}

// TestSubjectDefaultsFromTheIssuingCA: subject fields a request leaves out
// come from the issuing CA's subject; fields it gives win.
func TestSubjectDefaultsFromTheIssuingCA(t *testing.T) {
	e := newEnv(t)
	root, err := e.rpcCall(t, caVersion, "CreateRootCACertificate", with(caSubject("Subject Root"), "Algorithm", "ECC_256", "Years", 5))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := e.rpcCall(t, caVersion, "CreateSubCACertificate", map[string]interface{}{"CommonName": "Subject Sub", "Organization": "Sub Org",
		"OrganizationUnit": "Sub Unit", "Locality": "Sub City", "State": "Sub State", "CountryCode": "DE",
		"ParentIdentifier": root["Identifier"], "Algorithm": "ECC_256", "Years": 2})
	if err != nil {
		t.Fatal(err)
	}
	inherited, err := e.rpcCall(t, caVersion, "CreateServerCertificate", map[string]interface{}{"ParentIdentifier": sub["Identifier"],
		"Algorithm": "ECC_256", "CommonName": "plain.example.com", "Domain": "plain.example.com", "Days": 10})
	if err != nil {
		t.Fatal(err)
	}
	own, err := e.rpcCall(t, caVersion, "CreateClientCertificate", map[string]interface{}{"ParentIdentifier": sub["Identifier"],
		"Algorithm": "ECC_256", "CommonName": "alice", "Organization": "Alice Org", "Country": "FR", "SanType": 1, "SanValue": "a@example.com", "Days": 10})
	if err != nil {
		t.Fatal(err)
	}
	ext, err := e.rpcCall(t, caVersion, "CreateCertificateWithExtension", map[string]interface{}{"ParentIdentifier": sub["Identifier"],
		"CertType": "SERVER", "CommonName": "ext.example.com", "Locality": "Own City",
		"BeforeTime": time.Now().Unix(), "AfterTime": time.Now().Add(48 * time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	wantSubject := func(id interface{}, want map[string]string) {
		t.Helper()
		d, err := e.rpcCall(t, caVersion, "DescribeClientCertificate", map[string]interface{}{"Identifier": id})
		if err != nil {
			t.Fatal(err)
		}
		c := d["Certificate"].(map[string]interface{})
		for k, v := range want {
			if c[k] != v {
				t.Errorf("%s %s = %v, want %q (SubjectDN %v)", id, k, c[k], v, c["SubjectDN"])
			}
		}
	}
	wantSubject(inherited["Identifier"], map[string]string{"CommonName": "plain.example.com", "Organization": "Sub Org", "OrganizationUnit": "Sub Unit",
		"Locality": "Sub City", "State": "Sub State", "CountryCode": "DE"})
	wantSubject(own["Identifier"], map[string]string{"CommonName": "alice", "Organization": "Alice Org", "OrganizationUnit": "Sub Unit",
		"Locality": "Sub City", "State": "Sub State", "CountryCode": "FR"})
	wantSubject(ext["Identifier"], map[string]string{"CommonName": "ext.example.com", "Organization": "Sub Org", "Locality": "Own City", "CountryCode": "DE"})
}
