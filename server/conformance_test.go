package server

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"
)

// raw sends one v1-signed RPC call through the HTTP stack and returns the
// status and the body as sent, so a test sees the exact JSON kinds and
// XML elements a client decodes.
func (e *env) raw(t testing.TB, version, action, format string, params map[string]string) (int, []byte) {
	t.Helper()
	p := Params{"Action": action, "Version": version, "Format": format}
	for k, v := range params {
		p[k] = v
	}
	return e.postV1(t, p, nil)
}

// rawOK is raw for a call that must succeed; it returns the decoded JSON.
func (e *env) rawOK(t testing.TB, version, action string, params map[string]string) map[string]any {
	t.Helper()
	status, b := e.raw(t, version, action, "JSON", params)
	if status != http.StatusOK {
		t.Fatalf("%s: HTTP %d %s", action, status, b)
	}
	m, err := decodeJSON(b)
	if err != nil {
		t.Fatalf("%s: %v", action, err)
	}
	return m
}

// fixtures are the resources conformance rows act on: an ECC hierarchy, a
// certificate from a CSR, one with a service-generated key, and an active
// KMS certificate.
type fixtures struct {
	e                *env
	root, sub        string
	leaf, generated  string
	leafSerial       string
	kms              string
	caFixtureCounter int
}

func newFixtures(t *testing.T, e *env) *fixtures {
	f := &fixtures{e: e}
	f.root = str(e.rawOK(t, caVersion, "CreateRootCACertificate", strs(with(caSubject("Conformance Root"), "Algorithm", "ECC_256", "Years", "5")))["Identifier"])
	f.sub = f.newSub(t)
	leaf := e.rawOK(t, caVersion, "CreateClientCertificateWithCsr", map[string]string{"ParentIdentifier": f.sub,
		"Csr": clientCSR(t, "ECC", "leaf.example.com"), "SanType": "1", "SanValue": "leaf@example.com", "Days": "30"})
	f.leaf, f.leafSerial = str(leaf["Identifier"]), str(leaf["SerialNumber"])
	f.generated = str(e.rawOK(t, caVersion, "CreateServerCertificate", map[string]string{"ParentIdentifier": f.sub,
		"Algorithm": "ECC_256", "CommonName": "gen.example.com", "Domain": "gen.example.com", "Days": "30"})["Identifier"])
	f.kms = f.newKMS(t, true)
	return f
}

func (f *fixtures) newSub(t *testing.T) string {
	f.caFixtureCounter++
	return str(f.e.rawOK(t, caVersion, "CreateSubCACertificate", strs(with(caSubject(fmt.Sprintf("Conformance Sub %d", f.caFixtureCounter)),
		"ParentIdentifier", f.root, "Algorithm", "ECC_256", "Years", "2", "EnableCrl", "true")))["Identifier"])
}

// newLeaf issues a fresh client certificate from the fixture sub CA.
func (f *fixtures) newLeaf(t *testing.T, revoked bool) string {
	id := str(f.e.rawOK(t, caVersion, "CreateClientCertificateWithCsr", map[string]string{"ParentIdentifier": f.sub,
		"Csr": clientCSR(t, "ECC", "throwaway.example.com"), "SanType": "1", "SanValue": "x@example.com", "Days": "30"})["Identifier"])
	if revoked {
		f.e.rawOK(t, caVersion, "CreateRevokeClientCertificate", map[string]string{"Identifier": id})
	}
	return id
}

// newKMS creates a KMS certificate and, when active, uploads a
// certificate for it signed by an outside test CA.
func (f *fixtures) newKMS(t *testing.T, active bool) string {
	c := f.e.rawOK(t, kmsVersion, "CreateCertificate", map[string]string{"KeySpec": "EC_P256", "Subject": "CN=kms.example.com,OU=ops,O=Example,C=CN"})
	id := str(c["CertificateId"])
	if active {
		ca := newTestCA(t, "EC")
		f.e.rawOK(t, kmsVersion, "UploadCertificate", map[string]string{"CertificateId": id, "Certificate": ca.sign(t, str(c["Csr"])), "CertificateChain": ca.pem})
	}
	return id
}

func str(v any) string { s, _ := v.(string); return s }

func strs(m map[string]interface{}) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = fmt.Sprint(v)
	}
	return out
}

// conformanceRow drives one action with valid input.
type conformanceRow struct {
	version, action string
	params          func(t *testing.T, f *fixtures) map[string]string
	// absent: declared fields the service has no data for, and why
	// (the README lists them).
	absent map[string]string
	// ext: our documented extensions beyond the SDK's fields.
	ext []string
	// unsupported: the action is answered InvalidAction.NotSupported.
	unsupported bool
}

// ourShapes are the shapes of our own KMS actions (README: extensions),
// held to the same checks as the SDK's.
var ourShapes = map[string]wireAction{
	"ListCertificates": {Action: "ListCertificates", Response: []wireField{
		{Name: "Certificates", Type: "array", Items: wireItems{Type: "object", Children: []wireField{
			{Name: "CertificateId", Type: "string"}, {Name: "Arn", Type: "string"}, {Name: "KeySpec", Type: "string"},
			{Name: "Status", Type: "string", Doc: "PENDING|ACTIVE|INACTIVE|REVOKED"}, {Name: "Subject", Type: "string"},
			{Name: "CreatedAt", Type: "string", Doc: "ISO 8601 UTC"}}}},
		{Name: "TotalCount", Type: "integer"}, {Name: "PageNumber", Type: "integer"}, {Name: "PageSize", Type: "integer"},
		{Name: "RequestId", Type: "string"}}},
	// The KMS tag actions, as kms-20160120/v3 v3.2.3 declares them
	// (client.go: TagResourceResponseBody, ListResourceTagsResponseBody).
	"TagResource":   {Action: "TagResource", Response: []wireField{{Name: "RequestId", Type: "string"}}},
	"UntagResource": {Action: "UntagResource", Response: []wireField{{Name: "RequestId", Type: "string"}}},
	"ListResourceTags": {Action: "ListResourceTags", Response: []wireField{{Name: "RequestId", Type: "string"},
		{Name: "Tags", Type: "object", Children: []wireField{{Name: "Tag", Type: "array", Items: wireItems{Type: "object", Children: []wireField{
			{Name: "KeyId", Type: "string"}, {Name: "TagKey", Type: "string"}, {Name: "TagValue", Type: "string"}}}}}}}},
	"ExportCertificate": {Action: "ExportCertificate", Response: []wireField{
		{Name: "CertificateId", Type: "string"}, {Name: "Pkcs12", Type: "string", Doc: "Base64"}, {Name: "RequestId", Type: "string"}}},
}

func TestWireConformance(t *testing.T) {
	e := newEnv(t)
	f := newFixtures(t, e)
	shapes := map[string]map[string]wireAction{caVersion: wireShapes(t, "cas-20200630.json"), kmsVersion: wireShapes(t, "kms-20160120.json")}
	for name, a := range ourShapes {
		shapes[kmsVersion][name] = a
	}
	rows := conformanceRows()
	covered := map[string]bool{}
	for _, row := range rows {
		covered[row.version+"/"+row.action] = true
	}
	// A new action cannot land without its row.
	var missing []string
	for key := range New(Config{KMS: e.Mgr, PrivateCA: e.Mgr}).actions {
		if !covered[key] {
			missing = append(missing, key)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("actions without a conformance row: %v", missing)
	}
	for _, row := range rows {
		t.Run(row.action, func(t *testing.T) {
			shape, ok := shapes[row.version][row.action]
			if !ok {
				t.Fatalf("%s has no SDK shape in testdata/wire and is not one of ours", row.action)
			}
			check := &shapeCheck{action: row.action, absent: map[string]bool{}, extensions: map[string]bool{}}
			for p := range row.absent {
				check.absent[p] = true
			}
			for _, p := range row.ext {
				check.extensions[p] = true
			}
			if row.unsupported {
				for _, format := range []string{"JSON", "XML"} {
					status, body := e.raw(t, row.version, row.action, format, row.params(t, f))
					if status != http.StatusBadRequest || !strings.Contains(string(body), "InvalidAction.NotSupported") {
						t.Errorf("%s: HTTP %d %s, want 400 InvalidAction.NotSupported", format, status, body)
					}
				}
				return
			}
			status, body := e.raw(t, row.version, row.action, "JSON", row.params(t, f))
			if status != http.StatusOK {
				t.Fatalf("JSON: HTTP %d %s", status, body)
			}
			m, err := decodeJSON(body)
			if err != nil {
				t.Fatalf("JSON: %v", err)
			}
			check.fields("", m, shape.Response)
			for _, p := range check.problems {
				t.Error(p)
			}
			status, xbody := e.raw(t, row.version, row.action, "XML", row.params(t, f))
			if status != http.StatusOK {
				t.Fatalf("XML: HTTP %d %s", status, xbody)
			}
			xp, err := xmlPaths(xbody, row.action)
			if err != nil {
				t.Fatalf("XML: %v\n%s", err, xbody)
			}
			jp := map[string]bool{}
			jsonPaths("", m, jp)
			for _, d := range samePaths(jp, xp) {
				t.Errorf("%s XML and JSON answers differ: %s", row.action, d)
			}
		})
	}
}

func conformanceRows() []conformanceRow {
	id := func(name string, get func(*fixtures) string) func(*testing.T, *fixtures) map[string]string {
		return func(_ *testing.T, f *fixtures) map[string]string { return map[string]string{name: get(f)} }
	}
	kmsID := id("CertificateId", func(f *fixtures) string { return f.kms })
	signParams := func(_ *testing.T, f *fixtures) map[string]string {
		return map[string]string{"CertificateId": f.kms, "Algorithm": "ECDSA_SHA_256", "MessageType": "RAW", "Message": b64([]byte("hello"))}
	}
	// Fields that name a cloud's internals: the README lists them.
	noID := "Id is the cloud's internal numeric row id; our identifiers are the Identifier field"
	caAbsent := map[string]string{"Certificate.ClusterId": "cloud HSM cluster", "Certificate.Sans": "deprecated in the SDK",
		"Certificate.KeyIndex": "cloud HSM key slot; ours is the PKCS#11 CKA_ID in KeyCustody"}
	return []conformanceRow{
		// KMS, 2016-01-20.
		{version: kmsVersion, action: "CreateCertificate", params: func(*testing.T, *fixtures) map[string]string {
			return map[string]string{"KeySpec": "EC_P256", "Subject": "CN=new.example.com,OU=ops,O=Example,C=CN"}
		}},
		{version: kmsVersion, action: "UploadCertificate", params: func(t *testing.T, f *fixtures) map[string]string {
			c := f.e.rawOK(t, kmsVersion, "CreateCertificate", map[string]string{"KeySpec": "EC_P256", "Subject": "CN=up.example.com,OU=ops,O=Example,C=CN"})
			ca := newTestCA(t, "EC")
			return map[string]string{"CertificateId": str(c["CertificateId"]), "Certificate": ca.sign(t, str(c["Csr"])), "CertificateChain": ca.pem}
		}},
		{version: kmsVersion, action: "GetCertificate", params: kmsID},
		{version: kmsVersion, action: "DescribeCertificate", params: kmsID, ext: []string{"ProtectionLevel", "KeyCustody"}},
		{version: kmsVersion, action: "UpdateCertificateStatus", params: func(t *testing.T, f *fixtures) map[string]string {
			return map[string]string{"CertificateId": f.newKMS(t, true), "Status": "INACTIVE"}
		}},
		{version: kmsVersion, action: "DeleteCertificate", params: func(t *testing.T, f *fixtures) map[string]string {
			return map[string]string{"CertificateId": f.newKMS(t, false)}
		}},
		{version: kmsVersion, action: "ListCertificates", params: func(*testing.T, *fixtures) map[string]string { return nil }},
		{version: kmsVersion, action: "ExportCertificate", params: func(_ *testing.T, f *fixtures) map[string]string {
			return map[string]string{"CertificateId": f.kms, "Password": "conformance-pass"}
		}},
		{version: kmsVersion, action: "CertificatePrivateKeySign", params: signParams},
		{version: kmsVersion, action: "CertificatePublicKeyVerify", params: func(t *testing.T, f *fixtures) map[string]string {
			p := signParams(t, f)
			sig := f.e.rawOK(t, kmsVersion, "CertificatePrivateKeySign", p)
			p["SignatureValue"] = str(sig["SignatureValue"])
			return p
		}},
		{version: kmsVersion, action: "CertificatePublicKeyEncrypt", params: func(t *testing.T, f *fixtures) map[string]string {
			return map[string]string{"CertificateId": f.rsaKMS(t), "Algorithm": "RSAES_OAEP_SHA_256", "Plaintext": b64([]byte("secret"))}
		}},
		{version: kmsVersion, action: "CertificatePrivateKeyDecrypt", params: func(t *testing.T, f *fixtures) map[string]string {
			id := f.rsaKMS(t)
			ct := f.e.rawOK(t, kmsVersion, "CertificatePublicKeyEncrypt", map[string]string{"CertificateId": id, "Algorithm": "RSAES_OAEP_SHA_256", "Plaintext": b64([]byte("secret"))})
			return map[string]string{"CertificateId": id, "Algorithm": "RSAES_OAEP_SHA_256", "CiphertextBlob": str(ct["CiphertextBlob"])}
		}},

		{version: kmsVersion, action: "TagResource", params: func(_ *testing.T, f *fixtures) map[string]string {
			return map[string]string{"CertificateId": f.kms, "Tags": `[{"TagKey":"team","TagValue":"ops"}]`}
		}},
		{version: kmsVersion, action: "UntagResource", params: func(t *testing.T, f *fixtures) map[string]string {
			f.e.rawOK(t, kmsVersion, "TagResource", map[string]string{"CertificateId": f.kms, "Tags": `[{"TagKey":"gone","TagValue":"x"}]`})
			return map[string]string{"CertificateId": f.kms, "TagKeys": `["gone"]`}
		}},
		{version: kmsVersion, action: "ListResourceTags", params: func(t *testing.T, f *fixtures) map[string]string {
			f.e.rawOK(t, kmsVersion, "TagResource", map[string]string{"CertificateId": f.kms, "Tags": `[{"TagKey":"team","TagValue":"ops"}]`})
			return map[string]string{"CertificateId": f.kms}
		}, absent: map[string]string{"Tags.Tag.KeyId": "the tagged resource is a certificate, named by the request's CertificateId"}},

		// Private CA, 2020-06-30.
		{version: caVersion, action: "CreateRootCACertificate", params: func(*testing.T, *fixtures) map[string]string {
			return strs(with(caSubject("Row Root"), "Algorithm", "ECC_256", "Years", "3"))
		}},
		{version: caVersion, action: "CreateSubCACertificate", params: func(_ *testing.T, f *fixtures) map[string]string {
			return strs(with(caSubject("Row Sub"), "ParentIdentifier", f.root, "Algorithm", "ECC_256", "Years", "1"))
		}},
		{version: caVersion, action: "CreateServerCertificateWithCsr", params: func(t *testing.T, f *fixtures) map[string]string {
			return map[string]string{"ParentIdentifier": f.sub, "Csr": clientCSR(t, "ECC", "csr.example.com"), "Domain": "csr.example.com", "Days": "10"}
		}},
		{version: caVersion, action: "CreateClientCertificateWithCsr", params: func(t *testing.T, f *fixtures) map[string]string {
			return map[string]string{"ParentIdentifier": f.sub, "Csr": clientCSR(t, "ECC", "client"), "SanType": "1", "SanValue": "c@example.com", "Days": "10"}
		}, absent: map[string]string{"CertKmcRep1": "SM2 dual-certificate KMC fields: no KMC here", "CertSignBufKmc": "same"}},
		{version: caVersion, action: "CreateServerCertificate", params: func(_ *testing.T, f *fixtures) map[string]string {
			return map[string]string{"ParentIdentifier": f.sub, "Algorithm": "ECC_256", "CommonName": "s.example.com", "Domain": "s.example.com", "Days": "10", "Immediately": "2"}
		}},
		{version: caVersion, action: "CreateClientCertificate", params: func(_ *testing.T, f *fixtures) map[string]string {
			return map[string]string{"ParentIdentifier": f.sub, "Algorithm": "ECC_256", "CommonName": "c", "SanType": "1", "SanValue": "c@example.com", "Days": "10", "Immediately": "2"}
		}},
		{version: caVersion, action: "CreateCertificateWithExtension", params: func(_ *testing.T, f *fixtures) map[string]string {
			return map[string]string{"ParentIdentifier": f.sub, "CertType": "SERVER", "CommonName": "ext.example.com",
				"Sans": `[{"Type":2,"Value":"ext.example.com"}]`, "BeforeTime": fmt.Sprint(time.Now().Unix()), "AfterTime": fmt.Sprint(time.Now().Add(240 * time.Hour).Unix())}
		}},
		{version: caVersion, action: "CreateCustomCertificate", params: func(t *testing.T, f *fixtures) map[string]string {
			return map[string]string{"ParentIdentifier": f.sub, "Csr": clientCSR(t, "ECC", "custom.example.com"), "Validity": "7d",
				"ApiPassthrough": `{"Extensions":{"SubjectAlternativeNames":[{"Type":"DNS","Value":"custom.example.com"}]}}`}
		}},
		{version: caVersion, action: "GetCaInstanceCrlAddress", params: id("CaIdentifier", func(f *fixtures) string { return f.sub }),
			absent: map[string]string{"HashCode": "no cloud CRL hosting hash", "CaType": "cloud instance type"}},
		{version: caVersion, action: "ListClientCertificate", params: func(*testing.T, *fixtures) map[string]string { return nil },
			absent: map[string]string{"MaxResults": "CurrentPage paging; MaxResults only with NextToken", "CertificateList.Id": noID}},
		{version: caVersion, action: "ListRevokeCertificate", params: func(t *testing.T, f *fixtures) map[string]string {
			f.newLeaf(t, true)
			return nil
		}},
		{version: caVersion, action: "DeleteClientCertificate", params: func(t *testing.T, f *fixtures) map[string]string {
			return map[string]string{"Identifier": f.newLeaf(t, true)}
		}},
		{version: caVersion, action: "DescribeCertificatePrivateKey", params: func(_ *testing.T, f *fixtures) map[string]string {
			return map[string]string{"Identifier": f.generated, "EncryptedCode": "conformance-pass"}
		}},
		{version: caVersion, action: "DescribeCACertificate", params: id("Identifier", func(f *fixtures) string { return f.sub }), absent: caAbsent,
			ext: []string{"Certificate.KeyCustody"}},
		{version: caVersion, action: "CreateRevokeClientCertificate", params: func(t *testing.T, f *fixtures) map[string]string {
			return map[string]string{"Identifier": f.newLeaf(t, false)}
		}},
		{version: caVersion, action: "UpdateCACertificateStatus", params: func(t *testing.T, f *fixtures) map[string]string {
			return map[string]string{"Identifier": f.newSub(t), "Status": "REVOKE"}
		}},
		{version: caVersion, action: "DescribeClientCertificate", params: id("Identifier", func(f *fixtures) string { return f.leaf }),
			absent: map[string]string{"Certificate.Id": noID}},
		{version: caVersion, action: "DescribeClientCertificateStatus", params: func(t *testing.T, f *fixtures) map[string]string {
			return map[string]string{"Identifier": f.leaf + "," + f.newLeaf(t, true) + ",no-such-certificate"}
		}, ext: []string{"CertificateStatus.Identifier"}},
		{version: caVersion, action: "DescribeCACertificateList", params: func(*testing.T, *fixtures) map[string]string { return nil },
			absent: map[string]string{"CertificateList.Sans": "deprecated in the SDK"}},
		{version: caVersion, action: "DescribeCACertificateCount", params: func(*testing.T, *fixtures) map[string]string { return nil }},
		{version: caVersion, action: "DescribeClientCertificateForSerialNumber", params: func(_ *testing.T, f *fixtures) map[string]string {
			return map[string]string{"SerialNumber": strings.ToUpper(f.leafSerial)}
		}},
		{version: caVersion, action: "DescribeClientCertificateStatusForSerialNumber", params: func(t *testing.T, f *fixtures) map[string]string {
			return map[string]string{"SerialNumber": f.leafSerial}
		}, absent: map[string]string{"CertificateStatus.RevokeTime": "present only for a revoked certificate; this one is live"}},
		{version: caVersion, action: "GetCAInstanceStatus", params: id("Identifier", func(f *fixtures) string { return f.sub }),
			absent: map[string]string{"InstanceStatusList.CertTotalCount": "no purchased certificate count here",
				"InstanceStatusList.UseExpireTime": "no purchased instance that expires"}},
		{version: caVersion, action: "ListCert", params: func(_ *testing.T, f *fixtures) map[string]string {
			return map[string]string{"ParentIdentifier": f.sub, "MaxResults": "2"}
		}, absent: map[string]string{"List.Id": noID}},
		{version: caVersion, action: "ListAllEndEntityInstance", params: func(*testing.T, *fixtures) map[string]string {
			return map[string]string{"MaxResults": "2"}
		}},
		{version: caVersion, action: "ListPcaCaCertificate", params: func(*testing.T, *fixtures) map[string]string {
			return map[string]string{"MaxResults": "1"}
		}},
		{version: caVersion, action: "UpdatePcaCertificate", params: func(_ *testing.T, f *fixtures) map[string]string {
			return map[string]string{"Identifier": f.leaf, "AliasName": "leaf alias", "Tags.1.Key": "env", "Tags.1.Value": "test"}
		}, absent: map[string]string{"AccessDeniedDetail": "present only on a refusal"}},
		{version: caVersion, action: "TagResources", params: func(_ *testing.T, f *fixtures) map[string]string {
			return map[string]string{"ResourceType": "ALIYUN::CAS::PCACERTIFICATE", "ResourceId.1": f.sub, "ResourceId.2": f.leaf,
				"Tag.1.Key": "owner", "Tag.1.Value": "pki"}
		}},
		{version: caVersion, action: "UntagResources", params: func(t *testing.T, f *fixtures) map[string]string {
			return map[string]string{"ResourceType": "ALIYUN::CAS::PCACERTIFICATE", "ResourceId.1": f.sub, "TagKey.1": "owner"}
		}},
		{version: caVersion, action: "ListTagResources", params: func(t *testing.T, f *fixtures) map[string]string {
			f.e.rawOK(t, caVersion, "TagResources", map[string]string{"ResourceType": "ALIYUN::CAS::PCACERTIFICATE", "ResourceId.1": f.leaf,
				"Tag.1.Key": "listed", "Tag.1.Value": "yes"})
			f.e.rawOK(t, caVersion, "TagResources", map[string]string{"ResourceType": "ALIYUN::CAS::PCACERTIFICATE", "ResourceId.1": f.sub,
				"Tag.1.Key": "listed", "Tag.1.Value": "yes"})
			return map[string]string{"ResourceType": "ALIYUN::CAS::PCACERTIFICATE", "MaxResults": "1"} // a page with a next
		}},
		{version: caVersion, action: "ListCACertificateLog", params: id("Identifier", func(f *fixtures) string { return f.sub })},
		{version: caVersion, action: "CreateExternalCACertificate", params: func(t *testing.T, f *fixtures) map[string]string {
			return map[string]string{"InstanceId": f.root, "Csr": clientCSR(t, "ECC", "Partner Issuing CA"), "Validity": "1y",
				"ApiPassthrough": `{"Subject":{"CommonName":"Partner Issuing CA","Organization":"Partner"},"Extensions":{"PathLenConstraint":0}}`}
		}},
		{version: caVersion, action: "AssignCertificateCount", unsupported: true, params: id("Id", func(*fixtures) string { return "1" })},
		{version: caVersion, action: "UploadPcaCertToCas", unsupported: true, params: id("Ids", func(f *fixtures) string { return f.leaf })},
		{version: caVersion, action: "MoveResourceGroup", unsupported: true, params: func(_ *testing.T, f *fixtures) map[string]string {
			return map[string]string{"ResourceId": f.sub, "ResourceGroupId": "rg-1", "ResourceType": "CA"}
		}},
	}
}

// rsaKMS creates an active RSA KMS certificate (encryption needs RSA or SM2).
func (f *fixtures) rsaKMS(t *testing.T) string {
	c := f.e.rawOK(t, kmsVersion, "CreateCertificate", map[string]string{"KeySpec": "RSA_2048", "Subject": "CN=rsa.example.com,OU=ops,O=Example,C=CN"})
	id := str(c["CertificateId"])
	ca := newTestCA(t, "RSA")
	f.e.rawOK(t, kmsVersion, "UploadCertificate", map[string]string{"CertificateId": id, "Certificate": ca.sign(t, str(c["Csr"])), "CertificateChain": ca.pem})
	_ = context.Background()
	return id
}
