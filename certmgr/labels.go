package certmgr

import (
	"encoding/json"
	"regexp"
)

// Tag is a resource tag, named as the Private CA API returns it.
type Tag struct {
	TagKey   string `json:"TagKey"`
	TagValue string `json:"TagValue"`
}

// Labels are the Tags and ResourceGroupId a creating action may carry; they
// are stored with the resource and returned by the describing actions.
// AliasName and CustomIdentifier are kept on issued certificates only
// (CustomIdentifier is unique per account); CA creation ignores them.
type Labels struct {
	Tags             []Tag
	ResourceGroupID  string
	AliasName        string
	CustomIdentifier string
}

var resourceGroupPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// validate checks the labels and returns the tags as stored JSON.
func (l Labels) validate() (string, error) {
	if len(l.Tags) > 20 {
		return "", InvalidParameter("Tags", "at most 20 tags")
	}
	seen := map[string]bool{}
	for _, t := range l.Tags {
		if t.TagKey == "" || len(t.TagKey) > 128 || len(t.TagValue) > 128 {
			return "", InvalidParameter("Tags", "a tag key is 1 to 128 characters and its value at most 128")
		}
		if seen[t.TagKey] {
			return "", InvalidParameter("Tags", "tag key %q given twice", t.TagKey)
		}
		seen[t.TagKey] = true
	}
	if l.ResourceGroupID != "" && !resourceGroupPattern.MatchString(l.ResourceGroupID) {
		return "", InvalidParameter("ResourceGroupId", "letters, digits, '-' and '_', at most 64")
	}
	if err := l.validateNames(); err != nil {
		return "", err
	}
	if len(l.Tags) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(l.Tags)
	return string(b), err
}

// decodeTags reads stored tags; a malformed value reads as none.
func decodeTags(s string) []Tag {
	out := []Tag{}
	_ = json.Unmarshal([]byte(s), &out)
	return out
}
