package certmgr

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/certcustody/certcustody/certmgr/store"
)

// Tags, alias names and custom identifiers. Tags live in the tag store
// (certmgr/store/tags.go), one row per (account, resource type, resource,
// key), at most 20 per resource, whatever action set them: the Tags of a
// creating call, UpdatePcaCertificate, TagResources (Private CA) and
// TagResource (KMS). Setting a key that is present replaces its value;
// other keys are kept (the cloud's upsert).

// PCAResourceType is the ResourceType of Private CA resources in
// TagResources/UntagResources/ListTagResources: the value the cloud SDK's
// ListTagResources example names. It covers CAs and issued certificates
// alike, both named by their Identifier.
const PCAResourceType = "ALIYUN::CAS::PCACERTIFICATE"

const (
	maxTagResourceIDs = 50 // ResourceId.N per call
	maxAliasLen       = 64 // characters
)

var customIdentifierPattern = regexp.MustCompile(`^[\x21-\x7e]{1,64}$`)

// validateNames checks AliasName and CustomIdentifier.
func (l Labels) validateNames() error {
	if err := validateAlias(l.AliasName); err != nil {
		return err
	}
	if l.CustomIdentifier != "" && !customIdentifierPattern.MatchString(l.CustomIdentifier) {
		return InvalidParameter("CustomIdentifier", "1 to 64 printable ASCII characters, no spaces")
	}
	return nil
}

func validateAlias(a string) error {
	if !utf8.ValidString(a) || utf8.RuneCountInString(a) > maxAliasLen || strings.IndexFunc(a, unicode.IsControl) >= 0 {
		return InvalidParameter("AliasName", "at most %d characters, no control characters", maxAliasLen)
	}
	return nil
}

// customIdentifierTaken is the answer to a second use of a CustomIdentifier
// in one account.
func customIdentifierTaken(v string) *Error {
	return InvalidParameter("CustomIdentifier", "%q is already used by another certificate of this account", v)
}

// issueStoreError turns the store's answer to an issued-certificate insert
// into the caller's error; nil when it is not one of the expected conflicts.
func issueStoreError(err error, customIdentifier string) error {
	if errors.Is(err, store.ErrCustomIdentifierTaken) {
		return customIdentifierTaken(customIdentifier)
	}
	return nil
}

// checkTags validates a set of tags to set: 1..128-character keys, values
// of at most 128, no key twice, at most 20.
func checkTags(param string, tags []Tag) ([]store.Tag, error) {
	if len(tags) > store.MaxTagsPerResource {
		return nil, InvalidParameter(param, "at most %d tags", store.MaxTagsPerResource)
	}
	seen := map[string]bool{}
	out := make([]store.Tag, 0, len(tags))
	for _, t := range tags {
		if err := checkTagKey(param, t.TagKey); err != nil {
			return nil, err
		}
		if len(t.TagValue) > 128 || !utf8.ValidString(t.TagValue) {
			return nil, InvalidParameter(param, "a tag value is at most 128 characters")
		}
		if seen[t.TagKey] {
			return nil, InvalidParameter(param, "tag key %q given twice", t.TagKey)
		}
		seen[t.TagKey] = true
		out = append(out, store.Tag{Key: t.TagKey, Value: t.TagValue})
	}
	return out, nil
}

func checkTagKey(param, k string) error {
	if k == "" || len(k) > 128 || !utf8.ValidString(k) {
		return InvalidParameter(param, "a tag key is 1 to 128 characters")
	}
	return nil
}

// tagStoreError maps the tag writers' errors.
func tagStoreError(err error, id string) error {
	switch {
	case errors.Is(err, store.ErrTooManyTags):
		return RuleViolation("TagLimitExceeded", "The resource %q would carry more than %d tags.", id, store.MaxTagsPerResource)
	case errors.Is(err, store.ErrNotFound):
		return NotFound("NotFound.Certificate", "The certificate %q is not found.", id)
	}
	return Internal(err)
}

// Done is the result of a write whose response carries nothing but the
// RequestId.
type Done struct{}

// UpdatePcaCertificateRequest is UpdatePcaCertificate's input: what to
// change on a CA or an issued certificate. Nil fields are left alone;
// Tags are upserted.
type UpdatePcaCertificateRequest struct {
	Identifier      string
	AliasName       *string // "" clears it
	ResourceGroupID *string // ResourceGroupId
	Tags            []Tag   // Tags.N.Key/Value
}

// Resources is the CA or certificate changed.
func (r UpdatePcaCertificateRequest) Resources() []string { return []string{r.Identifier} }

// UpdatePcaCertificate sets the alias name, resource group and tags of
// one of the caller's CAs or issued certificates, all in one transaction.
func (m *Manager) UpdatePcaCertificate(ctx context.Context, c Caller, r UpdatePcaCertificateRequest) (*Done, error) {
	if r.Identifier == "" {
		return nil, MissingParameter("Identifier")
	}
	if err := checkIdentifier("Identifier", r.Identifier); err != nil {
		return nil, err
	}
	if r.AliasName == nil && r.ResourceGroupID == nil && len(r.Tags) == 0 {
		return nil, MissingParameter("AliasName")
	}
	if r.AliasName != nil {
		if err := validateAlias(*r.AliasName); err != nil {
			return nil, err
		}
	}
	if r.ResourceGroupID != nil && *r.ResourceGroupID != "" && !resourceGroupPattern.MatchString(*r.ResourceGroupID) {
		return nil, InvalidParameter("ResourceGroupId", "letters, digits, '-' and '_', at most 64")
	}
	tags, err := checkTags("Tags", r.Tags)
	if err != nil {
		return nil, err
	}
	err = m.db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.PCAKind(ctx, c.AccountID, r.Identifier); err != nil {
			return err
		}
		if r.AliasName != nil {
			if err := tx.SetPCAAlias(ctx, c.AccountID, r.Identifier, *r.AliasName); err != nil {
				return err
			}
		}
		if r.ResourceGroupID != nil {
			if err := tx.SetPCAResourceGroup(ctx, c.AccountID, r.Identifier, *r.ResourceGroupID); err != nil {
				return err
			}
		}
		if len(tags) > 0 {
			return tx.UpsertTags(ctx, c.AccountID, store.TagResourcePCA, r.Identifier, tags)
		}
		return nil
	})
	if err != nil {
		return nil, tagStoreError(err, r.Identifier)
	}
	return &Done{}, nil
}

// pcaResourceIDs checks a ResourceType and a ResourceId.N list.
func pcaResourceIDs(resourceType string, ids []string, required bool) ([]string, error) {
	if resourceType == "" {
		return nil, MissingParameter("ResourceType")
	}
	if !strings.EqualFold(resourceType, PCAResourceType) {
		return nil, RuleViolation("ResourceType", "The resource type %q is not one of this service's; Private CA certificates are %s.", resourceType, PCAResourceType)
	}
	if required && len(ids) == 0 {
		return nil, MissingParameter("ResourceId.1")
	}
	if len(ids) > maxTagResourceIDs {
		return nil, InvalidParameter("ResourceId", "at most %d resources", maxTagResourceIDs)
	}
	seen := map[string]bool{}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id == "" {
			return nil, InvalidParameter("ResourceId", "an empty resource ID")
		}
		if err := checkIdentifier("ResourceId", id); err != nil {
			return nil, err
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, nil
}

// TagResourcesRequest is Private CA TagResources' input.
type TagResourcesRequest struct {
	ResourceType string   // PCAResourceType
	ResourceIDs  []string // ResourceId.N, 1 to 50
	Tags         []Tag    // Tag.N.Key/Value, 1 to 20
}

// Resources is every resource tagged.
func (r TagResourcesRequest) Resources() []string { return r.ResourceIDs }

// TagResources upserts tags on up to 50 of the caller's CAs and issued
// certificates: all of them or, when one is missing or would carry more
// than 20 tags, none.
func (m *Manager) TagResources(ctx context.Context, c Caller, r TagResourcesRequest) (*Done, error) {
	ids, err := pcaResourceIDs(r.ResourceType, r.ResourceIDs, true)
	if err != nil {
		return nil, err
	}
	if len(r.Tags) == 0 {
		return nil, MissingParameter("Tag.1.Key")
	}
	tags, err := checkTags("Tag", r.Tags)
	if err != nil {
		return nil, err
	}
	return m.eachPCAResource(ctx, c, ids, func(tx *store.Tx, id string) error {
		return tx.UpsertTags(ctx, c.AccountID, store.TagResourcePCA, id, tags)
	})
}

// eachPCAResource applies change to each of the caller's CAs and issued
// certificates in one transaction: all of them, or (one missing or
// refused) none, the error naming the resource that failed.
func (m *Manager) eachPCAResource(ctx context.Context, c Caller, ids []string, change func(tx *store.Tx, id string) error) (*Done, error) {
	var failed string
	err := m.db.Tx(ctx, func(tx *store.Tx) error {
		for _, id := range ids {
			failed = id
			if _, err := tx.PCAKind(ctx, c.AccountID, id); err != nil {
				return err
			}
			if err := change(tx, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, tagStoreError(err, failed)
	}
	return &Done{}, nil
}

// UntagResourcesRequest is Private CA UntagResources' input.
type UntagResourcesRequest struct {
	ResourceType string   // PCAResourceType
	ResourceIDs  []string // ResourceId.N, 1 to 50
	TagKeys      []string // TagKey.N; or All
	All          bool     // remove every tag
}

// Resources is every resource untagged.
func (r UntagResourcesRequest) Resources() []string { return r.ResourceIDs }

// UntagResources removes the given tag keys (or, with All, every tag) from
// up to 50 of the caller's CAs and issued certificates, all or none. A key
// a resource does not carry is no error.
func (m *Manager) UntagResources(ctx context.Context, c Caller, r UntagResourcesRequest) (*Done, error) {
	ids, err := pcaResourceIDs(r.ResourceType, r.ResourceIDs, true)
	if err != nil {
		return nil, err
	}
	var keys []string
	switch {
	case r.All && len(r.TagKeys) > 0:
		return nil, InvalidParameter("All", "give TagKey.N or All=true, not both")
	case !r.All && len(r.TagKeys) == 0:
		return nil, MissingParameter("TagKey.1")
	case !r.All:
		if len(r.TagKeys) > store.MaxTagsPerResource {
			return nil, InvalidParameter("TagKey", "at most %d keys", store.MaxTagsPerResource)
		}
		for _, k := range r.TagKeys {
			if err := checkTagKey("TagKey", k); err != nil {
				return nil, err
			}
		}
		keys = r.TagKeys
	}
	return m.eachPCAResource(ctx, c, ids, func(tx *store.Tx, id string) error {
		return tx.DeleteTags(ctx, c.AccountID, store.TagResourcePCA, id, keys)
	})
}

// ListTagResourcesRequest is Private CA ListTagResources' input.
type ListTagResourcesRequest struct {
	ResourceType string   // PCAResourceType
	ResourceIDs  []string // ResourceId.N, at most 50; none: every resource of the account
	Tags         []Tag    // Tag.N.Key/Value: only resources carrying every one (an empty Value matches any value)
	MaxResults   int      // 1 to 100; default 20
	NextToken    string
}

// Resources is the resources named, or nil (an account-wide listing).
func (r ListTagResourcesRequest) Resources() []string {
	if len(r.ResourceIDs) == 0 {
		return nil
	}
	return r.ResourceIDs
}

// TagResource is one ListTagResources entry.
type TagResource struct {
	ResourceID   string `json:"ResourceId"`
	ResourceType string `json:"ResourceType"`
	TagKey       string `json:"TagKey"`
	TagValue     string `json:"TagValue"`
}

// TagResourceList is ListTagResources' Data.TagResources (the shape nests
// the list in an object of the same name).
type TagResourceList struct {
	TagResources []TagResource `json:"TagResources"`
}

// TagResourcesData is ListTagResources' Data object.
type TagResourcesData struct {
	MaxResults   int             `json:"MaxResults"`
	NextToken    string          `json:"NextToken,omitempty"`
	TagResources TagResourceList `json:"TagResources"`
}

// TagResourcesPage is ListTagResources' result.
type TagResourcesPage struct {
	Data TagResourcesData `json:"Data"`
}

// ListTagResources pages through the tags of the caller's CAs and issued
// certificates, one entry per (resource, tag), by resource then key.
// Resources named but missing simply have no entries.
func (m *Manager) ListTagResources(ctx context.Context, c Caller, r ListTagResourcesRequest) (*TagResourcesPage, error) {
	ids, err := pcaResourceIDs(r.ResourceType, r.ResourceIDs, false)
	if err != nil {
		return nil, err
	}
	if len(r.Tags) > store.MaxTagsPerResource {
		return nil, InvalidParameter("Tag", "at most %d tags", store.MaxTagsPerResource)
	}
	filters := make([]store.TagFilter, 0, len(r.Tags))
	for _, t := range r.Tags {
		if err := checkTagKey("Tag", t.TagKey); err != nil {
			return nil, err
		}
		f := store.TagFilter{Key: t.TagKey}
		if t.TagValue != "" {
			v := t.TagValue
			f.Value = &v
		}
		filters = append(filters, f)
	}
	size, err := pageSize(r.MaxResults, 0, 20, 100)
	if err != nil {
		return nil, err
	}
	tok, err := decodeToken(tokenListTagPCA, r.NextToken)
	if err != nil {
		return nil, err
	}
	q := store.TagQuery{AccountID: c.AccountID, Type: store.TagResourcePCA, ResourceIDs: ids, Filters: filters, Limit: size + 1}
	page := 1
	if tok != nil {
		q.AfterResource, q.AfterKey, page = tok.id, tok.key, tok.page+1
	}
	rows, err := m.db.ListTags(ctx, q)
	if err != nil {
		return nil, Internal(err)
	}
	out := &TagResourcesPage{Data: TagResourcesData{MaxResults: size, TagResources: TagResourceList{TagResources: []TagResource{}}}}
	if len(rows) > size {
		rows = rows[:size]
		last := rows[size-1]
		out.Data.NextToken = pageToken{list: tokenListTagPCA, page: page, id: last.ResourceID, key: last.Key}.encode()
	}
	for _, t := range rows {
		out.Data.TagResources.TagResources = append(out.Data.TagResources.TagResources,
			TagResource{ResourceID: t.ResourceID, ResourceType: PCAResourceType, TagKey: t.Key, TagValue: t.Value})
	}
	return out, nil
}

// PCATagList returns the tags of one of the caller's CAs or issued
// certificates as DescribeCACertificate and DescribeClientCertificate
// answer them ([{TagKey, TagValue}], never nil). It does not check that
// the resource exists: call it after reading the row.
func (m *Manager) PCATagList(ctx context.Context, c Caller, identifier string) ([]Tag, error) {
	tags, err := m.db.TagsOf(ctx, c.AccountID, store.TagResourcePCA, identifier)
	if err != nil {
		return nil, Internal(err)
	}
	out := make([]Tag, 0, len(tags))
	for _, t := range tags {
		out = append(out, Tag{TagKey: t.Key, TagValue: t.Value})
	}
	return out, nil
}

// KMSTagMap returns the tags of one of the caller's KMS certificates as
// KMS DescribeCertificate answers them (a JSON object key → value, never
// nil). Like PCATagList it does not check that the certificate exists.
func (m *Manager) KMSTagMap(ctx context.Context, c Caller, certificateID string) (map[string]string, error) {
	tags, err := m.db.TagsOf(ctx, c.AccountID, store.TagResourceKMS, certificateID)
	if err != nil {
		return nil, Internal(err)
	}
	out := make(map[string]string, len(tags))
	for _, t := range tags {
		out[t.Key] = t.Value
	}
	return out, nil
}

// KMSTagResourceRequest is KMS TagResource's input for a certificate.
type KMSTagResourceRequest struct {
	CertificateID string // CertificateId
	Tags          string // JSON [{"TagKey":"k","TagValue":"v"}], 1 to 20
}

// Resources is the certificate tagged.
func (r KMSTagResourceRequest) Resources() []string { return []string{r.CertificateID} }

// KMSUntagResourceRequest is KMS UntagResource's input for a certificate.
type KMSUntagResourceRequest struct {
	CertificateID string // CertificateId
	TagKeys       string // JSON ["k1","k2"], 1 to 20
}

// Resources is the certificate untagged.
func (r KMSUntagResourceRequest) Resources() []string { return []string{r.CertificateID} }

// maxTagJSON bounds the Tags/TagKeys JSON parameters: 20 tags of 128+128
// bytes, quoted and escaped, fit well within it.
const maxTagJSON = 32 << 10

// TagResource (KMS) upserts tags on one of the caller's KMS certificates.
func (m *Manager) TagResource(ctx context.Context, c Caller, r KMSTagResourceRequest) (*Done, error) {
	if r.Tags == "" {
		return nil, MissingParameter("Tags")
	}
	var in []Tag
	if len(r.Tags) > maxTagJSON || json.Unmarshal([]byte(r.Tags), &in) != nil {
		return nil, InvalidParameter("Tags", `a JSON array such as [{"TagKey":"k","TagValue":"v"}]`)
	}
	if len(in) == 0 {
		return nil, MissingParameter("Tags")
	}
	tags, err := checkTags("Tags", in)
	if err != nil {
		return nil, err
	}
	if _, err := m.getKMS(ctx, c, r.CertificateID); err != nil {
		return nil, err
	}
	err = m.db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.GetKMSCertificate(ctx, c.AccountID, r.CertificateID); err != nil {
			return err
		}
		return tx.UpsertTags(ctx, c.AccountID, store.TagResourceKMS, r.CertificateID, tags)
	})
	return m.kmsTagResult(err, r.CertificateID)
}

// UntagResource (KMS) removes tag keys from one of the caller's KMS
// certificates; a key it does not carry is no error.
func (m *Manager) UntagResource(ctx context.Context, c Caller, r KMSUntagResourceRequest) (*Done, error) {
	if r.TagKeys == "" {
		return nil, MissingParameter("TagKeys")
	}
	var keys []string
	if len(r.TagKeys) > maxTagJSON || json.Unmarshal([]byte(r.TagKeys), &keys) != nil {
		return nil, InvalidParameter("TagKeys", `a JSON array such as ["k1","k2"]`)
	}
	if len(keys) == 0 {
		return nil, MissingParameter("TagKeys")
	}
	if len(keys) > store.MaxTagsPerResource {
		return nil, InvalidParameter("TagKeys", "at most %d keys", store.MaxTagsPerResource)
	}
	for _, k := range keys {
		if err := checkTagKey("TagKeys", k); err != nil {
			return nil, err
		}
	}
	if _, err := m.getKMS(ctx, c, r.CertificateID); err != nil {
		return nil, err
	}
	err := m.db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.GetKMSCertificate(ctx, c.AccountID, r.CertificateID); err != nil {
			return err
		}
		return tx.DeleteTags(ctx, c.AccountID, store.TagResourceKMS, r.CertificateID, keys)
	})
	return m.kmsTagResult(err, r.CertificateID)
}

func (m *Manager) kmsTagResult(err error, id string) (*Done, error) {
	switch {
	case err == nil:
		return &Done{}, nil
	case errors.Is(err, store.ErrNotFound):
		return nil, kmsNotFound(id) // deleted between the check and the change
	case errors.Is(err, store.ErrTooManyTags):
		return nil, RuleViolation("TagLimitExceeded", "The certificate %q would carry more than %d tags.", id, store.MaxTagsPerResource)
	}
	return nil, Internal(err)
}

// KMSTag is one ListResourceTags entry.
type KMSTag struct {
	TagKey   string `json:"TagKey"`
	TagValue string `json:"TagValue"`
}

// KMSTagList is ListResourceTags' Tags object.
type KMSTagList struct {
	Tag []KMSTag `json:"Tag"`
}

// KMSResourceTags is ListResourceTags' result: {"Tags":{"Tag":[...]}}.
type KMSResourceTags struct {
	Tags KMSTagList `json:"Tags"`
}

// ListResourceTags (KMS) returns the tags of one of the caller's KMS
// certificates, by key.
func (m *Manager) ListResourceTags(ctx context.Context, c Caller, certificateID string) (*KMSResourceTags, error) {
	if _, err := m.getKMS(ctx, c, certificateID); err != nil {
		return nil, err
	}
	tags, err := m.db.TagsOf(ctx, c.AccountID, store.TagResourceKMS, certificateID)
	if err != nil {
		return nil, Internal(err)
	}
	out := &KMSResourceTags{Tags: KMSTagList{Tag: []KMSTag{}}}
	for _, t := range tags {
		out.Tags.Tag = append(out.Tags.Tag, KMSTag{TagKey: t.Key, TagValue: t.Value})
	}
	return out, nil
}
