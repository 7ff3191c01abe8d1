package certmgr

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
)

func tagsString(tags []Tag) string {
	var b []string
	for _, t := range tags {
		b = append(b, t.TagKey+"="+t.TagValue)
	}
	return strings.Join(b, ",")
}

// TestUpdatePcaCertificate sets an issued certificate's and a CA's alias
// name, resource group and tags (upserted: given keys replaced, others
// kept), visible in ListCert, the tag helper and the describing actions'
// Tags; a change that would exceed 20 tags changes nothing.
func TestUpdatePcaCertificate(t *testing.T) {
	ctx := context.Background()
	m, c := newManager(t)
	_, sub := hierarchy(t, m, c, "ECC_256")
	id := issueGenerated(t, m, c, sub, "a.example.com", Labels{Tags: []Tag{{TagKey: "env", TagValue: "dev"}, {TagKey: "team", TagValue: "pki"}}})

	alias := "web front"
	if _, err := m.UpdatePcaCertificate(ctx, c, UpdatePcaCertificateRequest{Identifier: id, AliasName: &alias,
		Tags: []Tag{{TagKey: "env", TagValue: "prod"}, {TagKey: "owner", TagValue: "ops"}}}); err != nil {
		t.Fatal(err)
	}
	tags, err := m.PCATagList(ctx, c, id)
	if err != nil || tagsString(tags) != "env=prod,owner=ops,team=pki" {
		t.Fatalf("tags %v %v", tags, err)
	}
	d, err := m.DescribeClientCertificate(ctx, c, id)
	if err != nil || tagsString(d.Tags) != "env=prod,owner=ops,team=pki" {
		t.Fatalf("DescribeClientCertificate Tags (mirror) %+v %v", d.Tags, err)
	}
	list, err := m.ListCert(ctx, c, ListCertRequest{})
	if err != nil || list.List[0].AliasName != alias || strings.Join(list.List[0].Tags, ",") != "env:prod,owner:ops,team:pki" {
		t.Fatalf("ListCert %+v %v", list.List, err)
	}

	group := "rg-ops"
	if _, err := m.UpdatePcaCertificate(ctx, c, UpdatePcaCertificateRequest{Identifier: sub, AliasName: &alias, ResourceGroupID: &group}); err != nil {
		t.Fatal(err)
	}
	ca, err := m.sqlStore().GetCACertificate(ctx, c.AccountID, sub)
	if err != nil || ca.AliasName != alias || ca.ResourceGroupID != group {
		t.Fatalf("CA row %+v %v", ca, err)
	}

	// 21 tags: refused, and nothing of the request is applied.
	var many []Tag
	for i := range 18 {
		many = append(many, Tag{TagKey: fmt.Sprint("k", i), TagValue: "v"})
	}
	other := "other alias"
	_, err = m.UpdatePcaCertificate(ctx, c, UpdatePcaCertificateRequest{Identifier: id, AliasName: &other, Tags: many})
	wantCode(t, err, "InvalidParameter.TagLimitExceeded")
	tags, _ = m.PCATagList(ctx, c, id)
	row, _ := m.sqlStore().GetIssuedCertificate(ctx, c.AccountID, id)
	if len(tags) != 3 || row.AliasName != alias {
		t.Fatalf("a refused update changed something: %v %q", tags, row.AliasName)
	}

	for _, tc := range []struct {
		r    UpdatePcaCertificateRequest
		code string
	}{
		{UpdatePcaCertificateRequest{AliasName: &alias}, "MissingParameter"},
		{UpdatePcaCertificateRequest{Identifier: id}, "MissingParameter"},
		{UpdatePcaCertificateRequest{Identifier: id, AliasName: ptr(strings.Repeat("a", 65))}, "InvalidParameter"},
		{UpdatePcaCertificateRequest{Identifier: id, AliasName: ptr("a\x00b")}, "InvalidParameter"},
		{UpdatePcaCertificateRequest{Identifier: id, ResourceGroupID: ptr("bad group!")}, "InvalidParameter"},
		{UpdatePcaCertificateRequest{Identifier: id, Tags: []Tag{{TagKey: "", TagValue: "v"}}}, "InvalidParameter"},
		{UpdatePcaCertificateRequest{Identifier: id, Tags: []Tag{{TagKey: "a", TagValue: "1"}, {TagKey: "a", TagValue: "2"}}}, "InvalidParameter"},
		{UpdatePcaCertificateRequest{Identifier: "no-such-id", AliasName: &alias}, "NotFound.Certificate"},
	} {
		_, err := m.UpdatePcaCertificate(ctx, c, tc.r)
		wantCode(t, err, tc.code)
	}
	_, err = m.UpdatePcaCertificate(ctx, otherCaller(t, m), UpdatePcaCertificateRequest{Identifier: id, AliasName: &other})
	wantCode(t, err, "NotFound.Certificate")
	if r := (UpdatePcaCertificateRequest{Identifier: id}).Resources(); len(r) != 1 || r[0] != id {
		t.Fatalf("Resources %v", r)
	}
}

func ptr[T any](v T) *T { return &v }

// TestPCATagActions: TagResources on a CA and a certificate at once,
// atomic across resources; ListTagResources by resource, by tag filter,
// and paged; UntagResources by key and All; Tags given at creation are in
// the same store; unknown resource types are refused.
func TestPCATagActions(t *testing.T) {
	ctx := context.Background()
	m, c := newManager(t)
	root, sub := hierarchy(t, m, c, "ECC_256")
	id := issueGenerated(t, m, c, sub, "a.example.com", Labels{Tags: []Tag{{TagKey: "created", TagValue: "yes"}}})

	_, err := m.TagResources(ctx, c, TagResourcesRequest{ResourceType: "aliyun::cas::pcacertificate", ResourceIDs: []string{sub, id},
		Tags: []Tag{{TagKey: "env", TagValue: "prod"}}})
	if err != nil {
		t.Fatal(err)
	}
	// One missing resource: nothing is tagged.
	_, err = m.TagResources(ctx, c, TagResourcesRequest{ResourceType: PCAResourceType, ResourceIDs: []string{root, "missing"},
		Tags: []Tag{{TagKey: "env", TagValue: "prod"}}})
	wantCode(t, err, "NotFound.Certificate")
	if tags, _ := m.PCATagList(ctx, c, root); len(tags) != 0 {
		t.Fatalf("a refused TagResources tagged the root: %v", tags)
	}
	// Another account's resource is missing too.
	other := otherCaller(t, m)
	_, err = m.TagResources(ctx, other, TagResourcesRequest{ResourceType: PCAResourceType, ResourceIDs: []string{sub}, Tags: []Tag{{TagKey: "x", TagValue: "y"}}})
	wantCode(t, err, "NotFound.Certificate")

	list := func(cl Caller, r ListTagResourcesRequest) []string {
		t.Helper()
		r.ResourceType = PCAResourceType
		got, err := m.ListTagResources(ctx, cl, r)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range got.Data.TagResources.TagResources {
			if e.ResourceType != PCAResourceType {
				t.Fatalf("entry %+v", e)
			}
			out = append(out, e.ResourceID+":"+e.TagKey+"="+e.TagValue)
		}
		return out
	}
	byID := func(rid string) string { return map[string]string{sub: "sub", id: "cert", root: "root"}[rid] }
	names := func(entries []string) string {
		var out []string
		for _, e := range entries {
			rid, rest, _ := strings.Cut(e, ":")
			out = append(out, byID(rid)+":"+rest)
		}
		sort.Strings(out) // entries come by resource ID (random UUIDs), then key
		return strings.Join(out, ",")
	}
	if got := names(list(c, ListTagResourcesRequest{ResourceIDs: []string{id}})); got != "cert:created=yes,cert:env=prod" {
		t.Fatalf("by resource: %s", got)
	}
	if got := names(list(c, ListTagResourcesRequest{Tags: []Tag{{TagKey: "created"}}})); got != "cert:created=yes,cert:env=prod" {
		t.Fatalf("by tag key: %s", got)
	}
	if got := list(c, ListTagResourcesRequest{Tags: []Tag{{TagKey: "env", TagValue: "dev"}}}); len(got) != 0 {
		t.Fatalf("by tag value that no resource has: %v", got)
	}
	if got := list(c, ListTagResourcesRequest{Tags: []Tag{{TagKey: "env", TagValue: "prod"}}}); len(got) != 3 {
		t.Fatalf("by tag value: %v", got)
	}
	if got := list(other, ListTagResourcesRequest{}); len(got) != 0 {
		t.Fatalf("another account sees %v", got)
	}
	// Paged one entry at a time: the same entries, in the same order.
	all := list(c, ListTagResourcesRequest{})
	var paged []string
	tok := ""
	for {
		got, err := m.ListTagResources(ctx, c, ListTagResourcesRequest{ResourceType: PCAResourceType, MaxResults: 1, NextToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range got.Data.TagResources.TagResources {
			paged = append(paged, e.ResourceID+":"+e.TagKey+"="+e.TagValue)
		}
		if tok = got.Data.NextToken; tok == "" {
			break
		}
	}
	if len(all) != 3 || strings.Join(paged, ",") != strings.Join(all, ",") {
		t.Fatalf("paged %v, all %v", paged, all)
	}
	wantKinds(t, "ListTagResources", &TagResourcesPage{}, map[string]string{"Data": "object"})
	wantKinds(t, "Data", TagResourcesData{}, map[string]string{"TagResources": "object", "MaxResults": "number"})
	wantKinds(t, "Data.TagResources", TagResourceList{TagResources: []TagResource{}}, map[string]string{"TagResources": "array"})

	if _, err := m.UntagResources(ctx, c, UntagResourcesRequest{ResourceType: PCAResourceType, ResourceIDs: []string{id}, TagKeys: []string{"env", "absent"}}); err != nil {
		t.Fatal(err)
	}
	if got := names(list(c, ListTagResourcesRequest{ResourceIDs: []string{id, sub}})); got != "cert:created=yes,sub:env=prod" {
		t.Fatalf("after untag: %s", got)
	}
	if _, err := m.UntagResources(ctx, c, UntagResourcesRequest{ResourceType: PCAResourceType, ResourceIDs: []string{id, sub}, All: true}); err != nil {
		t.Fatal(err)
	}
	if got := list(c, ListTagResourcesRequest{}); len(got) != 0 {
		t.Fatalf("after untag all: %v", got)
	}
	if d, err := m.DescribeCACertificate(ctx, c, sub); err != nil || len(d.Tags) != 0 {
		t.Fatalf("DescribeCACertificate Tags (mirror) after untag all: %+v %v", d, err)
	}

	var ids51 []string
	for i := range 51 {
		ids51 = append(ids51, fmt.Sprint("id-", i))
	}
	for _, tc := range []struct {
		name string
		err  error
		code string
	}{
		{"unknown type", func() error {
			_, err := m.TagResources(ctx, c, TagResourcesRequest{ResourceType: "ALIYUN::ECS::INSTANCE", ResourceIDs: []string{id}, Tags: []Tag{{TagKey: "a"}}})
			return err
		}(), "InvalidParameter.ResourceType"},
		{"list unknown type", func() error {
			_, err := m.ListTagResources(ctx, c, ListTagResourcesRequest{ResourceType: "kms"})
			return err
		}(), "InvalidParameter.ResourceType"},
		{"no type", func() error { _, err := m.ListTagResources(ctx, c, ListTagResourcesRequest{}); return err }(), "MissingParameter"},
		{"no resources", func() error {
			_, err := m.TagResources(ctx, c, TagResourcesRequest{ResourceType: PCAResourceType, Tags: []Tag{{TagKey: "a"}}})
			return err
		}(), "MissingParameter"},
		{"no tags", func() error {
			_, err := m.TagResources(ctx, c, TagResourcesRequest{ResourceType: PCAResourceType, ResourceIDs: []string{id}})
			return err
		}(), "MissingParameter"},
		{"51 resources", func() error {
			_, err := m.TagResources(ctx, c, TagResourcesRequest{ResourceType: PCAResourceType, ResourceIDs: ids51, Tags: []Tag{{TagKey: "a"}}})
			return err
		}(), "InvalidParameter"},
		{"long key", func() error {
			_, err := m.TagResources(ctx, c, TagResourcesRequest{ResourceType: PCAResourceType, ResourceIDs: []string{id}, Tags: []Tag{{TagKey: strings.Repeat("k", 129)}}})
			return err
		}(), "InvalidParameter"},
		{"untag both", func() error {
			_, err := m.UntagResources(ctx, c, UntagResourcesRequest{ResourceType: PCAResourceType, ResourceIDs: []string{id}, All: true, TagKeys: []string{"a"}})
			return err
		}(), "InvalidParameter"},
		{"untag neither", func() error {
			_, err := m.UntagResources(ctx, c, UntagResourcesRequest{ResourceType: PCAResourceType, ResourceIDs: []string{id}})
			return err
		}(), "MissingParameter"},
		{"untag missing", func() error {
			_, err := m.UntagResources(ctx, c, UntagResourcesRequest{ResourceType: PCAResourceType, ResourceIDs: []string{"missing"}, All: true})
			return err
		}(), "NotFound.Certificate"},
		{"forged token", func() error {
			_, err := m.ListTagResources(ctx, c, ListTagResourcesRequest{ResourceType: PCAResourceType, NextToken: "Y2VydHwxfDF8eHw"})
			return err
		}(), "InvalidParameter.NextToken"},
	} {
		if tc.err == nil || AsError(tc.err).Code != tc.code {
			t.Errorf("%s: %v, want %s", tc.name, tc.err, tc.code)
		}
	}
	if r := (TagResourcesRequest{ResourceIDs: []string{sub, id}}).Resources(); len(r) != 2 {
		t.Fatalf("Resources %v", r)
	}
	if (ListTagResourcesRequest{}).Resources() != nil {
		t.Fatal("an account-wide tag listing names resources")
	}
}

// TestDeletedCertificateLosesItsTags: a deleted certificate is gone for
// its owner, tags included.
func TestDeletedCertificateLosesItsTags(t *testing.T) {
	ctx := context.Background()
	m, c := newManager(t)
	_, sub := hierarchy(t, m, c, "ECC_256")
	id := issueGenerated(t, m, c, sub, "a.example.com", Labels{Tags: []Tag{{TagKey: "env", TagValue: "dev"}}})
	if err := m.CreateRevokeClientCertificate(ctx, c, id, ""); err != nil {
		t.Fatal(err)
	}
	if err := m.DeleteClientCertificate(ctx, c, id); err != nil {
		t.Fatal(err)
	}
	got, err := m.ListTagResources(ctx, c, ListTagResourcesRequest{ResourceType: PCAResourceType})
	if err != nil || len(got.Data.TagResources.TagResources) != 0 {
		t.Fatalf("%+v %v", got, err)
	}
	_, err = m.TagResources(ctx, c, TagResourcesRequest{ResourceType: PCAResourceType, ResourceIDs: []string{id}, Tags: []Tag{{TagKey: "a"}}})
	wantCode(t, err, "NotFound.Certificate")
}

// TestKMSTagActions: TagResource/UntagResource/ListResourceTags on a KMS
// certificate with the JSON-string parameters the KMS SDK sends, the map
// helper for DescribeCertificate, and the tags' removal with the
// certificate.
func TestKMSTagActions(t *testing.T) {
	ctx := context.Background()
	m, c := newManager(t)
	kc, err := m.CreateCertificate(ctx, c, CreateCertificateRequest{KeySpec: "EC_P256", Subject: "CN=kms.example.com,O=Acme,OU=PKI,C=CN"})
	if err != nil {
		t.Fatal(err)
	}
	id := kc.CertificateID
	if _, err := m.TagResource(ctx, c, KMSTagResourceRequest{CertificateID: id, Tags: `[{"TagKey":"env","TagValue":"dev"},{"TagKey":"team","TagValue":"pki"}]`}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.TagResource(ctx, c, KMSTagResourceRequest{CertificateID: id, Tags: `[{"TagKey":"env","TagValue":"prod"}]`}); err != nil {
		t.Fatal(err)
	}
	got, err := m.ListResourceTags(ctx, c, id)
	if err != nil || len(got.Tags.Tag) != 2 || got.Tags.Tag[0] != (KMSTag{"env", "prod"}) || got.Tags.Tag[1] != (KMSTag{"team", "pki"}) {
		t.Fatalf("%+v %v", got, err)
	}
	wantKinds(t, "ListResourceTags", got, map[string]string{"Tags": "object"})
	wantKinds(t, "ListResourceTags.Tags", got.Tags, map[string]string{"Tag": "array"})
	mp, err := m.KMSTagMap(ctx, c, id)
	if err != nil || len(mp) != 2 || mp["env"] != "prod" {
		t.Fatalf("map %v %v", mp, err)
	}
	if _, err := m.UntagResource(ctx, c, KMSUntagResourceRequest{CertificateID: id, TagKeys: `["team","absent"]`}); err != nil {
		t.Fatal(err)
	}
	if mp, _ := m.KMSTagMap(ctx, c, id); len(mp) != 1 || mp["env"] != "prod" {
		t.Fatalf("after untag %v", mp)
	}
	// Private CA tag actions do not see KMS certificates, nor the reverse.
	_, err = m.TagResources(ctx, c, TagResourcesRequest{ResourceType: PCAResourceType, ResourceIDs: []string{id}, Tags: []Tag{{TagKey: "a"}}})
	wantCode(t, err, "NotFound.Certificate")

	other := otherCaller(t, m)
	for _, tc := range []struct {
		name string
		err  error
		code string
	}{
		{"other account tag", func() error {
			_, err := m.TagResource(ctx, other, KMSTagResourceRequest{CertificateID: id, Tags: `[{"TagKey":"a","TagValue":"b"}]`})
			return err
		}(), "Forbidden.ResourceNotFound"},
		{"other account list", func() error { _, err := m.ListResourceTags(ctx, other, id); return err }(), "Forbidden.ResourceNotFound"},
		{"no tags", func() error { _, err := m.TagResource(ctx, c, KMSTagResourceRequest{CertificateID: id}); return err }(), "MissingParameter"},
		{"empty array", func() error {
			_, err := m.TagResource(ctx, c, KMSTagResourceRequest{CertificateID: id, Tags: `[]`})
			return err
		}(), "MissingParameter"},
		{"not JSON", func() error {
			_, err := m.TagResource(ctx, c, KMSTagResourceRequest{CertificateID: id, Tags: `env=dev`})
			return err
		}(), "InvalidParameter"},
		{"object", func() error {
			_, err := m.TagResource(ctx, c, KMSTagResourceRequest{CertificateID: id, Tags: `{"TagKey":"a"}`})
			return err
		}(), "InvalidParameter"},
		{"empty key", func() error {
			_, err := m.TagResource(ctx, c, KMSTagResourceRequest{CertificateID: id, Tags: `[{"TagKey":"","TagValue":"b"}]`})
			return err
		}(), "InvalidParameter"},
		{"untag not JSON", func() error {
			_, err := m.UntagResource(ctx, c, KMSUntagResourceRequest{CertificateID: id, TagKeys: `env`})
			return err
		}(), "InvalidParameter"},
		{"no certificate", func() error {
			_, err := m.TagResource(ctx, c, KMSTagResourceRequest{Tags: `[{"TagKey":"a","TagValue":"b"}]`})
			return err
		}(), "MissingParameter"},
	} {
		if tc.err == nil || AsError(tc.err).Code != tc.code {
			t.Errorf("%s: %v, want %s", tc.name, tc.err, tc.code)
		}
	}
	var many []string
	for i := range 20 {
		many = append(many, fmt.Sprintf(`{"TagKey":"k%d","TagValue":"v"}`, i))
	}
	_, err = m.TagResource(ctx, c, KMSTagResourceRequest{CertificateID: id, Tags: "[" + strings.Join(many, ",") + "]"})
	wantCode(t, err, "InvalidParameter.TagLimitExceeded") // 20 new keys + env = 21
	if mp, _ := m.KMSTagMap(ctx, c, id); len(mp) != 1 {
		t.Fatalf("a refused TagResource changed tags: %v", mp)
	}

	if err := m.DeleteCertificate(ctx, c, id); err != nil {
		t.Fatal(err)
	}
	if mp, err := m.sqlStore().TagsOf(ctx, c.AccountID, "kms", id); err != nil || len(mp) != 0 {
		t.Fatalf("tags outlive their certificate: %v %v", mp, err)
	}
	if r := (KMSTagResourceRequest{CertificateID: id}).Resources(); len(r) != 1 || r[0] != id {
		t.Fatalf("Resources %v", r)
	}
}

// TestCustomIdentifier: stored with the certificate, returned by the
// listings, unique per account (a second use is refused and writes
// nothing), free to reuse in another account.
func TestCustomIdentifier(t *testing.T) {
	ctx := context.Background()
	m, c := newManager(t)
	_, sub := hierarchy(t, m, c, "ECC_256")
	id := issueGenerated(t, m, c, sub, "a.example.com", Labels{CustomIdentifier: "device-0001", AliasName: "front"})
	row, err := m.sqlStore().GetIssuedCertificate(ctx, c.AccountID, id)
	if err != nil || row.CustomIdentifier != "device-0001" || row.AliasName != "front" {
		t.Fatalf("row %+v %v", row, err)
	}
	_, before, _ := m.sqlStore().CountIssued(ctx)
	_, err = m.CreateServerCertificate(ctx, c, GenerateRequest{IssueRequest: IssueRequest{ParentIdentifier: sub, Years: 1,
		Labels: Labels{CustomIdentifier: "device-0001"}}, Algorithm: "ECC_256", CommonName: "b.example.com"})
	wantCode(t, err, "InvalidParameter")
	if !strings.Contains(AsError(err).Message, "CustomIdentifier") {
		t.Fatalf("message %q does not name CustomIdentifier", AsError(err).Message)
	}
	_, err = m.CreateClientCertificateWithCsr(ctx, c, IssueRequest{ParentIdentifier: sub, Years: 1, Csr: csrPEM(t, "CN=c,O=Acme"),
		Labels: Labels{CustomIdentifier: "device-0001"}})
	wantCode(t, err, "InvalidParameter")
	if _, after, _ := m.sqlStore().CountIssued(ctx); after != before {
		t.Fatalf("a refused issuance wrote a row: %d → %d", before, after)
	}
	for _, bad := range []string{"has space", strings.Repeat("x", 65), "tab\t"} {
		_, err := m.CreateServerCertificate(ctx, c, GenerateRequest{IssueRequest: IssueRequest{ParentIdentifier: sub, Years: 1,
			Labels: Labels{CustomIdentifier: bad}}, Algorithm: "ECC_256", CommonName: "b.example.com"})
		wantCode(t, err, "InvalidParameter")
	}
	list, err := m.ListCert(ctx, c, ListCertRequest{})
	if err != nil || len(list.List) != 1 || list.List[0].CustomIdentifier != "device-0001" || list.List[0].AliasName != "front" {
		t.Fatalf("ListCert %+v %v", list, err)
	}
	// CreateCertificateWithExtension's AliasName is kept too.
	res, err := m.CreateCertificateWithExtension(ctx, c, ExtensionRequest{ParentIdentifier: sub, CertType: "CLIENT", CommonName: "ext",
		AliasName: "ext alias", BeforeTime: m.now().Unix(), AfterTime: m.now().AddDate(0, 1, 0).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	if row, err := m.sqlStore().GetIssuedCertificate(ctx, c.AccountID, res.Identifier); err != nil || row.AliasName != "ext alias" {
		t.Fatalf("extension alias: %+v %v", row, err)
	}

	other := otherCaller(t, m)
	_, osub := hierarchy(t, m, other, "ECC_256")
	issueGenerated(t, m, other, osub, "a.example.com", Labels{CustomIdentifier: "device-0001"})
}
