package keystore

import (
	"strings"
	"time"
)

// Token objects we create carry their creation time in CKA_LABEL as
// "<key ID>@<RFC 3339 UTC time>", so that the age of an object no database
// row names can be decided from the token alone (CKA_START_DATE has only
// day granularity). Objects from before this scheme have label == key ID:
// their age is unknown, and callers must never treat an unknown age as old
// without an operator saying so. The sealed record of a software SM2 key
// keeps its label == key ID (lookups find it by label) and carries the time
// in the record instead.

const labelTimeSep = "@"

// objectLabel is the CKA_LABEL of a new token object.
func objectLabel(id string, now time.Time) string {
	return id + labelTimeSep + now.UTC().Truncate(time.Second).Format(time.RFC3339)
}

// labelTime returns the creation time recorded in a label of key id, or
// false when the label records none (or not for this ID).
func labelTime(id, label string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(label, id+labelTimeSep)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, rest)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// ValidKeyID reports whether id follows our key ID scheme: 1 to 128 bytes
// of letters, digits, '.', '_' and '-' (what certmgr and the service keys
// use: "kms-<uuid>", "ca-<uuid>", "certcustody-kek-1"). The scheme keeps
// labels parsable and lets ListKeys tell our objects from others on a
// shared token.
func ValidKeyID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// IsServiceKeyID reports whether id names one of the service's own keys
// (KEK, wrapping key, audit key), which no database row references.
func IsServiceKeyID(id string) bool { return strings.HasPrefix(id, serviceIDPrefix) }
