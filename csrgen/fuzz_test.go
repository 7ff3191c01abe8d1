package csrgen

import (
	"reflect"
	"testing"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/ (regenerate the CSR seeds
// with "go test -run TestWriteCSRSeeds -write-seeds"); the f.Add seeds
// below cover the same ground so "go test" alone exercises each target.

func FuzzParseDN(f *testing.F) {
	for _, s := range []string{
		"CN=example.com,OU=IT,O=Example,C=CN",
		`O=Foo\, Inc.,CN=\#a\ ,L=\E4\B8\AD`,
		"CN=#0C03666F6F+UID=u,2.5.4.10=x",
		`  cn = "quoted, value" ; o=阿里云计算有限公司`,
		`CN=\20\00`,
		"1.2.3.4=#1E0400410042",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDN(s)
		if err != nil {
			return
		}
		printed := d.String()
		again, err := ParseDN(printed)
		if err != nil {
			t.Fatalf("ParseDN(%q) ok, but its String %q does not parse: %v", s, printed, err)
		}
		if !reflect.DeepEqual(again, d) {
			t.Fatalf("ParseDN(%q) = %#v; String %q parses to %#v", s, d, printed, again)
		}
		// Every parsed DN must also go into a CSR and come back.
		der, err := d.Marshal()
		if err != nil {
			t.Fatalf("Marshal of parsed %q: %v", s, err)
		}
		back, err := unmarshalName(der)
		if err != nil || !back.Equal(d) {
			t.Fatalf("unmarshalName(Marshal(%q)) = %v, %v", s, back, err)
		}
	})
}

func FuzzParseSANJSON(f *testing.F) {
	for _, s := range []string{
		`["a.example.com","*.example.com"]`,
		`{"b":"b.example.com","a":["a.example.com","c.example.com"]}`,
		`["h0.example.com","h1.example.com","h2.example.com","h3.example.com","h4.example.com","h5.example.com","h6.example.com","h7.example.com","h8.example.com","h9.example.com","h10.example.com"]`,
		`[null, 1, "*.com"]`,
		`{"a":{"b":"c"}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := ParseSANJSON(s)
		if err != nil {
			return
		}
		if len(out) > maxKMSSANs {
			t.Fatalf("ParseSANJSON(%q) returned %d names", s, len(out))
		}
		for _, n := range out {
			if err := ValidateDNSName(n); err != nil {
				t.Fatalf("ParseSANJSON(%q) returned invalid %q: %v", s, n, err)
			}
		}
	})
}

func FuzzParseCSR(f *testing.F) {
	for _, s := range csrFuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCSR(data)
		if err != nil {
			return
		}
		again, err := ParseCSR(c.Raw)
		if err != nil {
			t.Fatalf("ParseCSR(Raw) of an accepted request: %v", err)
		}
		if !again.Subject.Equal(c.Subject) || again.KeyAlgorithm != c.KeyAlgorithm {
			t.Fatalf("re-parse differs: %v vs %v", again.Subject, c.Subject)
		}
		// A subject read from a request prints to a string ParseDN reads.
		if len(c.Subject) > 0 {
			d, err := ParseDN(c.Subject.String())
			if err != nil || !d.Equal(c.Subject) {
				t.Fatalf("subject %q does not round-trip: %v", c.Subject.String(), err)
			}
		}
	})
}
