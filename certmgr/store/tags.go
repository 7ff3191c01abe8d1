package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// The tag store: one table for the tags of every taggable resource, keyed
// by (account, resource type, resource id, key). It is the source of truth
// for tags. The tags JSON columns of ca_certificates and
// issued_certificates (written at creation since migration 6) are kept as
// a mirror in the same transaction as every tag change, so code that still
// reads them sees current tags; new code reads TagsOf.

// Resource types of the tag store.
const (
	// TagResourcePCA is a Private CA certificate, a CA or an issued
	// certificate, named by its Identifier (a UUID: the two kinds never
	// share one).
	TagResourcePCA = "pca"
	// TagResourceKMS is a KMS certificate, named by its CertificateId.
	TagResourceKMS = "kms"
)

// MaxTagsPerResource is how many tags one resource may carry.
const MaxTagsPerResource = 20

// ErrTooManyTags: a change would leave a resource with more than
// MaxTagsPerResource tags. The transaction must be rolled back.
var ErrTooManyTags = errors.New("store: too many tags on one resource")

// Tag is one key/value pair on a resource.
type Tag struct {
	Key, Value string
}

// ResourceTag is one tag of one resource, as a tag listing returns it.
type ResourceTag struct {
	ResourceID string
	Key, Value string
}

// UpsertTags sets each given key to its value on a resource (keys not
// given are left alone) and fails with ErrTooManyTags when the resource
// would carry more than MaxTagsPerResource tags.
func (q writers) UpsertTags(ctx context.Context, accountID, rtype, rid string, tags []Tag) error {
	for _, t := range tags {
		if _, err := q.x.ExecContext(ctx, `INSERT INTO resource_tags (account_id, resource_type, resource_id, tag_key, tag_value) VALUES (?,?,?,?,?)
			ON CONFLICT (account_id, resource_type, resource_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value`,
			accountID, rtype, rid, t.Key, t.Value); err != nil {
			return fmt.Errorf("store: set tag: %w", mapErr(err))
		}
	}
	var n int
	if err := q.x.QueryRowContext(ctx, `SELECT COUNT(*) FROM resource_tags WHERE account_id = ? AND resource_type = ? AND resource_id = ?`,
		accountID, rtype, rid).Scan(&n); err != nil {
		return fmt.Errorf("store: count tags: %w", err)
	}
	if n > MaxTagsPerResource {
		return fmt.Errorf("%w: %s would carry %d tags (at most %d)", ErrTooManyTags, rid, n, MaxTagsPerResource)
	}
	return q.mirrorTags(ctx, accountID, rtype, rid)
}

// DeleteTags removes the given keys from a resource (nil keys: every tag);
// keys it does not carry are ignored.
func (q writers) DeleteTags(ctx context.Context, accountID, rtype, rid string, keys []string) error {
	var err error
	if keys == nil {
		_, err = q.x.ExecContext(ctx, `DELETE FROM resource_tags WHERE account_id = ? AND resource_type = ? AND resource_id = ?`, accountID, rtype, rid)
	} else {
		for _, k := range keys {
			if _, err = q.x.ExecContext(ctx, `DELETE FROM resource_tags WHERE account_id = ? AND resource_type = ? AND resource_id = ? AND tag_key = ?`,
				accountID, rtype, rid, k); err != nil {
				break
			}
		}
	}
	if err != nil {
		return fmt.Errorf("store: delete tags: %w", mapErr(err))
	}
	return q.mirrorTags(ctx, accountID, rtype, rid)
}

// mirrorTags rewrites the legacy tags column of a Private CA row from the
// tag store (see the file comment). KMS rows have no such column.
func (q writers) mirrorTags(ctx context.Context, accountID, rtype, rid string) error {
	if rtype != TagResourcePCA {
		return nil
	}
	tags, err := queries{e: q.x}.TagsOf(ctx, accountID, rtype, rid)
	if err != nil {
		return err
	}
	type legacy struct {
		TagKey   string `json:"TagKey"`
		TagValue string `json:"TagValue"`
	}
	out := make([]legacy, 0, len(tags))
	for _, t := range tags {
		out = append(out, legacy{t.Key, t.Value})
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	for _, table := range []string{"ca_certificates", "issued_certificates"} {
		if _, err := q.x.ExecContext(ctx, `UPDATE `+table+` SET tags = ? WHERE account_id = ? AND identifier = ?`, string(b), accountID, rid); err != nil {
			return fmt.Errorf("store: mirror tags: %w", err)
		}
	}
	return nil
}

// insertTagsJSON copies the tags a creating call stored as JSON
// ([{"TagKey","TagValue"}], already validated by certmgr) into the tag
// store, in the insert's transaction.
func (q writers) insertTagsJSON(ctx context.Context, accountID, rtype, rid, tagsJSON string) error {
	if tagsJSON == "" || tagsJSON == "[]" {
		return nil
	}
	var in []struct{ TagKey, TagValue string }
	if err := json.Unmarshal([]byte(tagsJSON), &in); err != nil {
		return fmt.Errorf("store: tags of %s: %w", rid, err)
	}
	tags := make([]Tag, 0, len(in))
	for _, t := range in {
		tags = append(tags, Tag{t.TagKey, t.TagValue})
	}
	return q.UpsertTags(ctx, accountID, rtype, rid, tags)
}

// TagsOf returns a resource's tags by key.
func (q queries) TagsOf(ctx context.Context, accountID, rtype, rid string) ([]Tag, error) {
	rows, err := q.e.QueryContext(ctx, `SELECT tag_key, tag_value FROM resource_tags WHERE account_id = ? AND resource_type = ? AND resource_id = ?
		ORDER BY tag_key`, accountID, rtype, rid)
	if err != nil {
		return nil, fmt.Errorf("store: tags: %w", err)
	}
	defer rows.Close()
	out := []Tag{}
	for rows.Next() {
		var t Tag
		if err := rows.Scan(&t.Key, &t.Value); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// TagsOfMany returns the tags of up to a page of resources at once.
func (q queries) TagsOfMany(ctx context.Context, accountID, rtype string, ids []string) (map[string][]Tag, error) {
	out := map[string][]Tag{}
	if len(ids) == 0 {
		return out, nil
	}
	args := []any{accountID, rtype}
	for _, id := range ids {
		args = append(args, id)
	}
	rows, err := q.e.QueryContext(ctx, `SELECT resource_id, tag_key, tag_value FROM resource_tags WHERE account_id = ? AND resource_type = ?
		AND resource_id IN (`+placeholders(len(ids))+`) ORDER BY resource_id, tag_key`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: tags: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var t Tag
		if err := rows.Scan(&id, &t.Key, &t.Value); err != nil {
			return nil, err
		}
		out[id] = append(out[id], t)
	}
	return out, rows.Err()
}

// TagFilter selects resources that carry Key, with Value when Value is
// not nil.
type TagFilter struct {
	Key   string
	Value *string
}

// TagQuery is a page of a tag listing: the account's tags of one resource
// type, of the given resources only when ResourceIDs is not empty, of
// resources carrying every filter tag, after the key (AfterResource,
// AfterKey) in (resource, key) order.
type TagQuery struct {
	AccountID     string
	Type          string
	ResourceIDs   []string
	Filters       []TagFilter
	AfterResource string
	AfterKey      string
	Limit         int
}

// ListTags returns one keyset page of tags. Each filter is an indexed
// lookup on the same resource; the walk is the primary key's order.
func (q queries) ListTags(ctx context.Context, tq TagQuery) ([]ResourceTag, error) {
	var b strings.Builder
	args := []any{tq.AccountID, tq.Type}
	b.WriteString(`SELECT t.resource_id, t.tag_key, t.tag_value FROM resource_tags t WHERE t.account_id = ? AND t.resource_type = ?`)
	if len(tq.ResourceIDs) > 0 {
		b.WriteString(` AND t.resource_id IN (` + placeholders(len(tq.ResourceIDs)) + `)`)
		for _, id := range tq.ResourceIDs {
			args = append(args, id)
		}
	}
	for _, f := range tq.Filters {
		b.WriteString(` AND EXISTS (SELECT 1 FROM resource_tags f WHERE f.account_id = t.account_id AND f.resource_type = t.resource_type
			AND f.resource_id = t.resource_id AND f.tag_key = ?`)
		args = append(args, f.Key)
		if f.Value != nil {
			b.WriteString(` AND f.tag_value = ?`)
			args = append(args, *f.Value)
		}
		b.WriteString(`)`)
	}
	if tq.AfterResource != "" {
		b.WriteString(` AND (t.resource_id, t.tag_key) > (?, ?)`)
		args = append(args, tq.AfterResource, tq.AfterKey)
	}
	b.WriteString(` ORDER BY t.resource_id, t.tag_key LIMIT ?`)
	args = append(args, tq.Limit)
	rows, err := q.e.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("store: list tags: %w", err)
	}
	defer rows.Close()
	var out []ResourceTag
	for rows.Next() {
		var t ResourceTag
		if err := rows.Scan(&t.ResourceID, &t.Key, &t.Value); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// PCAKind says whether an account's Private CA identifier names a CA
// ("ca") or a live issued certificate ("cert"); ErrNotFound otherwise.
func (q queries) PCAKind(ctx context.Context, accountID, id string) (string, error) {
	var kind string
	err := q.e.QueryRowContext(ctx, `SELECT 'ca' FROM ca_certificates WHERE account_id = ? AND identifier = ?
		UNION ALL SELECT 'cert' FROM issued_certificates WHERE account_id = ? AND identifier = ? AND deleted = 0 LIMIT 1`,
		accountID, id, accountID, id).Scan(&kind)
	if err != nil {
		return "", mapErr(err)
	}
	return kind, nil
}

// SetPCAAlias sets the AliasName of an account's CA or live issued
// certificate; ErrNotFound when it has neither.
func (q writers) SetPCAAlias(ctx context.Context, accountID, id, alias string) error {
	return q.setPCAColumn(ctx, "alias_name", accountID, id, alias)
}

// SetPCAResourceGroup sets the ResourceGroupId of an account's CA or live
// issued certificate; ErrNotFound when it has neither.
func (q writers) SetPCAResourceGroup(ctx context.Context, accountID, id, group string) error {
	return q.setPCAColumn(ctx, "resource_group_id", accountID, id, group)
}

func (q writers) setPCAColumn(ctx context.Context, column, accountID, id, value string) error {
	var n int64
	for _, stmt := range []string{
		`UPDATE ca_certificates SET ` + column + ` = ? WHERE account_id = ? AND identifier = ?`,
		`UPDATE issued_certificates SET ` + column + ` = ? WHERE account_id = ? AND identifier = ? AND deleted = 0`,
	} {
		res, err := q.x.ExecContext(ctx, stmt, value, accountID, id)
		if err != nil {
			return fmt.Errorf("store: set %s: %w", column, mapErr(err))
		}
		k, _ := res.RowsAffected()
		n += k
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?,", n-1) + "?"
}
