package csrgen

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// String prints d in RFC 4514 form, most specific RDN first, with the short
// attribute names of attrTypes (a dotted OID for others), "," between RDNs
// and "+" inside one, and no spaces. It escapes what RFC 4514 requires
// (", + \" \\ < > ;", a leading space or "#", a trailing space, NUL) and,
// as hex pairs, control and other non-graphic characters, so the output is
// safe to display and ParseDN(d.String()) equals d for every parsed DN.
// UTF-8 text such as Chinese names is printed as is.
func (d DN) String() string {
	var b strings.Builder
	for i := len(d) - 1; i >= 0; i-- {
		if i != len(d)-1 {
			b.WriteByte(',')
		}
		for j, a := range d[i] {
			if j > 0 {
				b.WriteByte('+')
			}
			b.WriteString(attrName(a.Type))
			b.WriteByte('=')
			escapeValue(&b, a.Value)
		}
	}
	return b.String()
}

const hexDigits = "0123456789ABCDEF"

func escapeValue(b *strings.Builder, v string) {
	for i := 0; i < len(v); {
		r, size := utf8.DecodeRuneInString(v[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			// Not UTF-8 (only possible in a hand-built DN): keep the byte
			// visible rather than emit broken text.
			writeHexPair(b, v[i])
		case r == ' ' && (i == 0 || i+size == len(v)):
			b.WriteString(`\ `)
		case r == '#' && i == 0:
			b.WriteString(`\#`)
		case strings.ContainsRune(`"+,;<>\`, r):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == ' ' || unicode.IsGraphic(r):
			b.WriteString(v[i : i+size])
		default:
			for k := i; k < i+size; k++ {
				writeHexPair(b, v[k])
			}
		}
		i += size
	}
}

func writeHexPair(b *strings.Builder, c byte) {
	b.WriteByte('\\')
	b.WriteByte(hexDigits[c>>4])
	b.WriteByte(hexDigits[c&0xf])
}
