package server

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/url"
	"strings"
)

// percentEncode is RFC 3986 encoding as the SDKs do it: QueryEscape, then
// "+"→"%20", "*"→"%2A", "%7E"→"~".
func percentEncode(s string) string {
	s = url.QueryEscape(s)
	s = strings.ReplaceAll(s, "+", "%20")
	s = strings.ReplaceAll(s, "*", "%2A")
	return strings.ReplaceAll(s, "%7E", "~")
}

// StringToSignV1 is METHOD&%2F&pe(sorted pe(k)=pe(v) joined by &), over
// every parameter but Signature (empty values included).
func StringToSignV1(method string, params Params) string {
	var b strings.Builder
	for _, k := range params.sortedKeys() {
		if k == "Signature" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(percentEncode(k))
		b.WriteByte('=')
		b.WriteString(percentEncode(params[k]))
	}
	return method + "&%2F&" + percentEncode(b.String())
}

// SignV1 returns Base64(HMAC-SHA1(secret+"&", StringToSignV1)).
func SignV1(method string, params Params, secret string) string {
	m := hmac.New(sha1.New, []byte(secret+"&"))
	m.Write([]byte(StringToSignV1(method, params)))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
