package csrgen

import (
	"encoding/asn1"
	"unicode/utf8"
)

// kmsSubjectRules lists the attributes a KMS CreateCertificate subject may
// carry, with the RFC 5280 upper bound on each value's length (characters;
// 0 means checked elsewhere).
var kmsSubjectRules = []struct {
	name     string
	oid      asn1.ObjectIdentifier
	required bool
	single   bool
	maxLen   int
}{
	{"CN", asn1.ObjectIdentifier{2, 5, 4, 3}, true, true, 64},
	{"C", oidCountry, true, true, 0}, // checked as two letters below
	{"O", asn1.ObjectIdentifier{2, 5, 4, 10}, true, false, 64},
	{"OU", asn1.ObjectIdentifier{2, 5, 4, 11}, true, false, 64},
	{"ST", asn1.ObjectIdentifier{2, 5, 4, 8}, false, false, 128},
	{"L", asn1.ObjectIdentifier{2, 5, 4, 7}, false, false, 128},
}

// ValidateKMSSubject checks the subject rules of KMS CreateCertificate: CN,
// C, O and OU are required (an empty value counts as missing), ST and L are
// optional but not empty, and nothing else is allowed. CN and C appear once; C is exactly
// two ASCII letters; each value stays within the RFC 5280 upper bound (64
// characters for CN, O and OU, 128 for ST and L). A missing attribute wraps
// ErrMissingAttribute; every other broken rule wraps ErrInvalidDN.
func ValidateKMSSubject(d DN) error {
	for _, rdn := range d {
		for _, a := range rdn {
			known := false
			for _, r := range kmsSubjectRules {
				if a.Type.Equal(r.oid) {
					known = true
					break
				}
			}
			if !known {
				return newErr(ErrInvalidDN, "subject attribute %s is not allowed (allowed: CN, C, O, OU, ST, L)", attrName(a.Type))
			}
		}
	}
	for _, r := range kmsSubjectRules {
		vals := d.Get(r.name)
		if r.required && len(vals) == 0 {
			return newErr(ErrMissingAttribute, "subject lacks %s", r.name)
		}
		for _, v := range vals {
			if v == "" && r.required {
				return newErr(ErrMissingAttribute, "subject lacks %s (the value is empty)", r.name)
			}
			if v == "" {
				return newErr(ErrInvalidDN, "subject %s is empty", r.name)
			}
			if r.maxLen > 0 && utf8.RuneCountInString(v) > r.maxLen {
				return newErr(ErrInvalidDN, "subject %s is longer than %d characters", r.name, r.maxLen)
			}
		}
		if r.single && len(vals) > 1 {
			return newErr(ErrInvalidDN, "subject has more than one %s", r.name)
		}
	}
	if c := d.Get("C"); !isTwoLetters(c[0]) {
		return newErr(ErrInvalidDN, "subject C must be exactly two ASCII letters (ISO 3166 code)")
	}
	return nil
}

func isTwoLetters(s string) bool {
	if len(s) != 2 {
		return false
	}
	for i := 0; i < 2; i++ {
		c := s[i] | 0x20 // fold to lower case
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}
