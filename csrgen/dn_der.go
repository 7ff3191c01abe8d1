package csrgen

import (
	"encoding/asn1"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// rawATV and rawRDNSET mirror pkix.AttributeTypeAndValue and
// pkix.RelativeDistinguishedNameSET with the value kept as a RawValue, so we
// choose the string tag when encoding and see it when decoding (encoding/asn1
// leaves unknown string types such as UniversalString as nil). The "SET"
// suffix makes encoding/asn1 treat the slice as a DER-sorted SET OF.
type rawATV struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

type rawRDNSET []rawATV

// ASN.1 universal tags of string types that encoding/asn1 does not name.
const (
	tagVisibleString   = 26
	tagUniversalString = 28
)

// Marshal returns the DER encoding of d as an X.509 Name, with the string
// types OpenSSL picks for "openssl req -utf8" under the default
// string_mask=utf8only: PrintableString for C, serialNumber and dnQualifier
// when the value fits, IA5String for emailAddress and DC when it is ASCII,
// UTF8String otherwise. The attributes of a multi-valued RDN are sorted as DER
// requires. This is the subject CreateCSR puts in a request.
func (d DN) Marshal() ([]byte, error) {
	seq := make([]rawRDNSET, 0, len(d))
	for _, rdn := range d {
		if len(rdn) == 0 {
			return nil, newErr(ErrInvalidDN, "DN has an empty RDN")
		}
		set := make(rawRDNSET, 0, len(rdn))
		for _, a := range rdn {
			if !utf8.ValidString(a.Value) {
				return nil, newErr(ErrInvalidDN, "value of %s is not valid UTF-8", attrName(a.Type))
			}
			if strings.IndexByte(a.Value, 0) >= 0 {
				return nil, newErr(ErrInvalidDN, "value of %s contains NUL", attrName(a.Type))
			}
			set = append(set, rawATV{Type: a.Type, Value: asn1.RawValue{
				Class: asn1.ClassUniversal,
				Tag:   stringTag(a.Type, a.Value),
				Bytes: []byte(a.Value),
			}})
		}
		seq = append(seq, set)
	}
	der, err := asn1.Marshal(seq)
	if err != nil {
		// Only a malformed attribute type OID gets here.
		return nil, newErr(ErrInvalidDN, "DN has an attribute type that cannot be encoded")
	}
	return der, nil
}

func stringTag(oid asn1.ObjectIdentifier, v string) int {
	switch {
	case oid.Equal(oidCountry), oid.Equal(oidSerialNumber), oid.Equal(oidDNQualifier):
		if isPrintableString(v) {
			return asn1.TagPrintableString
		}
	case oid.Equal(oidEmailAddress), oid.Equal(oidDC):
		if isASCII(v) {
			return asn1.TagIA5String
		}
	}
	return asn1.TagUTF8String
}

// isPrintableString reports whether s fits X.680 PrintableString.
func isPrintableString(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte(" '()+,-./:=?", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// unmarshalName decodes a DER X.509 Name into a DN, decoding every value as
// a directory string. It is strict: trailing data, an empty RDN or a value
// that is not a string is an error.
func unmarshalName(der []byte) (DN, error) {
	var seq []rawRDNSET
	rest, err := asn1.Unmarshal(der, &seq)
	if err != nil || len(rest) != 0 {
		return nil, errors.New("subject is not a valid X.509 Name")
	}
	d := make(DN, 0, len(seq))
	for _, set := range seq {
		if len(set) == 0 {
			return nil, errors.New("subject has an empty RDN")
		}
		rdn := make(RDN, 0, len(set))
		for _, atv := range set {
			v, err := decodeDirectoryString(atv.Value)
			if err != nil {
				return nil, errors.New("subject " + attrName(atv.Type) + ": " + err.Error())
			}
			rdn = append(rdn, Attribute{Type: atv.Type, Value: v})
		}
		d = append(d, rdn)
	}
	return d, nil
}

// decodeDirectoryString returns the text of a BER string value as UTF-8.
// T61String is read as Latin-1, as OpenSSL does. The errors are plain
// phrases; callers wrap them in their own sentinel.
func decodeDirectoryString(rv asn1.RawValue) (string, error) {
	if rv.Class != asn1.ClassUniversal || rv.IsCompound {
		return "", errors.New("value is not a string type")
	}
	b := rv.Bytes
	var s string
	switch rv.Tag {
	case asn1.TagUTF8String:
		if !utf8.Valid(b) {
			return "", errors.New("UTF8String is not valid UTF-8")
		}
		s = string(b)
	case asn1.TagPrintableString, asn1.TagIA5String, asn1.TagNumericString, tagVisibleString:
		if !isASCII(string(b)) {
			return "", errors.New("ASCII string type holds a non-ASCII byte")
		}
		s = string(b)
	case asn1.TagT61String:
		s = latin1ToUTF8(b)
	case asn1.TagBMPString:
		if len(b)%2 != 0 {
			return "", errors.New("BMPString has an odd length")
		}
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		}
		s = string(utf16.Decode(u))
	case tagUniversalString:
		if len(b)%4 != 0 {
			return "", errors.New("UniversalString length is not a multiple of 4")
		}
		r := make([]rune, len(b)/4)
		for i := range r {
			c := rune(b[4*i])<<24 | rune(b[4*i+1])<<16 | rune(b[4*i+2])<<8 | rune(b[4*i+3])
			if !utf8.ValidRune(c) {
				return "", errors.New("UniversalString holds an invalid character")
			}
			r[i] = c
		}
		s = string(r)
	default:
		return "", errors.New("value is not a string type")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return "", errors.New("value contains NUL")
	}
	return s, nil
}
