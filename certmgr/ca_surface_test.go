package certmgr

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/certcustody/certcustody/csrgen"
)

// Helpers shared by the tests of the rest of the Private CA surface (serial
// lookups, instance status, keyset listings, tags, log, external CAs).

func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", code)
	}
	if got := AsError(err).Code; got != code {
		t.Fatalf("error %v, want code %s", err, code)
	}
}

// otherCaller is a second account in the same manager.
func otherCaller(t testing.TB, m *Manager) Caller {
	t.Helper()
	ak, err := m.CreateAccessKey(context.Background(), "other", "")
	if err != nil {
		t.Fatal(err)
	}
	return Caller{AccountID: ak.AccountID, AccessKeyID: ak.AccessKeyID}
}

func caRequest(cn, alg string) CreateCARequest {
	return CreateCARequest{CommonName: cn, Organization: "Acme", OrganizationUnit: "PKI", Locality: "Hangzhou", State: "Zhejiang",
		CountryCode: "CN", Algorithm: alg}
}

// hierarchy creates a root and a subordinate CA of alg (ECC_256 unless
// given) and returns their identifiers.
func hierarchy(t testing.TB, m *Manager, c Caller, alg string) (root, sub string) {
	t.Helper()
	ctx := context.Background()
	rr := caRequest("Test Root", alg)
	rr.Years = 10
	r, err := m.CreateRootCACertificate(ctx, c, rr)
	if err != nil {
		t.Fatal(err)
	}
	sr := caRequest("Test Issuing CA", alg)
	sr.ParentIdentifier, sr.Years = r.Identifier, 5
	s, err := m.CreateSubCACertificate(ctx, c, sr)
	if err != nil {
		t.Fatal(err)
	}
	return r.Identifier, s.Identifier
}

// issueGenerated issues a server certificate for a service-generated P-256
// key (its key is held: KeyExportable).
func issueGenerated(t testing.TB, m *Manager, c Caller, sub, cn string, l Labels) string {
	t.Helper()
	res, err := m.CreateServerCertificate(context.Background(), c, GenerateRequest{
		IssueRequest: IssueRequest{ParentIdentifier: sub, Years: 1, Domain: cn, Labels: l}, Algorithm: "ECC_256", CommonName: cn})
	if err != nil {
		t.Fatal(err)
	}
	return res.Identifier
}

// csrPEM is a CSR for a fresh in-process P-256 key.
func csrPEM(t testing.TB, subject string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dn, err := csrgen.ParseDN(subject)
	if err != nil {
		t.Fatal(err)
	}
	der, err := csrgen.CreateCSR(rand.Reader, csrgen.Request{Subject: dn}, key)
	if err != nil {
		t.Fatal(err)
	}
	return csrgen.EncodeCSRPEM(der)
}

// issueClientCSR issues a client certificate for a CSR (its key is not
// held).
func issueClientCSR(t testing.TB, m *Manager, c Caller, sub, cn string) string {
	t.Helper()
	res, err := m.CreateClientCertificateWithCsr(context.Background(), c, IssueRequest{ParentIdentifier: sub, Years: 1, Csr: csrPEM(t, "CN="+cn+",O=Acme")})
	if err != nil {
		t.Fatal(err)
	}
	return res.Identifier
}

func serialOf(t testing.TB, m *Manager, c Caller, id string) string {
	t.Helper()
	row, err := m.sqlStore().GetIssuedCertificate(context.Background(), c.AccountID, id)
	if err != nil {
		t.Fatal(err)
	}
	return row.Serial
}

// keysetOrder sorts issued-certificate identifiers the way the keyset
// listings walk them: by creation time (ms), then identifier.
func keysetOrder(t testing.TB, m *Manager, c Caller, ids []string) []string {
	t.Helper()
	at := map[string]int64{}
	for _, id := range ids {
		row, err := m.sqlStore().GetIssuedCertificate(context.Background(), c.AccountID, id)
		if err != nil {
			t.Fatal(err)
		}
		at[id] = row.CreatedAt.UnixMilli()
	}
	out := append([]string(nil), ids...)
	sort.Slice(out, func(i, j int) bool {
		if at[out[i]] != at[out[j]] {
			return at[out[i]] < at[out[j]]
		}
		return out[i] < out[j]
	})
	return out
}

// jsonKinds marshals v and returns each top-level key's JSON kind
// (string, number, bool, array, object).
func jsonKinds(t testing.TB, v any) map[string]string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for k, x := range m {
		switch x.(type) {
		case string:
			out[k] = "string"
		case float64:
			out[k] = "number"
		case bool:
			out[k] = "bool"
		case []any:
			out[k] = "array"
		case map[string]any:
			out[k] = "object"
		default:
			out[k] = "null"
		}
	}
	return out
}

func wantKinds(t testing.TB, what string, v any, want map[string]string) {
	t.Helper()
	got := jsonKinds(t, v)
	for k, kind := range want {
		if got[k] != kind {
			t.Errorf("%s.%s: JSON %s, want %s (all: %v)", what, k, got[k], kind, got)
		}
	}
}

// TestSerialLookups: DescribeClientCertificateForSerialNumber finds the
// caller's certificate by serial in any case and spelling, with ISO 8601
// dates; DescribeClientCertificateStatusForSerialNumber answers good,
// revoked (with RevokeTime) or unknown; another account finds nothing.
func TestSerialLookups(t *testing.T) {
	ctx := context.Background()
	m, c := newManager(t)
	_, sub := hierarchy(t, m, c, "ECC_256")
	id := issueGenerated(t, m, c, sub, "a.example.com", Labels{})
	issueGenerated(t, m, c, sub, "b.example.com", Labels{})
	serial := serialOf(t, m, c, id)

	for _, spelling := range []string{strings.ToLower(serial), strings.ToUpper(serial), "0x" + strings.ToLower(serial), "00" + serial} {
		got, err := m.DescribeClientCertificateForSerialNumber(ctx, c, spelling)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.CertificateList) != 1 || got.CertificateList[0].Identifier != id {
			t.Fatalf("%s: %+v", spelling, got)
		}
		e := got.CertificateList[0]
		if e.SerialNumber != strings.ToLower(serial) || e.CommonName != "a.example.com" || e.ParentIdentifier != sub || e.Status != "ISSUE" || e.Years != 1 {
			t.Fatalf("entry: %+v", e)
		}
		if _, err := time.Parse(time.RFC3339, e.BeforeDate); err != nil || !strings.HasSuffix(e.AfterDate, "Z") {
			t.Fatalf("dates %q %q are not ISO 8601 UTC", e.BeforeDate, e.AfterDate)
		}
		wantKinds(t, "CertificateList[]", e, map[string]string{"BeforeDate": "string", "AfterDate": "string", "KeySize": "number",
			"Years": "number", "Sans": "string", "X509Certificate": "string", "CommonName": "string"})
	}
	other := otherCaller(t, m)
	if got, err := m.DescribeClientCertificateForSerialNumber(ctx, other, serial); err != nil || len(got.CertificateList) != 0 {
		t.Fatalf("another account: %+v %v", got, err)
	}
	wantCode(t, func() error { _, err := m.DescribeClientCertificateForSerialNumber(ctx, c, ""); return err }(), "MissingParameter")
	for _, bad := range []string{"zz", "0x", strings.Repeat("f", 65), "-1", "0"} {
		wantCode(t, func() error { _, err := m.DescribeClientCertificateForSerialNumber(ctx, c, bad); return err }(), "InvalidParameter")
	}

	status := func(cl Caller, s string) SerialStatus {
		t.Helper()
		got, err := m.DescribeClientCertificateStatusForSerialNumber(ctx, cl, s)
		if err != nil || len(got.CertificateStatus) != 1 {
			t.Fatalf("status of %s: %+v %v", s, got, err)
		}
		return got.CertificateStatus[0]
	}
	if s := status(c, strings.ToUpper(serial)); s.Status != "good" || s.RevokeTime != 0 || s.SerialNumber != strings.ToLower(serial) {
		t.Fatalf("live: %+v", s)
	}
	if s := status(other, serial); s.Status != "unknown" {
		t.Fatalf("another account's certificate: %+v", s)
	}
	if s := status(c, "0123456789abcdef"); s.Status != "unknown" || s.SerialNumber != "0123456789abcdef" {
		t.Fatalf("no such serial: %+v", s)
	}
	if err := m.CreateRevokeClientCertificate(ctx, c, id, "keyCompromise"); err != nil {
		t.Fatal(err)
	}
	row, err := m.sqlStore().GetIssuedCertificate(ctx, c.AccountID, id)
	if err != nil {
		t.Fatal(err)
	}
	s := status(c, serial)
	if s.Status != "revoked" || s.RevokeTime != row.RevokedAt.UnixMilli() {
		t.Fatalf("revoked: %+v (revoked at %v)", s, row.RevokedAt)
	}
	// Deleted: hidden from the description, still revoked (it is still on
	// the CRL).
	if err := m.DeleteClientCertificate(ctx, c, id); err != nil {
		t.Fatal(err)
	}
	if got, err := m.DescribeClientCertificateForSerialNumber(ctx, c, serial); err != nil || len(got.CertificateList) != 0 {
		t.Fatalf("deleted: %+v %v", got, err)
	}
	if s := status(c, serial); s.Status != "revoked" {
		t.Fatalf("deleted: %+v", s)
	}
}

// TestGetCAInstanceStatus: one CA or all of them, USED until revoked,
// with the certificate count of what each has signed; another account's
// CA is not found; no purchase quota is reported.
func TestGetCAInstanceStatus(t *testing.T) {
	ctx := context.Background()
	m, c := newManager(t)
	root, sub := hierarchy(t, m, c, "ECC_256")
	issueGenerated(t, m, c, sub, "a.example.com", Labels{})
	issueClientCSR(t, m, c, sub, "client-1")

	got, err := m.GetCAInstanceStatus(ctx, c, GetCAInstanceStatusRequest{Identifier: sub})
	if err != nil || len(got.InstanceStatusList) != 1 {
		t.Fatalf("%+v %v", got, err)
	}
	e := got.InstanceStatusList[0]
	ca, _ := m.sqlStore().GetCACertificate(ctx, c.AccountID, sub)
	if e.Identifier != sub || e.InstanceID != sub || e.Status != "USED" || e.Type != "SUB_ROOT" || e.CertIssuedCount != 2 ||
		e.BeforeTime != ca.NotBefore.UnixMilli() || e.AfterTime != ca.NotAfter.UnixMilli() {
		t.Fatalf("sub CA: %+v", e)
	}
	wantKinds(t, "InstanceStatusList[]", e, map[string]string{"BeforeTime": "number", "AfterTime": "number", "CertIssuedCount": "number", "InstanceId": "string"})
	if _, ok := jsonKinds(t, e)["CertTotalCount"]; ok {
		t.Fatal("CertTotalCount reported, but nothing limits issuance")
	}
	got, err = m.GetCAInstanceStatus(ctx, c, GetCAInstanceStatusRequest{InstanceID: root})
	if err != nil || got.InstanceStatusList[0].Type != "ROOT" || got.InstanceStatusList[0].CertIssuedCount != 1 {
		t.Fatalf("root by InstanceId: %+v %v", got, err)
	}
	all, err := m.GetCAInstanceStatus(ctx, c, GetCAInstanceStatusRequest{})
	if err != nil || len(all.InstanceStatusList) != 2 || (GetCAInstanceStatusRequest{}).Resources() != nil {
		t.Fatalf("all: %+v %v", all, err)
	}
	if err := m.UpdateCACertificateStatus(ctx, c, sub, "REVOKE"); err != nil {
		t.Fatal(err)
	}
	got, err = m.GetCAInstanceStatus(ctx, c, GetCAInstanceStatusRequest{Identifier: sub})
	if err != nil || got.InstanceStatusList[0].Status != "REVOKE" {
		t.Fatalf("revoked: %+v %v", got, err)
	}
	other := otherCaller(t, m)
	wantCode(t, func() error {
		_, err := m.GetCAInstanceStatus(ctx, other, GetCAInstanceStatusRequest{Identifier: sub})
		return err
	}(), "NotFound.Certificate")
	if all, err := m.GetCAInstanceStatus(ctx, other, GetCAInstanceStatusRequest{}); err != nil || len(all.InstanceStatusList) != 0 {
		t.Fatalf("another account lists: %+v %v", all, err)
	}
	wantCode(t, func() error {
		_, err := m.GetCAInstanceStatus(ctx, c, GetCAInstanceStatusRequest{Identifier: sub, InstanceID: root})
		return err
	}(), "InvalidParameter")
}

// TestListCertKeyset pages through end-entity certificates with NextToken
// (every certificate once, in creation order), applies each filter, and
// refuses forged tokens and page jumps.
func TestListCertKeyset(t *testing.T) {
	ctx := context.Background()
	m, c := newManager(t)
	_, sub := hierarchy(t, m, c, "ECC_256")
	var ids []string
	for i := range 5 {
		ids = append(ids, issueGenerated(t, m, c, sub, string(rune('a'+i))+".example.com", Labels{Tags: []Tag{{TagKey: "env", TagValue: "dev"}}}))
	}
	csrID := issueClientCSR(t, m, c, sub, "client-1")
	ids = append(ids, csrID)
	gen0 := ids[0]

	var seen []string
	tok := ""
	for page := 1; ; page++ {
		got, err := m.ListCert(ctx, c, ListCertRequest{MaxResults: 4, NextToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		if got.TotalCount != 6 || got.MaxResults != 4 || got.PageCount != 2 || got.CurrentPage != page {
			t.Fatalf("page %d: %+v", page, got)
		}
		for _, e := range got.List {
			seen = append(seen, e.Identifier)
		}
		if got.NextToken == "" {
			break
		}
		tok = got.NextToken
	}
	ids = keysetOrder(t, m, c, ids)
	if strings.Join(seen, ",") != strings.Join(ids, ",") {
		t.Fatalf("listed %v, want %v", seen, ids)
	}

	got, err := m.ListCert(ctx, c, ListCertRequest{ShowSize: 100})
	if err != nil || len(got.List) != 6 || got.NextToken != "" {
		t.Fatalf("ShowSize 100: %d %v", len(got.List), err)
	}
	var first, last CertListItem
	for _, e := range got.List {
		switch e.Identifier {
		case gen0:
			first = e
		case csrID:
			last = e
		}
	}
	if !first.KeyExportable || last.KeyExportable || first.CertificateType != "cas" || first.Status != "ISSUE" ||
		first.CommonName != "a.example.com" || len(first.Tags) != 1 || first.Tags[0] != "env:dev" || len(last.Tags) != 0 {
		t.Fatalf("entries: %+v / %+v", first, last)
	}
	var extra struct{ CertType, ParentIdentifier string }
	if err := json.Unmarshal([]byte(last.Extra), &extra); err != nil || extra.CertType != "CLIENT" || extra.ParentIdentifier != sub {
		t.Fatalf("Extra %q: %v", last.Extra, err)
	}
	if _, err := time.Parse(listDateLayout, first.BeforeDate); err != nil || first.BeforeTime%1000 != 0 {
		t.Fatalf("BeforeDate %q BeforeTime %d", first.BeforeDate, first.BeforeTime)
	}
	wantKinds(t, "List[]", first, map[string]string{"BeforeDate": "string", "AfterDate": "string", "BeforeTime": "number",
		"AfterTime": "number", "KeyExportable": "bool", "Tags": "array", "Extra": "string", "SubjectDn": "string"})
	wantKinds(t, "ListCert", got, map[string]string{"List": "array", "TotalCount": "number", "MaxResults": "number"})

	// Filters.
	if err := m.CreateRevokeClientCertificate(ctx, c, gen0, ""); err != nil {
		t.Fatal(err)
	}
	count := func(r ListCertRequest) int64 {
		t.Helper()
		got, err := m.ListCert(ctx, c, r)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(got.List)) != got.TotalCount {
			t.Fatalf("%+v: %d listed, TotalCount %d", r, len(got.List), got.TotalCount)
		}
		return got.TotalCount
	}
	nb := first.BeforeTime
	for _, tc := range []struct {
		name string
		r    ListCertRequest
		want int64
	}{
		{"revoked", ListCertRequest{Status: "revoke"}, 1},
		{"issued", ListCertRequest{Status: "ISSUE"}, 5},
		{"client", ListCertRequest{Type: "CLIENT"}, 1},
		{"server", ListCertRequest{Type: "SERVER"}, 5},
		{"end entity", ListCertRequest{Type: "END_ENTITY"}, 6},
		{"issuer", ListCertRequest{ParentIdentifier: sub}, 6},
		{"instance", ListCertRequest{InstanceUUID: sub}, 6},
		{"valid from", ListCertRequest{BeforeDate: time.UnixMilli(nb).UTC().Format(listDateLayout)}, 6},
		{"valid from later", ListCertRequest{BeforeDate: time.UnixMilli(nb).UTC().Add(48 * time.Hour).Format(listDateLayout)}, 0},
		{"expires by", ListCertRequest{AfterDate: time.UnixMilli(nb).UTC().AddDate(2, 0, 0).Format(listDateLayout)}, 6},
		{"expires by sooner", ListCertRequest{AfterDate: time.UnixMilli(nb).UTC().AddDate(0, 6, 0).Format(listDateLayout)}, 0},
	} {
		if n := count(tc.r); n != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, n, tc.want)
		}
	}
	if r := (ListCertRequest{ParentIdentifier: sub}).Resources(); len(r) != 1 || r[0] != sub {
		t.Fatalf("Resources %v", r)
	}
	if (ListCertRequest{}).Resources() != nil {
		t.Fatal("an account-wide listing names resources")
	}

	other := otherCaller(t, m)
	if got, err := m.ListCert(ctx, other, ListCertRequest{}); err != nil || got.TotalCount != 0 || len(got.List) != 0 {
		t.Fatalf("another account: %+v %v", got, err)
	}
	wantCode(t, func() error { _, err := m.ListCert(ctx, other, ListCertRequest{ParentIdentifier: sub}); return err }(), "NotFound.Certificate")

	firstPage, err := m.ListCert(ctx, c, ListCertRequest{MaxResults: 2})
	if err != nil {
		t.Fatal(err)
	}
	eeTok := func() string {
		got, err := m.ListAllEndEntityInstance(ctx, c, ListAllEndEntityInstanceRequest{MaxResults: 2})
		if err != nil {
			t.Fatal(err)
		}
		return got.NextToken
	}()
	for name, bad := range map[string]string{
		"garbage":           "!!!",
		"not base64 text":   base64.RawURLEncoding.EncodeToString([]byte("hello")),
		"other listing":     eeTok,
		"bad page":          base64.RawURLEncoding.EncodeToString([]byte("cert|0|1|x|")),
		"bad id":            base64.RawURLEncoding.EncodeToString([]byte("cert|1|1|x' OR 1=1 --|")),
		"negative time":     base64.RawURLEncoding.EncodeToString([]byte("cert|1|-5|x|")),
		"key on a cert tok": base64.RawURLEncoding.EncodeToString([]byte("cert|1|5|x|k")),
		"too long":          strings.Repeat("A", 600),
		"truncated":         firstPage.NextToken[:len(firstPage.NextToken)-3],
	} {
		_, err := m.ListCert(ctx, c, ListCertRequest{NextToken: bad})
		if err == nil || AsError(err).Code != "InvalidParameter.NextToken" {
			t.Errorf("%s token: %v", name, err)
		}
	}
	for _, r := range []ListCertRequest{
		{CurrentPage: 2}, {MaxResults: 101}, {MaxResults: -1}, {Status: "GOOD"}, {Type: "ROOT"},
		{BeforeDate: "2024-01-01T00:00:00Z"}, {AfterDate: "yesterday"}, {ParentIdentifier: sub, InstanceUUID: "x"},
		{ParentIdentifier: strings.Repeat("x", 200)},
	} {
		wantCode(t, func() error { _, err := m.ListCert(ctx, c, r); return err }(), "InvalidParameter")
	}
}

// TestListAllEndEntityInstance pages through every end-entity certificate
// as free-form objects, and refuses the numeric ParentId it cannot apply.
func TestListAllEndEntityInstance(t *testing.T) {
	ctx := context.Background()
	m, c := newManager(t)
	_, sub := hierarchy(t, m, c, "ECC_256")
	want := []string{issueGenerated(t, m, c, sub, "a.example.com", Labels{}), issueClientCSR(t, m, c, sub, "c1"), issueGenerated(t, m, c, sub, "b.example.com", Labels{})}
	var seen []string
	tok := ""
	for {
		got, err := m.ListAllEndEntityInstance(ctx, c, ListAllEndEntityInstanceRequest{MaxResults: 2, NextToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		if got.TotalCount != 3 || got.PageCount != 2 {
			t.Fatalf("%+v", got)
		}
		for _, e := range got.List {
			if e.ParentIdentifier != sub || e.CommonName == "" || e.SerialNumber != strings.ToLower(e.SerialNumber) || e.BeforeTime == 0 {
				t.Fatalf("entry %+v", e)
			}
			wantKinds(t, "List[]", e, map[string]string{"Identifier": "string", "BeforeTime": "number", "KeySize": "number"})
			seen = append(seen, e.Identifier)
		}
		if tok = got.NextToken; tok == "" {
			break
		}
	}
	if want = keysetOrder(t, m, c, want); strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Fatalf("listed %v, want %v", seen, want)
	}
	wantCode(t, func() error {
		_, err := m.ListAllEndEntityInstance(ctx, c, ListAllEndEntityInstanceRequest{ParentID: 12})
		return err
	}(), "InvalidParameter")
	if (ListAllEndEntityInstanceRequest{}).Resources() != nil {
		t.Fatal("a listing names resources")
	}
}

// TestListPcaCaCertificate pages through the account's CAs with their
// issuer, region and owner.
func TestListPcaCaCertificate(t *testing.T) {
	ctx := context.Background()
	m, c := newManager(t)
	root, sub := hierarchy(t, m, c, "ECC_256")
	r2 := caRequest("Second Root", "ECC_256")
	second, err := m.CreateRootCACertificate(ctx, c, r2)
	if err != nil {
		t.Fatal(err)
	}
	p1, err := m.ListPcaCaCertificate(ctx, c, ListPcaCaCertificateRequest{MaxResults: 2})
	if err != nil || len(p1.List) != 2 || p1.TotalCount != 3 || p1.NextToken == "" {
		t.Fatalf("page 1: %+v %v", p1, err)
	}
	p2, err := m.ListPcaCaCertificate(ctx, c, ListPcaCaCertificateRequest{MaxResults: 2, NextToken: p1.NextToken})
	if err != nil || len(p2.List) != 1 || p2.NextToken != "" {
		t.Fatalf("page 2: %+v %v", p2, err)
	}
	got := append(p1.List, p2.List...)
	if got[0].CertIdentifier != root || got[1].CertIdentifier != sub || got[2].CertIdentifier != second.Identifier {
		t.Fatalf("order: %+v", got)
	}
	s := got[1]
	if s.IssuerIdentifier != root || got[0].IssuerIdentifier != "" || s.CommonName != "Test Issuing CA" || s.PrivateCaInstanceID != sub ||
		s.PrivateCaRegionID != "cn-hangzhou" || s.Status != "ISSUE" || s.UserID != c.AccountID {
		t.Fatalf("sub: %+v", s)
	}
	wantKinds(t, "ListPcaCaCertificate", p1, map[string]string{"List": "array", "TotalCount": "number", "NextToken": "string"})
	if got, err := m.ListPcaCaCertificate(ctx, otherCaller(t, m), ListPcaCaCertificateRequest{}); err != nil || len(got.List) != 0 {
		t.Fatalf("another account: %+v %v", got, err)
	}
	wantCode(t, func() error {
		_, err := m.ListPcaCaCertificate(ctx, c, ListPcaCaCertificateRequest{MaxResults: 2001})
		return err
	}(), "InvalidParameter")
	wantCode(t, func() error {
		_, err := m.ListPcaCaCertificate(ctx, c, ListPcaCaCertificateRequest{NextToken: base64.RawURLEncoding.EncodeToString([]byte("cert|1|1|x|"))})
		return err
	}(), "InvalidParameter.NextToken")
}
