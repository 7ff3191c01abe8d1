package certmgr

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"path"
	"strings"
	"time"
)

// RAM-style policies: {"Version":"1","Statement":[{"Effect","Action",
// "Resource","Condition"}]}. Deny wins; no matching Allow is a deny. A key
// without a policy has full access to its own account.

// Policy is a parsed, validated policy document.
type Policy struct {
	Statements []Statement
}

// Statement is one policy statement.
type Statement struct {
	Allow      bool
	Actions    []string // patterns with * and ?
	Resources  []string
	Conditions []condition
}

type condition struct {
	op     string
	key    string // lower-case, e.g. "acs:sourceip"
	values []string
	nets   []netip.Prefix
	times  []time.Time
}

// PolicyRequest is what a decision looks at.
type PolicyRequest struct {
	Action          string // "kms:CreateCertificate", "yundun-cert:DescribeCACertificate"
	Resource        string // ARN, or "*"
	SourceIP        string
	SecureTransport bool
	// ClientCertSubject is the RFC 2253 subject of the verified TLS client
	// certificate the request came over ("" without one):
	// acs:ClientCertSubject, matched with the String operators.
	ClientCertSubject string
	Now               time.Time
}

var conditionOps = map[string]bool{
	"StringEquals": true, "StringNotEquals": true, "StringLike": true, "StringNotLike": true,
	"IpAddress": true, "NotIpAddress": true, "Bool": true, "DateGreaterThan": true, "DateLessThan": true,
}

var conditionKeys = map[string]bool{"acs:sourceip": true, "acs:securetransport": true, "acs:currenttime": true, "acs:clientcertsubject": true}

// ParsePolicy parses and validates a policy; its error says what is wrong.
func ParsePolicy(doc string) (*Policy, error) {
	if len(doc) > 16<<10 {
		return nil, fmt.Errorf("policy is larger than 16 KB")
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(doc)))
	dec.DisallowUnknownFields()
	var raw struct {
		Version   string
		Statement []struct {
			Effect    string
			Action    json.RawMessage
			Resource  json.RawMessage
			Condition map[string]map[string]json.RawMessage
		}
	}
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("policy is not valid JSON of the expected shape: %v", err)
	}
	if raw.Version != "1" {
		return nil, fmt.Errorf(`policy Version must be "1"`)
	}
	if len(raw.Statement) == 0 || len(raw.Statement) > 100 {
		return nil, fmt.Errorf("policy needs 1 to 100 statements")
	}
	p := &Policy{}
	for i, s := range raw.Statement {
		st := Statement{}
		switch s.Effect {
		case "Allow":
			st.Allow = true
		case "Deny":
		default:
			return nil, fmt.Errorf("statement %d: Effect must be Allow or Deny", i+1)
		}
		var err error
		if st.Actions, err = stringOrList(s.Action); err != nil || len(st.Actions) == 0 {
			return nil, fmt.Errorf("statement %d: Action must be a string or a list of strings", i+1)
		}
		for _, a := range st.Actions {
			if la := strings.ToLower(a); la != "*" && !strings.HasPrefix(la, "kms:") && !strings.HasPrefix(la, "yundun-cert:") {
				return nil, fmt.Errorf("statement %d: action %q is not a kms or yundun-cert action", i+1, a)
			}
			if _, err := path.Match(a, ""); err != nil {
				return nil, fmt.Errorf("statement %d: bad pattern %q", i+1, a)
			}
		}
		if st.Resources, err = stringOrList(s.Resource); err != nil || len(st.Resources) == 0 {
			return nil, fmt.Errorf("statement %d: Resource must be a string or a list of strings", i+1)
		}
		for op, keys := range s.Condition {
			if !conditionOps[op] {
				return nil, fmt.Errorf("statement %d: unknown condition operator %q", i+1, op)
			}
			for key, rawVals := range keys {
				c := condition{op: op, key: strings.ToLower(key)}
				if !conditionKeys[c.key] {
					return nil, fmt.Errorf("statement %d: unknown condition key %q", i+1, key)
				}
				if c.key == "acs:clientcertsubject" && !strings.HasPrefix(op, "String") {
					return nil, fmt.Errorf("statement %d: condition key %s takes the String operators only", i+1, key)
				}
				if c.values, err = stringOrList(rawVals); err != nil || len(c.values) == 0 {
					return nil, fmt.Errorf("statement %d: condition %s %s needs string values", i+1, op, key)
				}
				if err := c.compile(); err != nil {
					return nil, fmt.Errorf("statement %d: condition %s %s: %v", i+1, op, key, err)
				}
				st.Conditions = append(st.Conditions, c)
			}
		}
		p.Statements = append(p.Statements, st)
	}
	return p, nil
}

func stringOrList(raw json.RawMessage) ([]string, error) {
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	err := json.Unmarshal(raw, &many)
	return many, err
}

func (c *condition) compile() error {
	switch c.op {
	case "IpAddress", "NotIpAddress":
		for _, v := range c.values {
			pfx, err := netip.ParsePrefix(v)
			if err != nil {
				addr, aerr := netip.ParseAddr(v)
				if aerr != nil {
					return fmt.Errorf("%q is not an IP address or CIDR", v)
				}
				pfx = netip.PrefixFrom(addr, addr.BitLen())
			}
			c.nets = append(c.nets, pfx)
		}
	case "DateGreaterThan", "DateLessThan":
		for _, v := range c.values {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return fmt.Errorf("%q is not an RFC 3339 time", v)
			}
			c.times = append(c.times, t)
		}
	case "Bool":
		for _, v := range c.values {
			if v != "true" && v != "false" {
				return fmt.Errorf("%q is not true or false", v)
			}
		}
	}
	return nil
}

// Allows decides a request: an explicit Deny wins, then any Allow, else deny.
func (p *Policy) Allows(r PolicyRequest) bool { return p.Decide(r) == Allowed }

func (s *Statement) matches(r PolicyRequest) bool {
	if !anyMatch(s.Actions, r.Action, true) || !anyMatch(s.Resources, r.Resource, false) {
		return false
	}
	for _, c := range s.Conditions {
		if !c.holds(r) {
			return false
		}
	}
	return true
}

// anyMatch matches * and ? wildcards; actions compare case-insensitively.
func anyMatch(patterns []string, v string, fold bool) bool {
	for _, p := range patterns {
		pp, vv := p, v
		if fold {
			pp, vv = strings.ToLower(p), strings.ToLower(v)
		}
		if wildcard(pp, vv) {
			return true
		}
	}
	return false
}

// wildcard reports whether s matches the pattern p, in which * matches any
// run of bytes (including "/" and ":") and ? exactly one byte.
//
// It runs in time linear in s, whatever the pattern: a resource is
// attacker-sized (up to the request body), and a backtracking matcher
// costs O(len(s)^k) for k stars. p splits at its stars into segments
// P0 * P1 * ... * Pk, each of fixed length ('?' is one byte). s matches
// iff P0 is a prefix of s, Pk a suffix, and P1..Pk-1 occur in that order,
// without overlapping, in what lies between. Taking each middle segment at
// its leftmost occurrence is never worse than any other choice (it leaves
// the longest remainder for the segments after it), so one left-to-right
// scan decides: every byte of s is read by exactly one segment search, and
// a search (bit-parallel Shift-And) costs ceil(len(segment)/64) word
// operations per byte. Total: O(len(p) + len(s)·ceil(L/64)) for L the
// longest middle segment, i.e. O(len(p)+len(s)) for segments of up to 64
// bytes, and never more than len(s)·256 word operations under the 16 KB
// policy limit. BenchmarkPolicyWildcard shows the cost per byte flat.
func wildcard(p, s string) bool {
	first := strings.IndexByte(p, '*')
	if first < 0 {
		return len(p) == len(s) && segmentAt(p, s)
	}
	last := strings.LastIndexByte(p, '*')
	head, tail := p[:first], p[last+1:]
	if len(head)+len(tail) > len(s) || !segmentAt(head, s) || !segmentAt(tail, s[len(s)-len(tail):]) {
		return false
	}
	if first == last {
		return true
	}
	mid := s[len(head) : len(s)-len(tail)]
	for rest := p[first+1 : last]; rest != ""; {
		seg := rest
		if i := strings.IndexByte(rest, '*'); i >= 0 {
			seg, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		if seg == "" {
			continue
		}
		at := indexSegment(mid, seg)
		if at < 0 {
			return false
		}
		mid = mid[at+len(seg):]
	}
	return true
}

// segmentAt reports whether s starts with seg, where ? in seg matches any
// byte. The caller guarantees len(s) >= len(seg).
func segmentAt(seg, s string) bool {
	for i := 0; i < len(seg); i++ {
		if seg[i] != '?' && seg[i] != s[i] {
			return false
		}
	}
	return true
}

// indexSegment returns the offset of the leftmost occurrence in t of seg
// (? matching any byte), or -1. It is Shift-And: bit j of the state is set
// after reading t[i] when seg[:j+1] matches the text ending at i, so each
// byte of t costs one shift, OR and AND per 64 bytes of seg, with no
// backtracking. A segment has a fixed length, so the leftmost match to end
// is also the leftmost to start.
func indexSegment(t, seg string) int {
	n := len(seg)
	if n > len(t) {
		return -1
	}
	if n <= 64 {
		var mask [256]uint64
		var anyByte uint64 // positions holding '?'
		for j := 0; j < n; j++ {
			if seg[j] == '?' {
				anyByte |= 1 << j
			} else {
				mask[seg[j]] |= 1 << j
			}
		}
		hit := uint64(1) << (n - 1)
		var d uint64
		for i := 0; i < len(t); i++ {
			d = (d<<1 | 1) & (mask[t[i]] | anyByte)
			if d&hit != 0 {
				return i - n + 1
			}
		}
		return -1
	}
	w := (n + 63) / 64
	mask := make([]uint64, 257*w) // 256 byte masks, then the '?' mask
	anyByte := mask[256*w:]
	for j := 0; j < n; j++ {
		if seg[j] == '?' {
			anyByte[j/64] |= 1 << (j % 64)
		} else {
			mask[int(seg[j])*w+j/64] |= 1 << (j % 64)
		}
	}
	d := make([]uint64, w)
	top, hit := (n-1)/64, uint64(1)<<((n-1)%64)
	for i := 0; i < len(t); i++ {
		m := mask[int(t[i])*w : int(t[i])*w+w]
		for k := w - 1; k > 0; k-- {
			d[k] = (d[k]<<1 | d[k-1]>>63) & (m[k] | anyByte[k])
		}
		d[0] = (d[0]<<1 | 1) & (m[0] | anyByte[0])
		if d[top]&hit != 0 {
			return i - n + 1
		}
	}
	return -1
}

func (c *condition) holds(r PolicyRequest) bool {
	var actual string
	switch c.key {
	case "acs:sourceip":
		actual = r.SourceIP
	case "acs:securetransport":
		actual = fmt.Sprint(r.SecureTransport)
	case "acs:currenttime":
		actual = r.Now.UTC().Format(time.RFC3339)
	case "acs:clientcertsubject":
		actual = r.ClientCertSubject
	}
	switch c.op {
	case "StringEquals":
		return contains(c.values, actual)
	case "StringNotEquals":
		return !contains(c.values, actual)
	case "StringLike":
		return anyMatch(c.values, actual, false)
	case "StringNotLike":
		return !anyMatch(c.values, actual, false)
	case "Bool":
		return contains(c.values, actual)
	case "IpAddress", "NotIpAddress":
		addr, err := netip.ParseAddr(r.SourceIP)
		in := false
		if err == nil {
			for _, n := range c.nets {
				if n.Contains(addr.Unmap()) {
					in = true
				}
			}
		}
		return in == (c.op == "IpAddress")
	case "DateGreaterThan":
		for _, t := range c.times {
			if r.Now.After(t) {
				return true
			}
		}
	case "DateLessThan":
		for _, t := range c.times {
			if r.Now.Before(t) {
				return true
			}
		}
	}
	return false
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
