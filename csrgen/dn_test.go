package csrgen

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

var (
	oCN     = asn1.ObjectIdentifier{2, 5, 4, 3}
	oC      = asn1.ObjectIdentifier{2, 5, 4, 6}
	oL      = asn1.ObjectIdentifier{2, 5, 4, 7}
	oST     = asn1.ObjectIdentifier{2, 5, 4, 8}
	oSTREET = asn1.ObjectIdentifier{2, 5, 4, 9}
	oO      = asn1.ObjectIdentifier{2, 5, 4, 10}
	oOU     = asn1.ObjectIdentifier{2, 5, 4, 11}
	oSerial = asn1.ObjectIdentifier{2, 5, 4, 5}
	oDC     = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}
	oUID    = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}
	oEmail  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
)

func at(oid asn1.ObjectIdentifier, v string) Attribute { return Attribute{Type: oid, Value: v} }

// dnOf builds a DN in ASN.1 order from single-valued RDNs.
func dnOf(attrs ...Attribute) DN {
	d := make(DN, len(attrs))
	for i, a := range attrs {
		d[i] = RDN{a}
	}
	return d
}

func TestParseDN(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  DN     // ASN.1 order
		print string // canonical String(); "" means same as in
	}{
		{"single", "CN=example.com", dnOf(at(oCN, "example.com")), ""},
		{"kms subject", "CN=example.com,OU=IT,O=Example,C=CN",
			dnOf(at(oC, "CN"), at(oO, "Example"), at(oOU, "IT"), at(oCN, "example.com")), ""},
		{"escaped comma", `O=Foo\, Inc.,C=US`, dnOf(at(oC, "US"), at(oO, "Foo, Inc.")), ""},
		{"escaped plus", `CN=a\+b`, dnOf(at(oCN, "a+b")), ""},
		{"escaped quote", `CN=\"quoted\"`, dnOf(at(oCN, `"quoted"`)), ""},
		{"escaped backslash", `CN=back\\slash`, dnOf(at(oCN, `back\slash`)), ""},
		{"escaped angles", `CN=\<tag\>`, dnOf(at(oCN, "<tag>")), ""},
		{"escaped semicolon", `CN=semi\;colon`, dnOf(at(oCN, "semi;colon")), ""},
		{"escaped equals", `CN=eq\=ual`, dnOf(at(oCN, "eq=ual")), "CN=eq=ual"},
		{"leading sharp", `CN=\#hash`, dnOf(at(oCN, "#hash")), ""},
		{"leading space", `CN=\ lead`, dnOf(at(oCN, " lead")), ""},
		{"trailing space", `CN=trail\ `, dnOf(at(oCN, "trail ")), ""},
		{"only a space", `CN=\ `, dnOf(at(oCN, " ")), ""},
		{"two spaces via hex", `CN=\20\20`, dnOf(at(oCN, "  ")), `CN=\ \ `},
		{"hex pair special", `CN=\2C`, dnOf(at(oCN, ",")), `CN=\,`},
		{"hex pairs UTF-8", `O=\E4\B8\AD\E6\96\87`, dnOf(at(oO, "中文")), "O=中文"},
		{"lower-case hex pairs", `CN=caf\c3\a9`, dnOf(at(oCN, "café")), "CN=café"},
		{"hex pair control", `CN=a\0Ab`, dnOf(at(oCN, "a\nb")), ""},
		{"sharp UTF8String", "CN=#0C03666F6F", dnOf(at(oCN, "foo")), "CN=foo"},
		{"sharp PrintableString", "C=#13024e4c", dnOf(at(oC, "NL")), "C=NL"},
		{"sharp BMPString", "CN=#1E0400410042", dnOf(at(oCN, "AB")), "CN=AB"},
		{"sharp then space", "CN=#0C0161 ,O=b", dnOf(at(oO, "b"), at(oCN, "a")), "CN=a,O=b"},
		{"multi-valued RDN", "CN=a+UID=b,O=x",
			DN{RDN{at(oO, "x")}, RDN{at(oCN, "a"), at(oUID, "b")}}, ""},
		{"Chinese organisation", "CN=www.example.cn,O=阿里云计算有限公司,C=CN",
			dnOf(at(oC, "CN"), at(oO, "阿里云计算有限公司"), at(oCN, "www.example.cn")), ""},
		{"dotted OID of known type", "2.5.4.3=foo", dnOf(at(oCN, "foo")), "CN=foo"},
		{"dotted OID unknown", "1.2.3.4=bar", dnOf(at(asn1.ObjectIdentifier{1, 2, 3, 4}, "bar")), ""},
		{"OID. prefix", "oid.2.5.4.10=org", dnOf(at(oO, "org")), "O=org"},
		{"whitespace around separators", "  CN = foo ,  O = bar  ", dnOf(at(oO, "bar"), at(oCN, "foo")), "CN=foo,O=bar"},
		{"whitespace around plus", "CN=a + UID=b", DN{RDN{at(oCN, "a"), at(oUID, "b")}}, "CN=a+UID=b"},
		{"inner spaces kept", "CN=a  b", dnOf(at(oCN, "a  b")), ""},
		{"case-insensitive types",
			"cn=x,ou=u,o=y,street=s,l=l,st=z,s=w,c=CN,dc=com,uid=u1,EMAILADDRESS=a@b.c,e=d@e.f,SERIALNUMBER=1",
			dnOf(at(oSerial, "1"), at(oEmail, "d@e.f"), at(oEmail, "a@b.c"), at(oUID, "u1"), at(oDC, "com"),
				at(oC, "CN"), at(oST, "w"), at(oST, "z"), at(oL, "l"), at(oSTREET, "s"), at(oO, "y"), at(oOU, "u"), at(oCN, "x")),
			"CN=x,OU=u,O=y,STREET=s,L=l,ST=z,ST=w,C=CN,DC=com,UID=u1,emailAddress=a@b.c,emailAddress=d@e.f,serialNumber=1"},
		{"semicolon separator", "CN=a;O=b", dnOf(at(oO, "b"), at(oCN, "a")), "CN=a,O=b"},
		{"quoted value", `CN="a, b + c"`, dnOf(at(oCN, "a, b + c")), `CN=a\, b \+ c`},
		{"quoted value keeps spaces", `CN=" x "`, dnOf(at(oCN, " x ")), `CN=\ x\ `},
		{"empty value", "CN=", dnOf(at(oCN, "")), ""},
		{"unescaped equals and sharp inside", "CN=a=b#c", dnOf(at(oCN, "a=b#c")), ""},
		{"OpenSSL RFC2253 output", `UID=aaa+CN=zzz,O=\E9\98\BF\E9\87\8C\E4\BA\91,C=CN`,
			DN{RDN{at(oC, "CN")}, RDN{at(oO, "阿里云")}, RDN{at(oUID, "aaa"), at(oCN, "zzz")}},
			"UID=aaa+CN=zzz,O=阿里云,C=CN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDN(tt.in)
			if err != nil {
				t.Fatalf("ParseDN(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseDN(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
			want := tt.print
			if want == "" {
				want = tt.in
			}
			s := got.String()
			if s != want {
				t.Errorf("String() = %q, want %q", s, want)
			}
			again, err := ParseDN(s)
			if err != nil {
				t.Fatalf("round trip ParseDN(%q): %v", s, err)
			}
			if !reflect.DeepEqual(again, got) {
				t.Errorf("round trip of %q = %#v, want %#v", s, again, got)
			}
		})
	}
}

func TestParseDNInvalid(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"spaces only", "   "},
		{"no equals", "CN"},
		{"empty type", "=foo"},
		{"type with space inside", "C N=x"},
		{"trailing comma", "CN=foo,"},
		{"leading comma", ",CN=foo"},
		{"double comma", "CN=foo,,O=bar"},
		{"trailing plus", "CN=a+"},
		{"leading plus", "+CN=a"},
		{"plus instead of equals", "CN+O=x"},
		{"unknown short name", "XX=foo"},
		{"unknown long name", "organisation=foo"},
		{"unterminated escape", `CN=foo\`},
		{"invalid escape", `CN=foo\Z`},
		{"half hex pair at end", `CN=\4`},
		{"bad hex pair", `CN=\4G`},
		{"hex pair not UTF-8", `CN=\FF`},
		{"truncated UTF-8 via hex", `O=\E4\B8`},
		{"NUL via hex", `CN=a\00b`},
		{"sharp alone", "CN=#"},
		{"sharp odd digits", "CN=#0C0"},
		{"sharp non-hex", "CN=#ZZ"},
		{"sharp short BER", "CN=#0C03666F"},
		{"sharp trailing BER", "CN=#0C01660000"},
		{"sharp not a string", "CN=#020101"},
		{"sharp constructed", "CN=#30030C0161"},
		{"sharp then junk", "CN=#0C0161x"},
		{"sharp space in hex", "CN=#0C0366 6F6F"},
		{"sharp bad UTF8String", "CN=#0C01FF"},
		{"unterminated quote", `CN="abc`},
		{"junk after quote", `CN="a"b`},
		{"unescaped quote", `CN=a"b`},
		{"unescaped angle", "CN=<x>"},
		{"OID one arc", "1=x"},
		{"OID bad first arc", "3.1=x"},
		{"OID second arc too big", "1.40=x"},
		{"OID leading zero", "1.02=x"},
		{"OID empty arc", "1..2=x"},
		{"OID huge arc", "1.2.99999999999=x"},
		{"OID prefix alone", "OID.=x"},
		{"missing attribute after comma", "CN=a,O"},
		{"too long", "CN=" + strings.Repeat("a", maxDNLen)},
		// Found by FuzzParseDN: short enough to parse, but its escaped
		// String would not parse back.
		{"too long once escaped", "CN=" + strings.Repeat("\x12", maxDNLen/2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseDN(tt.in)
			if !errors.Is(err, ErrInvalidDN) {
				t.Fatalf("ParseDN(%q) = %v, %v; want ErrInvalidDN", tt.in, d, err)
			}
			if !strings.HasPrefix(err.Error(), "csrgen: ") {
				t.Errorf("error %q lacks the csrgen prefix", err)
			}
		})
	}
}

func TestDNStringEscaping(t *testing.T) {
	tests := []struct {
		name string
		in   DN
		want string
	}{
		{"empty DN", DN{}, ""},
		{"specials", dnOf(at(oCN, `a,b+c"d\e<f>g;h`)), `CN=a\,b\+c\"d\\e\<f\>g\;h`},
		{"leading sharp only", dnOf(at(oCN, "#a#")), `CN=\#a#`},
		{"leading and trailing space", dnOf(at(oCN, " a b ")), `CN=\ a b\ `},
		{"NUL", dnOf(at(oCN, "a\x00b")), `CN=a\00b`},
		{"control and DEL", dnOf(at(oCN, "a\tb\x7f")), `CN=a\09b\7F`},
		{"not UTF-8", dnOf(at(oCN, "a\xffb")), `CN=a\FFb`},
		{"bidi control", dnOf(at(oCN, "a\u200eb")), `CN=a\E2\80\8Eb`},
		{"UTF-8 kept", dnOf(at(oO, "阿里云")), "O=阿里云"},
		{"unknown OID", dnOf(at(asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 60, 2, 1, 3}, "CN")), "1.3.6.1.4.1.311.60.2.1.3=CN"},
		{"order reversed", dnOf(at(oC, "CN"), at(oO, "o"), at(oCN, "c")), "CN=c,O=o,C=CN"},
		{"multi-valued order kept", DN{RDN{at(oUID, "u"), at(oCN, "c")}}, "UID=u+CN=c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDNGetAndEqual(t *testing.T) {
	d, err := ParseDN("CN=c,OU=b,OU=a,O=o,C=CN")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		want []string
	}{
		{"CN", []string{"c"}},
		{"cn", []string{"c"}},
		{"commonName", []string{"c"}},
		{"2.5.4.3", []string{"c"}},
		{"OU", []string{"a", "b"}}, // ASN.1 order
		{"L", nil},
		{"nonsense", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := d.Get(tt.name); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Get(%q) = %q, want %q", tt.name, got, tt.want)
			}
		})
	}
	a := DN{RDN{at(oCN, "x"), at(oUID, "y")}}
	b := DN{RDN{at(oUID, "y"), at(oCN, "x")}}
	c := DN{RDN{at(oUID, "y"), at(oCN, "X")}}
	if !a.Equal(b) || a.Equal(c) || a.Equal(dnOf(at(oCN, "x"))) || !DN(nil).Equal(DN{}) {
		t.Error("Equal does not treat an RDN as a set or compares wrongly")
	}
}

func TestRDNSequenceRoundTrip(t *testing.T) {
	d, err := ParseDN("CN=a+UID=b,O=阿里云,C=CN")
	if err != nil {
		t.Fatal(err)
	}
	seq := d.RDNSequence()
	if len(seq) != 3 || !seq[0][0].Type.Equal(oC) || seq[0][0].Value != "CN" {
		t.Fatalf("RDNSequence not in ASN.1 order: %v", seq)
	}
	// encoding/asn1's own encoding of the sequence decodes to the same DN.
	der, err := asn1.Marshal(seq)
	if err != nil {
		t.Fatal(err)
	}
	var back pkix.RDNSequence
	if _, err := asn1.Unmarshal(der, &back); err != nil {
		t.Fatal(err)
	}
	if got := DNFromRDNSequence(back); !got.Equal(d) {
		t.Errorf("DNFromRDNSequence = %v, want %v", got, d)
	}
	// Latin-1 T61String and non-string values stay printable.
	odd := DNFromRDNSequence(pkix.RDNSequence{{{Type: oCN, Value: "caf\xe9"}}, {{Type: oO, Value: 5}}})
	if got, want := odd.String(), `O=\#020105,CN=café`; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestDNMarshalStringTypes(t *testing.T) {
	tests := []struct {
		name string
		attr Attribute
		tag  int
	}{
		{"C printable", at(oC, "CN"), asn1.TagPrintableString},
		{"C not printable", at(oC, "中国"), asn1.TagUTF8String},
		{"serialNumber printable", at(oSerial, "ABC 123"), asn1.TagPrintableString},
		{"serialNumber underscore", at(oSerial, "a_b"), asn1.TagUTF8String},
		{"emailAddress ASCII", at(oEmail, "a@example.com"), asn1.TagIA5String},
		{"emailAddress non-ASCII", at(oEmail, "ü@example.com"), asn1.TagUTF8String},
		{"DC", at(oDC, "example"), asn1.TagIA5String},
		{"CN ASCII is UTF8String", at(oCN, "example.com"), asn1.TagUTF8String},
		{"O Chinese", at(oO, "阿里云"), asn1.TagUTF8String},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			der, err := dnOf(tt.attr).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			var seq []rawRDNSET
			if _, err := asn1.Unmarshal(der, &seq); err != nil {
				t.Fatal(err)
			}
			if got := seq[0][0].Value.Tag; got != tt.tag {
				t.Errorf("tag = %d, want %d", got, tt.tag)
			}
			back, err := unmarshalName(der)
			if err != nil || !back.Equal(dnOf(tt.attr)) {
				t.Errorf("unmarshalName = %v, %v", back, err)
			}
		})
	}
	for name, d := range map[string]DN{
		"empty RDN":    {RDN{}},
		"not UTF-8":    dnOf(at(oCN, "\xff")),
		"NUL":          dnOf(at(oCN, "a\x00")),
		"bad type OID": dnOf(at(asn1.ObjectIdentifier{7}, "x")),
	} {
		t.Run("invalid "+name, func(t *testing.T) {
			if _, err := d.Marshal(); !errors.Is(err, ErrInvalidDN) {
				t.Errorf("Marshal = %v, want ErrInvalidDN", err)
			}
		})
	}
}

// TestDNMarshalMatchesOpenSSL is the oracle check: for subjects that both
// syntaxes can express, the Name we encode is byte for byte the one in a
// request made by "openssl req -new -utf8 -subj ...".
func TestDNMarshalMatchesOpenSSL(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := writeKeyPEM(t, key)
	tests := []struct {
		name      string
		subj      string // openssl -subj, ASN.1 order
		rfc4514   string
		multi     bool
		wantNames string // openssl's own RFC 2253 rendering, parsed back
	}{
		{"KMS subject with Chinese O",
			"/C=CN/ST=Zhejiang/L=Hangzhou/O=阿里云计算有限公司/OU=IT/CN=example.com",
			"CN=example.com,OU=IT,O=阿里云计算有限公司,L=Hangzhou,ST=Zhejiang,C=CN", false, ""},
		{"email, DC, serialNumber and a comma",
			"/DC=com/DC=example/CN=Foo, Inc./emailAddress=a@example.com/serialNumber=12 34",
			`serialNumber=12 34,emailAddress=a@example.com,CN=Foo\, Inc.,DC=example,DC=com`, false, ""},
		{"multi-valued RDN",
			"/C=CN/O=Example/CN=zzz+UID=aaa",
			"CN=zzz+UID=aaa,O=Example,C=CN", true, ""},
		// Without -multivalue-rdn, openssl's -subj needs "+" escaped.
		{"specials",
			`/C=US/O=a\+b;c<d>e"f=g/CN=#lead`,
			`CN=\#lead,O=a\+b\;c\<d\>e\"f=g,C=US`, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := writeTemp(t, "req.der", nil)
			args := []string{"req", "-new", "-key", keyFile, "-utf8", "-subj", tt.subj, "-outform", "DER", "-out", out}
			if tt.multi {
				args = append(args, "-multivalue-rdn")
			}
			openssl(t, args...)
			der, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			req, err := x509.ParseCertificateRequest(der)
			if err != nil {
				t.Fatal(err)
			}
			d, err := ParseDN(tt.rfc4514)
			if err != nil {
				t.Fatal(err)
			}
			mine, err := d.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(mine, req.RawSubject) {
				t.Errorf("Marshal = %X\nopenssl = %X", mine, req.RawSubject)
			}
			// And openssl's RFC 2253 printing of it parses to the same DN.
			subj := opensslSubject(t, EncodeCSRPEM(der))
			back, err := ParseDN(subj)
			if err != nil {
				t.Fatalf("ParseDN(openssl %q): %v", subj, err)
			}
			if !back.Equal(d) {
				t.Errorf("openssl prints %q = %v, want %v", subj, back, d)
			}
		})
	}
}

// opensslSubject returns "openssl req -subject -nameopt RFC2253" output
// without its "subject=" prefix.
func opensslSubject(t *testing.T, pemText string) string {
	t.Helper()
	f := writeTemp(t, "subj.pem", []byte(pemText))
	out := strings.TrimSpace(openssl(t, "req", "-in", f, "-noout", "-subject", "-nameopt", "RFC2253"))
	return strings.TrimPrefix(out, "subject=")
}

func TestDecodeDirectoryString(t *testing.T) {
	tests := []struct {
		name string
		der  []byte
		want string // "" with ok=false means an error is expected
		ok   bool
	}{
		{"UTF8String", []byte{0x0c, 0x03, 0xe4, 0xb8, 0xad}, "中", true},
		{"PrintableString", []byte{0x13, 0x02, 'C', 'N'}, "CN", true},
		{"IA5String", []byte{0x16, 0x03, 'a', '@', 'b'}, "a@b", true},
		{"NumericString", []byte{0x12, 0x02, '1', '2'}, "12", true},
		{"VisibleString", []byte{0x1a, 0x01, 'v'}, "v", true},
		{"T61String as Latin-1", []byte{0x14, 0x04, 'c', 'a', 'f', 0xe9}, "café", true},
		{"BMPString", []byte{0x1e, 0x04, 0x4e, 0x2d, 0x00, 0x41}, "中A", true},
		{"UniversalString", []byte{0x1c, 0x08, 0, 0, 0x4e, 0x2d, 0, 0, 0, 0x41}, "中A", true},
		{"bad UTF8String", []byte{0x0c, 0x01, 0xff}, "", false},
		{"non-ASCII PrintableString", []byte{0x13, 0x01, 0xe9}, "", false},
		{"odd BMPString", []byte{0x1e, 0x01, 0x41}, "", false},
		{"short UniversalString", []byte{0x1c, 0x03, 0, 0, 0x41}, "", false},
		{"UniversalString surrogate", []byte{0x1c, 0x04, 0, 0, 0xd8, 0x00}, "", false},
		{"NUL", []byte{0x0c, 0x01, 0x00}, "", false},
		{"INTEGER", []byte{0x02, 0x01, 0x05}, "", false},
		{"context class", []byte{0x80, 0x01, 'a'}, "", false},
		{"constructed", []byte{0x30, 0x03, 0x0c, 0x01, 'a'}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rv asn1.RawValue
			if _, err := asn1.Unmarshal(tt.der, &rv); err != nil {
				t.Fatal(err)
			}
			got, err := decodeDirectoryString(rv)
			if tt.ok != (err == nil) || got != tt.want {
				t.Fatalf("decodeDirectoryString = %q, %v; want %q ok=%v", got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestUnmarshalNameInvalid(t *testing.T) {
	good, err := dnOf(at(oCN, "x")).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string][]byte{
		"trailing data":    append(append([]byte(nil), good...), 0),
		"not a sequence":   {0x31, 0x00},
		"empty RDN":        {0x30, 0x02, 0x31, 0x00},
		"non-string value": {0x30, 0x0c, 0x31, 0x0a, 0x30, 0x08, 0x06, 0x03, 0x55, 0x04, 0x03, 0x02, 0x01, 0x05},
	}
	for name, der := range tests {
		t.Run(name, func(t *testing.T) {
			if d, err := unmarshalName(der); err == nil {
				t.Errorf("unmarshalName = %v, want an error", d)
			}
		})
	}
}

func TestParseDNQuotedEscapes(t *testing.T) {
	d, err := ParseDN(`CN="a\"b\\c\2Cd;e"`)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Get("CN"); len(got) != 1 || got[0] != `a"b\c,d;e` {
		t.Fatalf("CN = %q", got)
	}
	if _, err := ParseDN(`CN="a\Zb"`); !errors.Is(err, ErrInvalidDN) {
		t.Errorf("bad escape inside quotes: %v", err)
	}
}
