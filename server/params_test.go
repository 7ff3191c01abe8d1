package server

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/certcustody/certcustody/certmgr"
)

func codeOf(err error) string {
	var e *certmgr.Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err != nil {
		return "non-API error: " + err.Error()
	}
	return ""
}

// TestParseParamsEdges complements TestParseParamsMergesAndRefusesDuplicates
// with the limits and encodings a hostile or odd client can send.
func TestParseParamsEdges(t *testing.T) {
	many := make([]string, maxParams+1)
	for i := range many {
		many[i] = fmt.Sprintf("P%d=x", i)
	}
	tests := []struct {
		name, method, query, body, ctype string
		want                             Params
		code                             string
	}{
		{"same value twice in query", "GET", "A=1&A=1", "", "", nil, "InvalidParameter"},
		{"twice in body", "POST", "", "A=1&A=2", "application/x-www-form-urlencoded", nil, "InvalidParameter"},
		{"plus is space, %2B is plus", "GET", "A=a+b&B=a%2Bb", "", "", Params{"A": "a b", "B": "a+b"}, ""},
		{"empty name kept", "GET", "=v", "", "", Params{"": "v"}, ""},
		{"name without value", "GET", "A", "", "", Params{"A": ""}, ""},
		{"semicolon separator refused", "GET", "A=1;B=2", "", "", nil, "InvalidParameter"},
		{"bad escape in body", "POST", "", "A=%G1", "application/x-www-form-urlencoded", nil, "InvalidParameter"},
		{"media type case-insensitive", "POST", "", "A=1", "Application/X-WWW-Form-URLEncoded; charset=UTF-8", Params{"A": "1"}, ""},
		{"garbled content type ignored", "POST", "", "A=1", "application/x-www-form-urlencoded; ;;=", Params{}, ""},
		{"GET form body merged", "GET", "A=1", "B=2", "application/x-www-form-urlencoded", Params{"A": "1", "B": "2"}, ""},
		{"too many parameters", "GET", strings.Join(many, "&"), "", "", nil, "InvalidParameter"},
		{"exactly the limit", "GET", strings.Join(many[:maxParams], "&"), "", "", nil, ""},
		{"names are case-sensitive", "GET", "action=a&Action=b", "", "", Params{"action": "a", "Action": "b"}, ""},
		{"utf-8 and NUL survive", "GET", "A=%E4%B8%AD%00", "", "", Params{"A": "中\x00"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "/", strings.NewReader(tc.body))
			r.URL.RawQuery = tc.query
			if tc.ctype != "" {
				r.Header.Set("Content-Type", tc.ctype)
			}
			got, err := ParseParams(r, []byte(tc.body))
			if c := codeOf(err); c != tc.code {
				t.Fatalf("code %q, want %q (%v)", c, tc.code, err)
			}
			if tc.want == nil {
				return
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			for k, v := range tc.want {
				if g, ok := got[k]; !ok || g != v {
					t.Fatalf("%q = %q, want %q", k, g, v)
				}
			}
		})
	}
}

func TestParamsScalars(t *testing.T) {
	p := Params{"S": "x", "E": "", "I": "-42", "Big": "99999999999999999999", "Sp": " 5", "T": "True", "F": "false", "One": "1"}
	if v, err := p.Required("S"); v != "x" || err != nil {
		t.Fatalf("Required(S) = %q %v", v, err)
	}
	for _, name := range []string{"E", "Absent"} {
		_, err := p.Required(name)
		if codeOf(err) != "MissingParameter" || !strings.Contains(err.Error(), name) {
			t.Fatalf("Required(%s): %v", name, err)
		}
	}
	ints := []struct {
		name string
		want int
		code string
	}{
		{"I", -42, ""}, {"Absent", 7, ""}, {"E", 7, ""}, {"S", 0, "InvalidParameter"},
		{"Big", 0, "InvalidParameter"}, {"Sp", 0, "InvalidParameter"}, {"T", 0, "InvalidParameter"},
	}
	for _, tc := range ints {
		got, err := p.Int(tc.name, 7)
		if codeOf(err) != tc.code || (tc.code == "" && got != tc.want) {
			t.Errorf("Int(%s) = %d %v, want %d %q", tc.name, got, err, tc.want, tc.code)
		}
	}
	bools := []struct {
		name string
		want bool
		code string
	}{
		{"T", true, ""}, {"F", false, ""}, {"Absent", true, ""}, {"E", true, ""},
		{"One", false, "InvalidParameter"}, {"S", false, "InvalidParameter"},
	}
	for _, tc := range bools {
		got, err := p.Bool(tc.name, true)
		if codeOf(err) != tc.code || (tc.code == "" && got != tc.want) {
			t.Errorf("Bool(%s) = %v %v, want %v %q", tc.name, got, err, tc.want, tc.code)
		}
	}
}

func TestParamsListEdges(t *testing.T) {
	tests := []struct {
		name string
		p    Params
		want string // joined by "|"; "ERR" for an InvalidParameter
	}{
		{"none", Params{"Other": "x"}, ""},
		{"numeric not lexical order", Params{"E.1": "a", "E.2": "b", "E.3": "c", "E.4": "d", "E.5": "e", "E.6": "f", "E.7": "g", "E.8": "h", "E.9": "i", "E.10": "j"}, "a|b|c|d|e|f|g|h|i|j"},
		{"other prefixes ignored", Params{"E.1": "a", "EE.2": "x", "e.2": "y", "Ex": "z"}, "a"},
		{"nested names ignored", Params{"E.1": "a", "E.2.Key": "k"}, "a"},
		{"empty values kept", Params{"E.1": "", "E.2": "b"}, "|b"},
		{"gap", Params{"E.1": "a", "E.3": "c"}, "ERR"},
		{"starts at 2", Params{"E.2": "b"}, "ERR"},
		{"zero", Params{"E.0": "a"}, "ERR"},
		{"negative", Params{"E.-1": "a"}, "ERR"},
		{"plus sign", Params{"E.+1": "a"}, "ERR"},
		{"leading zero", Params{"E.01": "a"}, "ERR"},
		{"space", Params{"E. 1": "a"}, "ERR"},
		{"huge", Params{"E.99999999999999999999": "a"}, "ERR"},
		{"above the cap", Params{fmt.Sprintf("E.%d", maxListEntries+1): "a"}, "ERR"},
		{"empty index", Params{"E.": "a"}, "ERR"},
		{"non-numeric", Params{"E.x": "a"}, "ERR"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.p.List("E")
			if tc.want == "ERR" {
				if codeOf(err) != "InvalidParameter" {
					t.Fatalf("got %q %v, want InvalidParameter", got, err)
				}
				return
			}
			if err != nil || strings.Join(got, "|") != tc.want || got == nil {
				t.Fatalf("got %q %v, want %q", got, err, tc.want)
			}
		})
	}
}

func TestParamsMapEdges(t *testing.T) {
	p := Params{"Tag.Key": "k", "Tag.a.b": "deep", "Tag.": "empty name", "Tags.X": "other", "Tag": "bare", "tag.y": "case"}
	m := p.Map("Tag")
	if len(m) != 2 || m["Key"] != "k" || m["a.b"] != "deep" {
		t.Fatalf("got %q", m)
	}
	var nilParams Params
	if nilParams.Get("x") != "" || len(nilParams.Map("x")) != 0 {
		t.Fatal("nil Params")
	}
	if l, err := nilParams.List("x"); err != nil || len(l) != 0 {
		t.Fatalf("nil Params List: %v %v", l, err)
	}
}
