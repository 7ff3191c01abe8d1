package csrgen

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("h%d.example.com", i)
	}
	return out
}

func jsonArray(ss []string) string {
	return `["` + strings.Join(ss, `","`) + `"]`
}

func TestParseSANJSON(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"array", `["a.example.com","b.example.com"]`, []string{"a.example.com", "b.example.com"}},
		{"array with spaces", " [ \"a.example.com\" ] ", []string{"a.example.com"}},
		{"array dedupe case-insensitive", `["a.example.com","A.EXAMPLE.COM","b.example.com"]`, []string{"a.example.com", "b.example.com"}},
		{"wildcard", `["*.example.com","example.com"]`, []string{"*.example.com", "example.com"}},
		{"object of strings, sorted keys", `{"b":"b.example.com","a":"a.example.com"}`, []string{"a.example.com", "b.example.com"}},
		{"object of arrays", `{"2":["c.example.com","d.example.com"],"1":["a.example.com"]}`, []string{"a.example.com", "c.example.com", "d.example.com"}},
		{"object mixed, deduped", `{"x":"a.example.com","y":["a.example.com","b.example.com"]}`, []string{"a.example.com", "b.example.com"}},
		{"10 names", jsonArray(names(10)), names(10)},
		{"11 entries, 10 distinct", jsonArray(append(names(10), "h0.example.com")), names(10)},
		{"blank", "  ", nil},
		{"null", "null", nil},
		{"empty array", "[]", nil},
		{"empty object", "{}", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSANJSON(tt.in)
			if err != nil {
				t.Fatalf("ParseSANJSON(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseSANJSON(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseSANJSONInvalid(t *testing.T) {
	tests := []struct{ name, in, msg string }{
		{"11 names", jsonArray(names(11)), "more than 10"},
		{"11 names in an object", `{"a":` + jsonArray(names(6)) + `,"b":` + jsonArray(names(11)[6:]) + `}`, "more than 10"},
		{"bad JSON", `["a.example.com"`, "JSON array"},
		{"trailing garbage", `["a.example.com"] x`, "JSON array"},
		{"string not array", `"a.example.com"`, "JSON array or object"},
		{"number", `42`, "JSON array or object"},
		{"number element", `["a.example.com", 1]`, "JSON array"},
		{"null element", `["a.example.com", null]`, "JSON array"},
		{"nested array", `[["a.example.com"]]`, "JSON array"},
		{"object with number", `{"a":1}`, "string or an array"},
		{"object with null", `{"a":null}`, "string or an array"},
		{"object with object", `{"a":{"b":"c.example.com"}}`, "string or an array"},
		{"object with nested array", `{"a":[["c.example.com"]]}`, "string or an array"},
		{"bad name", `["bad_name.example.com"]`, "DNS name"},
		{"empty name", `[""]`, "DNS name is empty"},
		{"IP as name", `["10.0.0.1"]`, "all-numeric"},
		{"wildcard TLD", `["*.com"]`, "wildcard"},
		{"partial wildcard", `["w*.example.com"]`, "wildcard"},
		{"bad name in object", `{"a":"ok.example.com","b":"-bad.example.com"}`, "hyphen"},
		{"too long", `["` + strings.Repeat("a", maxSANJSONLen) + `"]`, "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSANJSON(tt.in)
			if !errors.Is(err, ErrInvalidSAN) {
				t.Fatalf("ParseSANJSON = %q, %v; want ErrInvalidSAN", got, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("message %q does not contain %q", err, tt.msg)
			}
		})
	}
}

func TestParseTypedSANJSON(t *testing.T) {
	got, err := ParseTypedSANJSON(`[{"Type":2,"Value":"a.example.com"},{"Type":"1","Value":"ops@example.com"},
		{"Type":7,"Value":"10.0.0.1"},{"Type":6,"Value":"spiffe://example.org/x"},{"Type":2,"Value":"a.example.com"}]`)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.DNSNames, []string{"a.example.com"}) || !reflect.DeepEqual(got.EmailAddresses, []string{"ops@example.com"}) ||
		len(got.IPAddresses) != 1 || got.IPAddresses[0].String() != "10.0.0.1" || len(got.URIs) != 1 || got.URIs[0].Host != "example.org" {
		t.Errorf("ParseTypedSANJSON = %+v", got)
	}
	for _, bad := range []string{
		``, `{}`, `[{"Type":3,"Value":"x"}]`, `[{"Type":"x","Value":"a.example.com"}]`, `[{"Value":"a.example.com"}]`,
		`[{"Type":2,"Value":"*.com"}]`, `[{"Type":1,"Value":"nope"}]`, `[{"Type":7,"Value":"1.2.3"}]`, `[{"Type":6,"Value":"rel/path"}]`,
	} {
		t.Run(bad, func(t *testing.T) {
			if _, err := ParseTypedSANJSON(bad); !errors.Is(err, ErrInvalidSAN) {
				t.Errorf("ParseTypedSANJSON(%q) = %v, want ErrInvalidSAN", bad, err)
			}
		})
	}
}
