package csrgen

import (
	"encoding/asn1"
	"encoding/hex"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxDNLen bounds the input to ParseDN. A real subject is a few hundred
// bytes; the bound keeps a hostile input cheap (and fuzzing fast).
const maxDNLen = 4 << 10

// ParseDN parses an RFC 4514 string (most specific RDN first, e.g.
// "CN=example.com,OU=IT,O=Example,C=CN") into a DN in ASN.1 order.
//
// Accepted beyond the strict RFC 4514 grammar, as RFC 2253 readers must:
// ';' as an RDN separator, spaces around ',', '+', ';' and '=', an
// unescaped '=' inside a value, a value in double quotes, and an "OID."
// prefix on a dotted type. Attribute types are matched case-insensitively
// (see attrTypes; "S" is ST and "E" is emailAddress). A "#" value is the hex
// of a BER string (UTF8String, PrintableString, IA5String, BMPString, ...);
// its string is kept, not its tag. Values must be valid UTF-8 once escapes
// are decoded and may not contain NUL.
func ParseDN(s string) (DN, error) {
	if len(s) > maxDNLen {
		return nil, newErr(ErrInvalidDN, "DN is longer than %d bytes", maxDNLen)
	}
	if strings.TrimSpace(s) == "" {
		return nil, newErr(ErrInvalidDN, "DN is empty")
	}
	p := &dnParser{s: s}
	var rdns []RDN
	for {
		rdn, err := p.rdn()
		if err != nil {
			return nil, err
		}
		rdns = append(rdns, rdn)
		p.skipSpaces()
		if p.eof() {
			break
		}
		switch c := p.s[p.i]; c {
		case ',', ';':
			p.i++
		default:
			return nil, p.errf("unexpected %s after a value", quote(string(c)))
		}
	}
	// RFC 4514 strings are most specific first; DN is ASN.1 order.
	d := make(DN, len(rdns))
	for i, rdn := range rdns {
		d[len(rdns)-1-i] = rdn
	}
	// Escaping can make the printed form up to three times longer than the
	// input (a raw control byte prints as "\12"); bound that too, so that
	// whatever ParseDN accepts, ParseDN(d.String()) accepts as well.
	if len(d.String()) > maxDNLen {
		return nil, newErr(ErrInvalidDN, "DN is longer than %d bytes once escaped", maxDNLen)
	}
	return d, nil
}

type dnParser struct {
	s string
	i int
}

func (p *dnParser) eof() bool { return p.i >= len(p.s) }

func (p *dnParser) skipSpaces() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

// errf reports a syntax error with the byte offset, which tells the caller
// where to look without echoing the whole input.
func (p *dnParser) errf(format string, args ...any) error {
	return newErr(ErrInvalidDN, "DN syntax at offset %d: "+format, append([]any{p.i}, args...)...)
}

func (p *dnParser) rdn() (RDN, error) {
	var rdn RDN
	for {
		a, err := p.attribute()
		if err != nil {
			return nil, err
		}
		rdn = append(rdn, a)
		p.skipSpaces()
		if p.eof() || p.s[p.i] != '+' {
			return rdn, nil
		}
		p.i++
	}
}

func (p *dnParser) attribute() (Attribute, error) {
	p.skipSpaces()
	start := p.i
	for p.i < len(p.s) && isTypeChar(p.s[p.i]) {
		p.i++
	}
	name := p.s[start:p.i]
	if name == "" {
		if p.eof() {
			return Attribute{}, p.errf("missing attribute")
		}
		return Attribute{}, p.errf("empty attribute type")
	}
	p.skipSpaces()
	if p.eof() || p.s[p.i] != '=' {
		return Attribute{}, p.errf("expected '=' after attribute type %s", quote(name))
	}
	p.i++
	oid, err := parseAttrType(name)
	if err != nil {
		return Attribute{}, err
	}
	p.skipSpaces()
	var v string
	switch {
	case p.eof():
		v = ""
	case p.s[p.i] == '#':
		v, err = p.hexValue()
	case p.s[p.i] == '"':
		v, err = p.quotedValue()
	default:
		v, err = p.stringValue()
	}
	if err != nil {
		return Attribute{}, err
	}
	if !utf8.ValidString(v) {
		return Attribute{}, newErr(ErrInvalidDN, "value of %s is not valid UTF-8", attrName(oid))
	}
	if strings.IndexByte(v, 0) >= 0 {
		return Attribute{}, newErr(ErrInvalidDN, "value of %s contains NUL", attrName(oid))
	}
	return Attribute{Type: oid, Value: v}, nil
}

func isTypeChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.'
}

// parseAttrType resolves a short name, alias, or dotted OID (optionally with
// an RFC 1779 "OID." prefix).
func parseAttrType(name string) (asn1.ObjectIdentifier, error) {
	if len(name) > 4 && strings.EqualFold(name[:4], "oid.") {
		name = name[4:]
	}
	if name != "" && name[0] >= '0' && name[0] <= '9' {
		return parseOID(name)
	}
	if oid, ok := lookupAttrName(name); ok {
		return oid, nil
	}
	return nil, newErr(ErrInvalidDN, "unknown attribute type %s", quote(name))
}

// parseOID accepts RFC 4512 numericoid and only arcs that encoding/asn1 can
// read back (at most 2^31-1), so every parsed DN can be encoded and decoded.
func parseOID(s string) (asn1.ObjectIdentifier, error) {
	bad := func(why string) error {
		return newErr(ErrInvalidDN, "attribute type %s is not a valid OID: %s", quote(s), why)
	}
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return nil, bad("needs at least two arcs")
	}
	oid := make(asn1.ObjectIdentifier, len(parts))
	for i, part := range parts {
		if part == "" || len(part) > 1 && part[0] == '0' {
			return nil, bad("empty arc or leading zero")
		}
		n, err := strconv.ParseUint(part, 10, 32)
		if err != nil || n > math.MaxInt32 {
			return nil, bad("arc is not a number below 2^31")
		}
		oid[i] = int(n)
	}
	if oid[0] > 2 || oid[0] < 2 && oid[1] > 39 {
		return nil, bad("first arcs out of range")
	}
	// The first two arcs share one base-128 number, which Go reads into an
	// int32; keep it in range so the OID decodes again.
	if oid[0] == 2 && oid[1] > math.MaxInt32-80 {
		return nil, bad("second arc too large")
	}
	return oid, nil
}

// stringValue reads an RFC 4514 string up to the next unescaped separator.
// Unescaped spaces at the end are trimmed (they surround the separator);
// escaped ones are kept.
func (p *dnParser) stringValue() (string, error) {
	var buf []byte
	keep := 0 // len(buf) up to the last character that is not a trimmable space
	for !p.eof() {
		c := p.s[p.i]
		switch c {
		case ',', '+', ';':
			return string(buf[:keep]), nil
		case '\\':
			b, err := p.escape()
			if err != nil {
				return "", err
			}
			buf = append(buf, b)
			keep = len(buf)
			continue
		case '"', '<', '>':
			return "", p.errf("%s must be escaped", quote(string(c)))
		case 0:
			return "", p.errf("NUL must not appear")
		}
		buf = append(buf, c)
		if c != ' ' {
			keep = len(buf)
		}
		p.i++
	}
	return string(buf[:keep]), nil
}

// escape decodes one "\" pair at p.i: a special character or two hex digits.
func (p *dnParser) escape() (byte, error) {
	p.i++ // the backslash
	if p.eof() {
		return 0, p.errf("unterminated escape")
	}
	c := p.s[p.i]
	if isHex(c) {
		if p.i+1 >= len(p.s) || !isHex(p.s[p.i+1]) {
			return 0, p.errf("bad hex escape")
		}
		b := unhex(c)<<4 | unhex(p.s[p.i+1])
		p.i += 2
		return b, nil
	}
	if strings.IndexByte(",+\"\\<>;= #", c) < 0 {
		return 0, p.errf("invalid escape %s", quote(`\`+string(c)))
	}
	p.i++
	return c, nil
}

// quotedValue reads an RFC 2253 §4 quoted value; inside the quotes the
// separators are literal and escapes still apply.
func (p *dnParser) quotedValue() (string, error) {
	p.i++ // opening quote
	var buf []byte
	for !p.eof() {
		c := p.s[p.i]
		switch c {
		case '"':
			p.i++
			return string(buf), p.expectEnd()
		case '\\':
			b, err := p.escape()
			if err != nil {
				return "", err
			}
			buf = append(buf, b)
		default:
			buf = append(buf, c)
			p.i++
		}
	}
	return "", p.errf("unterminated quoted value")
}

// hexValue reads "#" followed by the hex of a BER-encoded string.
func (p *dnParser) hexValue() (string, error) {
	p.i++ // '#'
	start := p.i
	for !p.eof() && isHex(p.s[p.i]) {
		p.i++
	}
	h := p.s[start:p.i]
	if len(h) == 0 || len(h)%2 != 0 {
		return "", p.errf("bad hex value: need an even, non-zero number of hex digits")
	}
	if err := p.expectEnd(); err != nil {
		return "", err
	}
	der, _ := hex.DecodeString(h) // only hex digits, even length
	var rv asn1.RawValue
	rest, err := asn1.Unmarshal(der, &rv)
	if err != nil || len(rest) != 0 {
		return "", newErr(ErrInvalidDN, "hex value at offset %d is not one BER element", start-1)
	}
	s, err := decodeDirectoryString(rv)
	if err != nil {
		return "", newErr(ErrInvalidDN, "hex value at offset %d: %s", start-1, err.Error())
	}
	return s, nil
}

// expectEnd checks that only spaces stand between a complete value and the
// next separator or the end.
func (p *dnParser) expectEnd() error {
	p.skipSpaces()
	if p.eof() {
		return nil
	}
	switch p.s[p.i] {
	case ',', '+', ';':
		return nil
	}
	return p.errf("unexpected %s after a value", quote(string(p.s[p.i])))
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
