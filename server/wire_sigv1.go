package server

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"strings"
)

const upperHex = "0123456789ABCDEF"

// unreserved reports the bytes RFC 3986 leaves literal: A-Z a-z 0-9 - _ . ~.
func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~'
}

// percentEncode is RFC 3986 encoding as the SDKs do it (QueryEscape, then
// "+"→"%20", "*"→"%2A", "%7E"→"~"): every byte but the unreserved ones as
// %XY in upper-case hex, UTF-8 byte by byte.
func percentEncode(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	writeEncoded(&b, s, "%")
	return b.String()
}

// writeEncoded writes s percent-encoded, each escape introduced by pct:
// "%" for pe(s), "%25" for pe(pe(s)), since pe leaves an unreserved byte
// as it is and turns the "%" of an escape into "%25".
func writeEncoded(b *strings.Builder, s, pct string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteString(pct)
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&15])
	}
}

// StringToSignV1 is METHOD&%2F&pe(sorted pe(k)=pe(v) joined by &), over
// every parameter but Signature (empty values included). It is written in
// one pass: the outer encoding of pe(k) is pe(k) with "%" as "%25", and of
// "=" and "&" their escapes %3D and %26.
func StringToSignV1(method string, params Params) string {
	keys := params.sortedKeys()
	n := len(method) + len("&%2F&")
	for _, k := range keys {
		n += len(k) + len(params[k]) + 6 // at least: both literal, %3D and %26
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(method)
	b.WriteString("&%2F&")
	first := true
	for _, k := range keys {
		if k == "Signature" {
			continue
		}
		if !first {
			b.WriteString("%26")
		}
		first = false
		writeEncoded(&b, k, "%25")
		b.WriteString("%3D")
		writeEncoded(&b, params[k], "%25")
	}
	return b.String()
}

// SignV1 returns Base64(HMAC-SHA1(secret+"&", StringToSignV1)).
func SignV1(method string, params Params, secret string) string {
	return signStringV1(StringToSignV1(method, params), secret)
}

// signStringV1 is the v1 signature of a string to sign already built.
func signStringV1(sts, secret string) string {
	m := hmac.New(sha1.New, []byte(secret+"&"))
	m.Write([]byte(sts))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
