package server

import (
	"math/rand/v2"
	"strings"
	"testing"

	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	"github.com/alibabacloud-go/tea/tea"
)

// TestPercentEncodeIsRFC3986 pins the encoding both signatures use: only
// A-Z a-z 0-9 - _ . ~ stay literal, space is %20 (never +), and UTF-8 is
// encoded byte by byte in upper-case hex.
func TestPercentEncodeIsRFC3986(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"AZaz09", "AZaz09"},
		{"-_.~", "-_.~"},
		{" ", "%20"},
		{"+", "%2B"},
		{"*", "%2A"},
		{"~*+ ", "~%2A%2B%20"},
		{"%7E", "%257E"},
		{"/?#[]@", "%2F%3F%23%5B%5D%40"},
		{"!$&'()*+,;=", "%21%24%26%27%28%29%2A%2B%2C%3B%3D"},
		{"中文", "%E4%B8%AD%E6%96%87"},
		{"é", "%C3%A9"},
		{"🔑", "%F0%9F%94%91"},
		{"\x00\n\t", "%00%0A%09"},
		{"\xff", "%FF"}, // invalid UTF-8 is still encoded byte by byte
		{"2016-02-23T12:46:24Z", "2016-02-23T12%3A46%3A24Z"},
	}
	for _, tc := range tests {
		if got := percentEncode(tc.in); got != tc.want {
			t.Errorf("percentEncode(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestSignV1KnownAnswer is the worked example of the cloud's RPC signature
// documentation (secret "testsecret"); the SDK's own signer must agree, so
// the vector is checked against it too rather than trusted from memory.
func TestSignV1KnownAnswer(t *testing.T) {
	p := Params{
		"AccessKeyId": "testid", "Action": "DescribeRegions", "Format": "XML",
		"SignatureMethod": "HMAC-SHA1", "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
		"SignatureVersion": "1.0", "Timestamp": "2016-02-23T12:46:24Z", "Version": "2014-05-26",
	}
	const wantSTS = "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML" +
		"%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf" +
		"%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
	const wantSig = "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
	if got := StringToSignV1("GET", p); got != wantSTS {
		t.Fatalf("StringToSign\n got %s\nwant %s", got, wantSTS)
	}
	if got := SignV1("GET", p, "testsecret"); got != wantSig {
		t.Fatalf("signature %s, want %s", got, wantSig)
	}
	if sdk := sdkSignV1("GET", p, "testsecret"); sdk != wantSig {
		t.Fatalf("the SDK signs %s, the documented vector is %s", sdk, wantSig)
	}
	// Signature itself is never signed: adding it changes nothing.
	p["Signature"] = wantSig
	if got := SignV1("GET", p, "testsecret"); got != wantSig {
		t.Fatalf("Signature took part in its own signature: %s", got)
	}
}

// TestSignV1AgreesWithSDK covers what the known answer does not: empty
// values (which are signed), names that need encoding, flattened list and
// map names, both methods, and secrets with awkward bytes.
func TestSignV1AgreesWithSDK(t *testing.T) {
	tests := []struct {
		name   string
		method string
		params Params
		secret string
	}{
		{"empty value kept", "POST", Params{"Action": "A", "RegionId": ""}, "s"},
		{"flattened names", "POST", Params{"Tags.1.Key": "k", "Tags.1.Value": "v w", "Sans.Map.a": "b"}, "s"},
		{"reserved characters", "GET", Params{"Subject": "CN=a+b,O=x\\,y;*~", "Q": "a&b=c%2F"}, "s"},
		{"utf-8 name and value", "POST", Params{"名字": "值 ~*+", "é": "ü"}, "s"},
		{"secret with &, unicode", "POST", Params{"Action": "A"}, "p&ss wörd=="},
		{"empty secret", "GET", Params{"Action": "A"}, ""},
		{"byte-order sort", "GET", Params{"a": "1", "B": "2", "_": "3", "A.10": "4", "A.2": "5"}, "s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, want := SignV1(tc.method, tc.params, tc.secret), sdkSignV1(tc.method, tc.params, tc.secret); got != want {
				t.Fatalf("got %s, SDK %s (string to sign %s)", got, want, StringToSignV1(tc.method, tc.params))
			}
		})
	}
}

// TestStringToSignV1Shape checks the pieces that the documentation spells
// out: METHOD, the encoded "/", and a doubly encoded parameter string.
func TestStringToSignV1Shape(t *testing.T) {
	sts := StringToSignV1("POST", Params{"B": "x y", "A": "", "Signature": "zzz"})
	if want := "POST&%2F&A%3D%26B%3Dx%2520y"; sts != want {
		t.Fatalf("got %s, want %s", sts, want)
	}
	if strings.Contains(sts, "zzz") {
		t.Fatal("Signature is part of the string to sign")
	}
}

// sdkSignV1 is darabonba-openapi's own RPC signer (what the v3 SDKs run
// with SignatureAlgorithm "v2"). Signature is left out as the SDK leaves it.
func sdkSignV1(method string, p Params, secret string) string {
	m := map[string]*string{}
	for k, v := range p {
		if k != "Signature" {
			m[k] = tea.String(v)
		}
	}
	return tea.StringValue(openapiutil.GetRPCSignature(m, tea.String(method), tea.String(secret)))
}

// TestStringToSignV1IsTheDoubleEncoding checks the one-pass string to sign
// against the recipe it stands for, pe(pe(k)=pe(v) joined by &), built
// from percentEncode, over names and values full of bytes that need
// escaping (the escape character itself, separators, UTF-8, invalid UTF-8).
func TestStringToSignV1IsTheDoubleEncoding(t *testing.T) {
	alphabet := []string{"a", "Z", "0", "-", "_", ".", "~", "%", "=", "&", "+", "*", " ", "/", "中", "\xff", "\x00"}
	rng := rand.New(rand.NewPCG(1, 2))
	word := func() string {
		var b strings.Builder
		for range rng.IntN(8) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	for range 2000 {
		p := Params{"Signature": word()}
		for range rng.IntN(6) {
			p[word()] = word()
		}
		var pairs []string
		for _, k := range p.sortedKeys() {
			if k != "Signature" {
				pairs = append(pairs, percentEncode(k)+"="+percentEncode(p[k]))
			}
		}
		want := "POST&%2F&" + percentEncode(strings.Join(pairs, "&"))
		if got := StringToSignV1("POST", p); got != want {
			t.Fatalf("StringToSignV1(%q)\n got %s\nwant %s", p, got, want)
		}
	}
}
