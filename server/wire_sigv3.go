package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

const v3Algorithm = "ACS3-HMAC-SHA256"

// authorizationV3 is a parsed ACS3 Authorization header.
type authorizationV3 struct {
	AccessKeyID   string
	SignedHeaders []string // lower-case, sorted
	Signature     string   // hex
}

var errBadAuthorization = errors.New("malformed Authorization header")

// parseAuthorizationV3 reads
// "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=a;b,Signature=hex".
func parseAuthorizationV3(h string) (*authorizationV3, error) {
	rest, ok := strings.CutPrefix(h, v3Algorithm+" ")
	if !ok || len(h) > 4096 {
		return nil, errBadAuthorization
	}
	a := &authorizationV3{}
	seen := map[string]bool{}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || v == "" || seen[k] {
			return nil, errBadAuthorization
		}
		seen[k] = true
		switch k {
		case "Credential":
			a.AccessKeyID = v
		case "SignedHeaders":
			a.SignedHeaders = strings.Split(v, ";")
		case "Signature":
			if _, err := hex.DecodeString(v); err != nil || len(v) != 64 {
				return nil, errBadAuthorization
			}
			a.Signature = strings.ToLower(v)
		default:
			return nil, errBadAuthorization
		}
	}
	if a.AccessKeyID == "" || a.Signature == "" || len(a.SignedHeaders) == 0 {
		return nil, errBadAuthorization
	}
	if !sort.StringsAreSorted(a.SignedHeaders) {
		return nil, errBadAuthorization
	}
	for _, name := range a.SignedHeaders {
		if name == "" || name != strings.ToLower(name) {
			return nil, errBadAuthorization
		}
	}
	return a, nil
}

// canonicalQueryV3 is the SDK's canonical query string, built exactly as
// darabonba-openapi's getCanonicalQueryString builds it: "&name=value" per
// parameter in byte order of names, names raw and values QueryEscaped, then
// "+"→"%20", "*"→"%2A", "%7E"→"~" over the whole string (names included)
// and every leading '&' trimmed. Any other reading disagrees with the SDK
// on names holding '+' or '*' or starting with '&'.
func canonicalQueryV3(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, v := range q[k] {
			b.WriteByte('&')
			b.WriteString(k)
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(v))
		}
	}
	return strings.TrimLeft(rfc3986Fixups.Replace(b.String()), "&")
}

// rfc3986Fixups turns url.QueryEscape output into RFC 3986 form, as the
// SDKs do after escaping.
var rfc3986Fixups = strings.NewReplacer("+", "%20", "*", "%2A", "%7E", "~")

// headerValue returns a request header as the client sent it; Go moves
// Host out of the header map.
func headerValue(r *http.Request, name string) []string {
	if name == "host" {
		return []string{r.Host}
	}
	return r.Header.Values(name)
}

// stringToSignV3 builds the canonical request and the string to sign.
func stringToSignV3(r *http.Request, a *authorizationV3, payloadHash string) string {
	var hdr strings.Builder
	for _, name := range a.SignedHeaders {
		vals := headerValue(r, name)
		trimmed := make([]string, len(vals))
		for i, v := range vals {
			trimmed[i] = strings.TrimSpace(v)
		}
		sort.Strings(trimmed)
		hdr.WriteString(name + ":" + strings.Join(trimmed, ",") + "\n")
	}
	uri := r.URL.EscapedPath()
	if uri == "" {
		uri = "/"
	}
	canonical := r.Method + "\n" + uri + "\n" + canonicalQueryV3(r.URL.Query()) + "\n" + hdr.String() + "\n" +
		strings.Join(a.SignedHeaders, ";") + "\n" + payloadHash
	sum := sha256.Sum256([]byte(canonical))
	return v3Algorithm + "\n" + hex.EncodeToString(sum[:])
}

// signV3 is hex(HMAC-SHA256(secret, stringToSign)).
func signV3(secret, stringToSign string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(stringToSign))
	return hex.EncodeToString(m.Sum(nil))
}
