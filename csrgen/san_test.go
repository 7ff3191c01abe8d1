package csrgen

import (
	"errors"
	"net"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func TestValidateDNSName(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"simple", "example.com", true},
		{"subdomain", "a.b.example.com", true},
		{"single label", "localhost", true},
		{"upper case", "WWW.Example.COM", true},
		{"hyphen and digits", "a-1.x9.example.com", true},
		{"punycode", "xn--fiqs8s.xn--55qx5d.cn", true},
		{"63-character label", label63 + ".com", true},
		{"253 characters", strings.Repeat(label63+".", 3) + strings.Repeat("a", 61), true},
		{"wildcard", "*.example.com", true},
		{"wildcard two-label suffix", "*.co.uk", true},
		{"empty", "", false},
		{"254 characters", strings.Repeat(label63+".", 3) + strings.Repeat("a", 62), false},
		{"64-character label", strings.Repeat("a", 64) + ".com", false},
		{"trailing dot", "example.com.", false},
		{"leading dot", ".example.com", false},
		{"double dot", "a..example.com", false},
		{"leading hyphen", "-a.example.com", false},
		{"trailing hyphen", "a-.example.com", false},
		{"underscore", "_srv.example.com", false},
		{"space", "a b.com", false},
		{"non-ASCII", "中文.cn", false},
		{"IPv4 address", "10.0.0.1", false},
		{"all-numeric TLD", "example.123", false},
		{"wildcard on TLD", "*.com", false},
		{"bare wildcard", "*", false},
		{"wildcard dot only", "*.", false},
		{"partial wildcard", "f*.example.com", false},
		{"wildcard not left-most", "a.*.example.com", false},
		{"double wildcard", "*.*.example.com", false},
		{"wildcard and trailing dot", "*.example.com.", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateDNSName(tt.in)
			if tt.ok && err != nil {
				t.Fatalf("ValidateDNSName(%q): %v", tt.in, err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalidSAN) {
				t.Fatalf("ValidateDNSName(%q) = %v, want ErrInvalidSAN", tt.in, err)
			}
		})
	}
}

func TestValidateEmail(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"ops@example.com", true},
		{"first.last+tag@mail.example.cn", true},
		{"o'brien@example.com", true},
		{"", false},
		{"no-at.example.com", false},
		{"@example.com", false},
		{"a@", false},
		{".a@example.com", false},
		{"a..b@example.com", false},
		{"a b@example.com", false},
		{`"quoted"@example.com`, false},
		{"a@b@example.com", false},
		{"ü@example.com", false},
		{"a@*.example.com", false},
		{"a@[10.0.0.1]", false},
		{strings.Repeat("a", 65) + "@example.com", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			err := ValidateEmail(tt.in)
			if tt.ok != (err == nil) || err != nil && !errors.Is(err, ErrInvalidSAN) {
				t.Fatalf("ValidateEmail(%q) = %v, want ok=%v", tt.in, err, tt.ok)
			}
		})
	}
}

func TestValidateURI(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"spiffe://example.org/ns/prod/sa/web", true},
		{"https://example.com:8443/path?q=1", true},
		{"https://[2001:db8::1]/", true},
		{"https://10.0.0.1/", true},
		{"urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6", true},
		{"mailto:ops@example.com", true},
		{"", false},
		{"/relative/path", false},
		{"example.com", false},
		{"https://", false},
		{"https:///path", false},
		{"https://bad_host.example.com/", false},
		{"https://*.example.com/", false},
		{"https://example.com/a b", false},
		{"https://example.com/ü", false},
		{"https://example.com:port/", false},
		{"scheme:", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			err := ValidateURI(tt.in)
			if tt.ok != (err == nil) || err != nil && !errors.Is(err, ErrInvalidSAN) {
				t.Fatalf("ValidateURI(%q) = %v, want ok=%v", tt.in, err, tt.ok)
			}
		})
	}
}

func TestParseIP(t *testing.T) {
	tests := []struct {
		in   string
		want net.IP
	}{
		{"10.0.0.1", net.IP{10, 0, 0, 1}},
		{"::ffff:10.0.0.1", net.IP{10, 0, 0, 1}},
		{"2001:db8::1", net.ParseIP("2001:db8::1")},
		{"", nil},
		{"10.0.0", nil},
		{"10.0.0.256", nil},
		{"fe80::1%eth0", nil},
		{"example.com", nil},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseIP(tt.in)
			if tt.want == nil {
				if !errors.Is(err, ErrInvalidSAN) {
					t.Fatalf("ParseIP(%q) = %v, %v; want ErrInvalidSAN", tt.in, got, err)
				}
				return
			}
			if err != nil || !got.Equal(tt.want) || len(got) != len(tt.want) {
				t.Fatalf("ParseIP(%q) = %v (%d bytes), %v; want %v", tt.in, got, len(got), err, tt.want)
			}
		})
	}
}

func TestParseDomainList(t *testing.T) {
	dns, ips, err := ParseDomainList(" a.example.com, 10.0.0.1 ,A.EXAMPLE.com,2001:db8::1,10.0.0.1,*.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a.example.com", "*.example.com"}; !reflect.DeepEqual(dns, want) {
		t.Errorf("dns = %q, want %q", dns, want)
	}
	if len(ips) != 2 || !ips[0].Equal(net.IP{10, 0, 0, 1}) || !ips[1].Equal(net.ParseIP("2001:db8::1")) {
		t.Errorf("ips = %v", ips)
	}
	for _, bad := range []string{"", " ", "a.com,,b.com", "a.com,bad_name", "*.com", strings.Repeat("a.com,", 100) + "a.com"} {
		t.Run(bad, func(t *testing.T) {
			if _, _, err := ParseDomainList(bad); !errors.Is(err, ErrInvalidSAN) {
				t.Errorf("ParseDomainList(%q) = %v, want ErrInvalidSAN", bad, err)
			}
		})
	}
}

func TestSANExtensionRoundTrip(t *testing.T) {
	u, _ := url.Parse("spiffe://example.org/ns/a")
	in := SANs{
		DNSNames:       []string{"a.example.com", "*.example.com"},
		EmailAddresses: []string{"ops@example.com"},
		IPAddresses:    []net.IP{net.ParseIP("10.0.0.1"), net.ParseIP("2001:db8::1")},
		URIs:           []*url.URL{u},
	}
	ext, err := marshalSANExtension(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := parseSANExtension(ext.Value)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out.DNSNames, in.DNSNames) || !reflect.DeepEqual(out.EmailAddresses, in.EmailAddresses) ||
		len(out.URIs) != 1 || out.URIs[0].String() != u.String() || len(out.IPAddresses) != 2 ||
		len(out.IPAddresses[0]) != 4 || !out.IPAddresses[1].Equal(in.IPAddresses[1]) {
		t.Errorf("round trip = %+v, want %+v", out, in)
	}
	for name, der := range map[string][]byte{
		"empty":           {},
		"not a sequence":  {0x04, 0x00},
		"trailing data":   {0x30, 0x00, 0x00},
		"IP of 5 bytes":   {0x30, 0x07, 0x87, 0x05, 1, 2, 3, 4, 5},
		"non-ASCII DNS":   {0x30, 0x03, 0x82, 0x01, 0xff},
		"universal class": {0x30, 0x03, 0x04, 0x01, 'a'},
		"truncated":       {0x30, 0x03, 0x82, 0x05, 'a'},
		"bad URI":         {0x30, 0x05, 0x86, 0x03, '%', 'z', 'z'},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := parseSANExtension(der); err == nil {
				t.Error("parseSANExtension accepted it")
			}
		})
	}
}

func TestValidateSANs(t *testing.T) {
	good, _ := url.Parse("https://example.com/")
	rel, _ := url.Parse("/relative")
	tests := []struct {
		name string
		s    SANs
		ok   bool
	}{
		{"empty", SANs{}, true},
		{"all kinds", SANs{[]string{"a.example.com"}, []string{"a@example.com"}, []net.IP{net.IPv4(10, 0, 0, 1)}, []*url.URL{good}}, true},
		{"bad DNS", SANs{DNSNames: []string{"*.com"}}, false},
		{"bad email", SANs{EmailAddresses: []string{"nope"}}, false},
		{"bad IP", SANs{IPAddresses: []net.IP{{1, 2, 3}}}, false},
		{"nil URI", SANs{URIs: []*url.URL{nil}}, false},
		{"relative URI", SANs{URIs: []*url.URL{rel}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateSANs(tt.s)
			if tt.ok != (err == nil) || err != nil && !errors.Is(err, ErrInvalidSAN) {
				t.Fatalf("ValidateSANs = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
