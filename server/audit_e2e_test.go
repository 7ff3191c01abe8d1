package server

import (
	"context"
	"database/sql"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	kms "github.com/alibabacloud-go/kms-20160120/v3/client"
	"github.com/alibabacloud-go/tea/tea"

	"github.com/certcustody/certcustody/certmgr/store"
)

// auditOf returns the audit records of one request, in log order.
func (e *env) auditOf(t testing.TB, requestID string) []*store.AuditRecord {
	t.Helper()
	var out []*store.AuditRecord
	err := e.DB.WalkAudit(context.Background(), func(r *store.AuditRecord) error {
		if r.RequestID == requestID {
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// auditOfCall returns the records of the first request whose call record
// has action (and resource, unless empty).
func (e *env) auditOfCall(t testing.TB, action, resource string) []*store.AuditRecord {
	t.Helper()
	var id string
	_ = e.DB.WalkAudit(context.Background(), func(r *store.AuditRecord) error {
		if id == "" && r.Action == action && (resource == "" || r.Resource == resource) {
			id = r.RequestID
		}
		return nil
	})
	if id == "" {
		t.Fatalf("no %s record", action)
	}
	return e.auditOf(t, id)
}

func actionsOf(recs []*store.AuditRecord) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Action + " " + r.Code
	}
	return out
}

// TestAuditRecordsCallsAndTokenKeyUses drives the service through the SDK
// and reads the log back: each call is one record with its caller, resource
// and result, each token-key use it made is a record of its own under the
// same RequestId, a refused call is recorded without touching the token,
// and a CRL built for the public endpoint is recorded as internal work.
func TestAuditRecordsCallsAndTokenKeyUses(t *testing.T) {
	e := newEnv(t)
	c := e.kmsClient(t, "")
	// The first call unseals the AccessKey secret to check the signature;
	// that is a key use of the call too. Later calls use the cache.
	first, err := e.rpcCall(t, "2016-01-20", "ListCertificates", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := actionsOf(e.auditOf(t, first["RequestId"].(string))), []string{"2016-01-20/ListCertificates OK", "token:unseal/CKM_AES_GCM OK"}; !slices.Equal(got, want) {
		t.Fatalf("first call records %q, want %q", got, want)
	}

	created, err := c.CreateCertificate(&kms.CreateCertificateRequest{KeySpec: tea.String("EC_P256"), Subject: tea.String("CN=audit.example,OU=ops,O=Example,C=CN")})
	if err != nil {
		t.Fatal(err)
	}
	recs := e.auditOf(t, tea.StringValue(created.Body.RequestId))
	want := []string{"2016-01-20/CreateCertificate OK", "token:generate/CKM_EC_KEY_PAIR_GEN OK", "token:sign/CKM_ECDSA OK"}
	if got := actionsOf(recs); !slices.Equal(got, want) {
		t.Fatalf("CreateCertificate records %q, want %q", got, want)
	}
	arn := tea.StringValue(created.Body.Arn)
	for _, r := range recs {
		if r.AccessKeyID != e.AK.AccessKeyID || r.AccountID != e.AK.AccountID || r.SourceIP != "127.0.0.1" {
			t.Errorf("record %d lacks the caller: %+v", r.Seq, r)
		}
	}
	if recs[0].Resource != arn {
		t.Errorf("call record resource %q, want the new certificate's %q", recs[0].Resource, arn)
	}
	keyID := recs[1].Resource
	if keyID == "" || recs[2].Resource != keyID {
		t.Errorf("key-use records name keys %q and %q, want the same new key", keyID, recs[2].Resource)
	}

	// A signature through the service: the call and the token signature.
	ca := newTestCA(t, "EC")
	id := created.Body.CertificateId
	if _, err := c.UploadCertificate(&kms.UploadCertificateRequest{CertificateId: id, Certificate: tea.String(ca.sign(t, tea.StringValue(created.Body.Csr))), CertificateChain: tea.String(ca.pem)}); err != nil {
		t.Fatal(err)
	}
	signed, err := c.CertificatePrivateKeySign(&kms.CertificatePrivateKeySignRequest{CertificateId: id, Algorithm: tea.String("ECDSA_SHA_256"), Message: tea.String(b64([]byte("m"))), MessageType: tea.String("RAW")})
	if err != nil {
		t.Fatal(err)
	}
	recs = e.auditOf(t, tea.StringValue(signed.Body.RequestId))
	want = []string{"2016-01-20/CertificatePrivateKeySign OK", "token:sign/CKM_ECDSA OK"}
	if got := actionsOf(recs); !slices.Equal(got, want) || recs[0].Resource != arn || recs[1].Resource != keyID {
		t.Fatalf("CertificatePrivateKeySign records %q (resources %q, %q), want %q on %s and %s", got, recs[0].Resource, recs[len(recs)-1].Resource, want, arn, keyID)
	}

	// A call the policy refuses: one record with the refusal, no key use.
	ak, err := e.Mgr.CreateAccessKey(context.Background(), "acme", `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:Describe*","Resource":"*"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	recs = e.auditOfCall(t, "admin:CreateAccessKey", "accesskey/"+ak.AccessKeyID)
	want = []string{"admin:CreateAccessKey OK", "token:seal/CKM_AES_GCM OK"}
	if got := actionsOf(recs); !slices.Equal(got, want) || recs[0].AccountID != ak.AccountID || recs[1].AccountID != ak.AccountID {
		t.Fatalf("AccessKey creation records %q (accounts %q, %q), want %q in %s", got, recs[0].AccountID, recs[len(recs)-1].AccountID, want, ak.AccountID)
	}
	limited := *e
	limited.AK = ak
	lc := limited.kmsClient(t, "")
	if _, err := lc.DescribeCertificate(&kms.DescribeCertificateRequest{CertificateId: id}); err != nil {
		t.Fatal(err)
	}
	before := e.tokenUses(t)
	_, err = lc.CertificatePrivateKeySign(&kms.CertificatePrivateKeySignRequest{CertificateId: id, Algorithm: tea.String("ECDSA_SHA_256"), Message: tea.String(b64([]byte("m"))), MessageType: tea.String("RAW")})
	wantAPIError(t, err, "Forbidden.RAM", 403)
	if after := e.tokenUses(t); after != before {
		t.Fatalf("a refused call used the token: %d → %d key-use records", before, after)
	}
	var refused []*store.AuditRecord
	_ = e.DB.WalkAudit(context.Background(), func(r *store.AuditRecord) error {
		if r.AccessKeyID == ak.AccessKeyID && r.Action == "2016-01-20/CertificatePrivateKeySign" {
			refused = append(refused, r)
		}
		return nil
	})
	if len(refused) != 1 || refused[0].Code != "Forbidden.RAM" || refused[0].Resource != arn {
		t.Fatalf("refused call records: %+v", refused)
	}

	// The public CRL endpoint has no caller; its build is internal work.
	root, err := e.rpcCall(t, caVersion, "CreateRootCACertificate", with(caSubject("Audit Root"), "Algorithm", "ECC_256", "Years", 2, "EnableCrl", true))
	if err != nil {
		t.Fatal(err)
	}
	fetchCRL(t, e.URL+"/crl/"+root["Identifier"].(string)+".crl", "")
	want = []string{"internal:BuildCRL OK", "token:sign/CKM_ECDSA OK"}
	if got := actionsOf(e.auditOfCall(t, "internal:BuildCRL", "")); !slices.Equal(got, want) {
		t.Fatalf("CRL build records %q, want %q", got, want)
	}

	// No secret enters the log: not the AccessKey secrets, in any field.
	_ = e.DB.WalkAudit(context.Background(), func(r *store.AuditRecord) error {
		all := strings.Join([]string{r.RequestID, r.AccountID, r.AccessKeyID, r.Action, r.Resource, r.Code, r.SourceIP}, "|")
		if strings.Contains(all, e.AK.AccessKeySecret) || strings.Contains(all, ak.AccessKeySecret) {
			t.Errorf("record %d carries an AccessKey secret", r.Seq)
		}
		return nil
	})
	if strings.Contains(e.Logs.String(), ak.AccessKeySecret) {
		t.Error("the service log carries an AccessKey secret")
	}

	if n := e.Mgr.UnauditedKeyUses(); n != 0 {
		t.Fatalf("%d token-key uses escaped the audit log", n)
	}
	pub, err := e.Mgr.AuditPublicKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := e.Mgr.VerifyAudit(context.Background(), pub); err != nil || rep.Records == 0 {
		t.Fatalf("the log does not verify: %+v %v", rep, err)
	}
}

// tokenUses counts the key-use records in the log.
func (e *env) tokenUses(t testing.TB) int {
	t.Helper()
	n := 0
	if err := e.DB.WalkAudit(context.Background(), func(r *store.AuditRecord) error {
		if strings.HasPrefix(r.Action, "token:") {
			n++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestNoResultWithoutItsAuditRecord: while the audit log refuses records,
// a signature is not handed out and a CreateCertificate leaves neither a
// row nor a token key behind; once the log accepts records again, the same
// calls work.
func TestNoResultWithoutItsAuditRecord(t *testing.T) {
	e := newEnv(t)
	c := e.kmsClient(t, "")
	created, err := c.CreateCertificate(&kms.CreateCertificateRequest{KeySpec: tea.String("EC_P256"), Subject: tea.String("CN=a,OU=b,O=c,C=CN")})
	if err != nil {
		t.Fatal(err)
	}
	ca := newTestCA(t, "EC")
	id := created.Body.CertificateId
	if _, err := c.UploadCertificate(&kms.UploadCertificateRequest{CertificateId: id, Certificate: tea.String(ca.sign(t, tea.StringValue(created.Body.Csr))), CertificateChain: tea.String(ca.pem)}); err != nil {
		t.Fatal(err)
	}

	raw, err := sql.Open("sqlite3", e.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'audit refused'); END`); err != nil {
		t.Fatal(err)
	}
	rows, keys := e.counts(t)
	sign := &kms.CertificatePrivateKeySignRequest{CertificateId: id, Algorithm: tea.String("ECDSA_SHA_256"), Message: tea.String(b64([]byte("m"))), MessageType: tea.String("RAW")}
	_, err = c.CertificatePrivateKeySign(sign)
	wantAPIError(t, err, "InternalError", 500)
	_, err = c.CreateCertificate(&kms.CreateCertificateRequest{KeySpec: tea.String("EC_P256"), Subject: tea.String("CN=a,OU=b,O=c,C=CN")})
	wantAPIError(t, err, "InternalError", 500)
	if r, k := e.counts(t); r != rows || k != keys {
		t.Fatalf("refused audit left %d rows and %d keys, had %d and %d", r, k, rows, keys)
	}
	if !strings.Contains(e.Logs.String(), "audit refused") {
		t.Fatal("the audit failure is not in the service log")
	}
	m := regexp.MustCompile(`(?m)^certcustody_audit_append_failures_total (\d+)$`).FindStringSubmatch(e.scrapeMetrics(t))
	if m == nil {
		t.Fatal("/metrics lacks certcustody_audit_append_failures_total")
	}
	if n, _ := strconv.Atoi(m[1]); n < 2 {
		t.Fatalf("audit failures metric %d, want at least one per refused call", n)
	}

	if _, err := raw.Exec(`DROP TRIGGER refuse_audit`); err != nil {
		t.Fatal(err)
	}
	signed, err := c.CertificatePrivateKeySign(sign)
	if err != nil {
		t.Fatal(err)
	}
	if got := actionsOf(e.auditOf(t, tea.StringValue(signed.Body.RequestId))); len(got) != 2 {
		t.Fatalf("sign after recovery recorded %q", got)
	}
}
