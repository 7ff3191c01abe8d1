package csrgen

import (
	"bytes"
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"strings"
)

const (
	// maxKMSSANs is the KMS limit on SubjectAlternativeNames.
	maxKMSSANs = 10
	// maxSANJSONLen bounds the JSON text so a hostile parameter costs
	// little; ten 253-character names with keys fit many times over.
	maxSANJSONLen = 64 << 10
	// maxTypedSANs bounds the entries of a typed SAN list.
	maxTypedSANs = 100
)

// ParseSANJSON parses the KMS SubjectAlternativeNames parameter: a JSON
// array of DNS names, or a JSON object whose values are each a name or an
// array of names (the V3 SDK types the field as a map). Names from an object
// are taken in sorted-key order. Every name must pass ValidateDNSName;
// duplicates (compared case-insensitively) are dropped, keeping the first;
// more than 10 distinct names is an error. A blank string, "null", "[]" and
// "{}" yield no names.
func ParseSANJSON(s string) ([]string, error) {
	if len(s) > maxSANJSONLen {
		return nil, newErr(ErrInvalidSAN, "SubjectAlternativeNames is longer than %d bytes", maxSANJSONLen)
	}
	t := strings.TrimSpace(s)
	if t == "" || t == "null" {
		return nil, nil
	}
	var raw []string
	switch t[0] {
	case '[':
		names, err := nameOrNames([]byte(t))
		if err != nil {
			return nil, newErr(ErrInvalidSAN, "SubjectAlternativeNames must be a JSON array of strings")
		}
		raw = names
	case '{':
		var obj map[string]json.RawMessage
		if err := json.Unmarshal([]byte(t), &obj); err != nil {
			return nil, newErr(ErrInvalidSAN, "SubjectAlternativeNames must be a JSON object or array")
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			names, err := nameOrNames(obj[k])
			if err != nil {
				return nil, newErr(ErrInvalidSAN, "SubjectAlternativeNames value for key %s must be a string or an array of strings", quote(k))
			}
			raw = append(raw, names...)
		}
	default:
		return nil, newErr(ErrInvalidSAN, "SubjectAlternativeNames must be a JSON array or object")
	}
	var out []string
	seen := map[string]bool{}
	for _, n := range raw {
		if err := ValidateDNSName(n); err != nil {
			return nil, err
		}
		key := strings.ToLower(n)
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, n)
		if len(out) > maxKMSSANs {
			return nil, newErr(ErrInvalidSAN, "SubjectAlternativeNames has more than %d names", maxKMSSANs)
		}
	}
	return out, nil
}

// nameOrNames decodes a JSON string or an array of strings. It looks at
// each element itself because encoding/json would turn a null element into
// "" and a number into an error with a message we do not want to pass on.
func nameOrNames(m json.RawMessage) ([]string, error) {
	t := bytes.TrimSpace(m)
	if len(t) > 0 && t[0] == '[' {
		var elems []json.RawMessage
		if err := json.Unmarshal(t, &elems); err != nil {
			return nil, err
		}
		out := make([]string, 0, len(elems))
		for _, e := range elems {
			s, err := jsonString(e)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	s, err := jsonString(t)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

var errNotString = errors.New("not a JSON string")

func jsonString(m json.RawMessage) (string, error) {
	t := bytes.TrimSpace(m)
	if len(t) == 0 || t[0] != '"' {
		return "", errNotString
	}
	var s string
	err := json.Unmarshal(t, &s)
	return s, err
}

// typedSAN is one element of the Private CA "Sans" parameter.
type typedSAN struct {
	Type  json.RawMessage
	Value string
}

// GeneralName tags used by the typed SAN list (RFC 5280 §4.2.1.6).
const (
	sanTypeEmail = 1
	sanTypeDNS   = 2
	sanTypeURI   = 6
	sanTypeIP    = 7
)

// ParseTypedSANJSON parses the Private CA "Sans" parameter,
// [{"Type":2,"Value":"example.com"}, ...], where Type is the GeneralName tag
// (1 email, 2 DNS, 6 URI, 7 IP), as a number or a numeric string. Each value
// is validated for its kind (ValidateEmail, ValidateDNSName, ValidateURI,
// ParseIP) and exact duplicates are dropped. At most 100 entries.
func ParseTypedSANJSON(s string) (SANs, error) {
	var out SANs
	if len(s) > maxSANJSONLen {
		return out, newErr(ErrInvalidSAN, "Sans is longer than %d bytes", maxSANJSONLen)
	}
	var list []typedSAN
	if err := json.Unmarshal([]byte(s), &list); err != nil {
		return out, newErr(ErrInvalidSAN, `Sans must be a JSON array of {"Type","Value"} objects`)
	}
	if len(list) > maxTypedSANs {
		return out, newErr(ErrInvalidSAN, "Sans has more than %d entries", maxTypedSANs)
	}
	seen := map[string]bool{}
	for _, e := range list {
		typ, err := strconv.Atoi(strings.Trim(string(bytes.TrimSpace(e.Type)), `"`))
		if err != nil {
			return SANs{}, newErr(ErrInvalidSAN, "Sans entry has a Type that is not a number")
		}
		key := strconv.Itoa(typ) + ":" + e.Value
		if seen[key] {
			continue
		}
		seen[key] = true
		switch typ {
		case sanTypeEmail:
			if err := ValidateEmail(e.Value); err != nil {
				return SANs{}, err
			}
			out.EmailAddresses = append(out.EmailAddresses, e.Value)
		case sanTypeDNS:
			if err := ValidateDNSName(e.Value); err != nil {
				return SANs{}, err
			}
			out.DNSNames = append(out.DNSNames, e.Value)
		case sanTypeURI:
			u, err := parseURI(e.Value)
			if err != nil {
				return SANs{}, err
			}
			out.URIs = append(out.URIs, u)
		case sanTypeIP:
			ip, err := ParseIP(e.Value)
			if err != nil {
				return SANs{}, err
			}
			out.IPAddresses = append(out.IPAddresses, ip)
		default:
			return SANs{}, newErr(ErrInvalidSAN, "Sans entry has Type %d (want 1 email, 2 DNS, 6 URI or 7 IP)", typ)
		}
	}
	return out, nil
}
