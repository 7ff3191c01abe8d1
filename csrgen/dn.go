package csrgen

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"strings"
	"unicode/utf8"
)

// Attribute is one attribute type and value of a relative distinguished
// name. Value is the decoded string (UTF-8), never an escaped form.
type Attribute struct {
	Type  asn1.ObjectIdentifier
	Value string
}

// RDN is a relative distinguished name: one or more attributes (more than one
// for a multi-valued RDN such as "CN=a+UID=b"), in the order written.
type RDN []Attribute

// DN is a distinguished name in ASN.1 order: DN[0] is the most general RDN
// (usually C), the same order as pkix.RDNSequence and as the encoding in a
// CSR. The RFC 4514 string form is the reverse (most specific first):
// ParseDN reverses it on input and String reverses it back on output.
type DN []RDN

// attrType is one row of the attribute-type table.
type attrType struct {
	name    string   // canonical short name used when printing
	aliases []string // other accepted names, matched case-insensitively
	oid     asn1.ObjectIdentifier
}

// attrTypes lists the attribute types accepted by name. The printed names
// are those of RFC 4514 where it has one and OpenSSL's otherwise, so both
// OpenSSL's -nameopt RFC2253 output and ours parse here. "SN" is surname
// (as in OpenSSL and RFC 4519), not serialNumber.
var attrTypes = []attrType{
	{name: "CN", aliases: []string{"commonName"}, oid: asn1.ObjectIdentifier{2, 5, 4, 3}},
	{name: "SN", aliases: []string{"surname"}, oid: asn1.ObjectIdentifier{2, 5, 4, 4}},
	{name: "serialNumber", oid: asn1.ObjectIdentifier{2, 5, 4, 5}},
	{name: "C", aliases: []string{"countryName"}, oid: asn1.ObjectIdentifier{2, 5, 4, 6}},
	{name: "L", aliases: []string{"localityName"}, oid: asn1.ObjectIdentifier{2, 5, 4, 7}},
	{name: "ST", aliases: []string{"S", "stateOrProvinceName"}, oid: asn1.ObjectIdentifier{2, 5, 4, 8}},
	{name: "STREET", aliases: []string{"streetAddress"}, oid: asn1.ObjectIdentifier{2, 5, 4, 9}},
	{name: "O", aliases: []string{"organizationName"}, oid: asn1.ObjectIdentifier{2, 5, 4, 10}},
	{name: "OU", aliases: []string{"organizationalUnitName"}, oid: asn1.ObjectIdentifier{2, 5, 4, 11}},
	{name: "title", oid: asn1.ObjectIdentifier{2, 5, 4, 12}},
	{name: "postalCode", oid: asn1.ObjectIdentifier{2, 5, 4, 17}},
	{name: "GN", aliases: []string{"givenName"}, oid: asn1.ObjectIdentifier{2, 5, 4, 42}},
	{name: "dnQualifier", oid: asn1.ObjectIdentifier{2, 5, 4, 46}},
	{name: "DC", aliases: []string{"domainComponent"}, oid: asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}},
	{name: "UID", aliases: []string{"userId"}, oid: asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}},
	{name: "emailAddress", aliases: []string{"E", "email"}, oid: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}},
}

var (
	oidCountry      = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidSerialNumber = asn1.ObjectIdentifier{2, 5, 4, 5}
	oidDNQualifier  = asn1.ObjectIdentifier{2, 5, 4, 46}
	oidEmailAddress = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
	oidDC           = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}
)

// lookupAttrName resolves a short name, long name or alias to its OID.
func lookupAttrName(name string) (asn1.ObjectIdentifier, bool) {
	for _, t := range attrTypes {
		if strings.EqualFold(name, t.name) {
			return t.oid, true
		}
		for _, a := range t.aliases {
			if strings.EqualFold(name, a) {
				return t.oid, true
			}
		}
	}
	return nil, false
}

// attrName returns the printed name of an attribute type: its short name if
// it has one, else the dotted OID (which ParseDN accepts back).
func attrName(oid asn1.ObjectIdentifier) string {
	for _, t := range attrTypes {
		if t.oid.Equal(oid) {
			return t.name
		}
	}
	return oid.String()
}

// Get returns the values of every attribute of the given type, in DN (ASN.1)
// order. The type is a short name, long name or dotted OID, matched as
// ParseDN matches it; an unknown name yields nil.
func (d DN) Get(attrShortName string) []string {
	oid, err := parseAttrType(attrShortName)
	if err != nil {
		return nil
	}
	var out []string
	for _, rdn := range d {
		for _, a := range rdn {
			if a.Type.Equal(oid) {
				out = append(out, a.Value)
			}
		}
	}
	return out
}

// Equal reports whether d and o name the same entry: the same RDNs in the
// same order, each with the same attributes in any order (a multi-valued RDN
// is a set, and DER sorts it). Values are compared exactly, without X.520
// case folding.
func (d DN) Equal(o DN) bool {
	if len(d) != len(o) {
		return false
	}
	for i := range d {
		if !d[i].equalSet(o[i]) {
			return false
		}
	}
	return true
}

func (r RDN) equalSet(o RDN) bool {
	if len(r) != len(o) {
		return false
	}
	used := make([]bool, len(o))
outer:
	for _, a := range r {
		for j, b := range o {
			if !used[j] && a.Type.Equal(b.Type) && a.Value == b.Value {
				used[j] = true
				continue outer
			}
		}
		return false
	}
	return true
}

// RDNSequence returns d in ASN.1 order with plain string values, for use
// with crypto/x509/pkix. Encoding it with encoding/asn1 picks
// PrintableString or UTF8String by content; Marshal instead picks the string
// types OpenSSL uses, which is what goes into a CSR.
func (d DN) RDNSequence() pkix.RDNSequence {
	seq := make(pkix.RDNSequence, 0, len(d))
	for _, rdn := range d {
		set := make([]pkix.AttributeTypeAndValue, 0, len(rdn))
		for _, a := range rdn {
			set = append(set, pkix.AttributeTypeAndValue{Type: cloneOID(a.Type), Value: a.Value})
		}
		seq = append(seq, set)
	}
	return seq
}

// DNFromRDNSequence converts a parsed ASN.1 name into a DN (same order).
// String values are kept as they are, except that a value that is not valid
// UTF-8 (a T61String, in practice) is read as Latin-1. A value that is not a
// string at all is kept as "#" followed by the hex of its DER encoding, the
// RFC 4514 notation, so it stays visible; String prints that text escaped.
// A nil value (a string type encoding/asn1 does not decode) becomes "".
func DNFromRDNSequence(seq pkix.RDNSequence) DN {
	d := make(DN, 0, len(seq))
	for _, set := range seq {
		rdn := make(RDN, 0, len(set))
		for _, atv := range set {
			rdn = append(rdn, Attribute{Type: cloneOID(atv.Type), Value: valueString(atv.Value)})
		}
		d = append(d, rdn)
	}
	return d
}

func valueString(v any) string {
	switch v := v.(type) {
	case nil:
		// encoding/asn1 leaves string types it does not know as nil.
		return ""
	case string:
		if utf8.ValidString(v) {
			return v
		}
		return latin1ToUTF8([]byte(v))
	default:
		der, err := asn1.Marshal(v)
		if err != nil {
			return "#"
		}
		return "#" + strings.ToUpper(hex.EncodeToString(der))
	}
}

func latin1ToUTF8(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

func cloneOID(o asn1.ObjectIdentifier) asn1.ObjectIdentifier {
	return append(asn1.ObjectIdentifier(nil), o...)
}
