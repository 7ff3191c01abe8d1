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

// wildcard matches * (any run, including "/" and ":") and ? (one character).
func wildcard(p, s string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for i := len(s); i >= 0; i-- {
				if wildcard(p[1:], s[i:]) {
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
