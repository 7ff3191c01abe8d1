package certmgr

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"
)

// BenchmarkPolicyWildcard decides a request whose resource is n colons
// long against a policy with several stars, the input that made the old
// backtracking matcher quadratic (20k colons cost 0.6 s). With SetBytes the
// figure to read is MB/s: it stays flat as n grows by a factor of 1000.
func BenchmarkPolicyWildcard(b *testing.B) {
	for _, pc := range []struct{ name, resource string }{
		{"stars2", `"acs:yundun-cert:*:*:certificate/*"`},
		// Five stars and a ?: exponential for a backtracking matcher.
		{"stars5", `["acs:*:*:*:*:certificate/?*"]`},
	} {
		p, err := ParsePolicy(`{"Version":"1","Statement":[{"Effect":"Allow","Action":"yundun-cert:*","Resource":` + pc.resource + `}]}`)
		if err != nil {
			b.Fatal(err)
		}
		for _, n := range []int{1_000, 10_000, 100_000, 1_000_000} {
			b.Run(fmt.Sprintf("%s/n=%d", pc.name, n), func(b *testing.B) {
				req := PolicyRequest{Action: "yundun-cert:CreateServerCertificate", Resource: "acs:yundun-cert:cn-hangzhou:" + strings.Repeat(":", n), Now: time.Now()}
				b.SetBytes(int64(n))
				for b.Loop() {
					if p.Allows(req) {
						b.Fatal("allowed")
					}
				}
			})
		}
	}
}

// backtrackWildcard is the matcher policy.go used before: correct, and
// exponential in the number of stars. It is the oracle for short inputs.
func backtrackWildcard(p, s string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for i := len(s); i >= 0; i-- {
				if backtrackWildcard(p[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
			p, s = p[1:], s[1:]
		default:
			if s == "" || p[0] != s[0] {
				return false
			}
			p, s = p[1:], s[1:]
		}
	}
	return s == ""
}

// regexpWildcard is the second oracle, linear like the new matcher (RE2),
// for inputs too long to backtrack: each byte becomes the rune of the same
// value, so that "." (one rune) is exactly one byte as ? is.
func regexpWildcard(t testing.TB, p, s string) bool {
	t.Helper()
	var re strings.Builder
	re.WriteString(`(?s)^`)
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '*':
			re.WriteString(`.*`)
		case '?':
			re.WriteString(`.`)
		default:
			re.WriteString(regexp.QuoteMeta(string(rune(p[i]))))
		}
	}
	re.WriteString(`$`)
	runes := make([]rune, len(s))
	for i := 0; i < len(s); i++ {
		runes[i] = rune(s[i])
	}
	return regexp.MustCompile(re.String()).MatchString(string(runes))
}

// randomGlob draws from a small alphabet so that matches are frequent.
func randomGlob(r *rand.Rand, n int, alphabet string) string {
	b := make([]byte, r.IntN(n+1))
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

// TestWildcardMatchesOracles compares the linear matcher with the old
// backtracking one on short random inputs, and with regexp on long ones
// whose segments span several 64-bit words.
func TestWildcardMatchesOracles(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	matches := 0
	for i := range 200_000 {
		p, s := randomGlob(r, 10, "ab:*?"), randomGlob(r, 14, "ab:")
		got, want := wildcard(p, s), backtrackWildcard(p, s)
		if got != want {
			t.Fatalf("case %d: wildcard(%q, %q) = %v, backtracking says %v", i, p, s, got, want)
		}
		if got {
			matches++
		}
	}
	for i := range 3_000 {
		// Long segments: runs of a, b and ? with few stars, against text
		// built to contain near-misses.
		p := randomGlob(r, 300, "aaaab??b*:")
		s := randomGlob(r, 600, "aab:")
		if r.IntN(2) == 0 {
			s = strings.NewReplacer("?", "a", "*", "ab").Replace(p) // often a match
		}
		got, want := wildcard(p, s), regexpWildcard(t, p, s)
		if got != want {
			t.Fatalf("long case %d: wildcard(%q, %q) = %v, regexp says %v", i, p, s, got, want)
		}
		if got {
			matches++
		}
	}
	if matches < 1000 {
		t.Fatalf("only %d matches: the random inputs do not exercise matching", matches)
	}
}

// FuzzWildcard: the linear matcher agrees with regexp on any pattern and
// input, including bytes that are not UTF-8.
func FuzzWildcard(f *testing.F) {
	f.Add("acs:yundun-cert:*:*:certificate/*", "acs:yundun-cert:cn-hangzhou:1234:certificate/abc")
	f.Add("kms:?etCertificate", "kms:GetCertificate")
	f.Add("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaa")
	f.Add("a?\xff*", "a\xfe\xff\x00")
	f.Fuzz(func(t *testing.T, p, s string) {
		// The matcher is linear; the regexp oracle is O(len(p)·len(s)),
		// so inputs stay small enough to keep the fuzzer fast. Segments
		// longer than one 64-bit word still fit.
		if len(p) > 512 || len(s) > 4096 {
			return
		}
		if got, want := wildcard(p, s), regexpWildcard(t, p, s); got != want {
			t.Fatalf("wildcard(%q, %q) = %v, regexp says %v", p, s, got, want)
		}
	})
}
