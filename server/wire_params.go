package server

import (
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/certcustody/certcustody/certmgr"
)

// Params are a request's parameters: the query string and a form body
// merged. Names are case-sensitive.
type Params map[string]string

const (
	maxParams      = 512
	maxListEntries = 1000
)

// ParseParams merges the query string and an application/x-www-form-
// urlencoded body. A name given twice (in both, or twice in one) is refused:
// the value that was signed must be the value that is handled.
func ParseParams(r *http.Request, body []byte) (Params, error) {
	p := Params{}
	add := func(vals url.Values, where string) error {
		for k, vs := range vals {
			if len(vs) != 1 {
				return certmgr.InvalidParameter(k, "given %d times in the %s", len(vs), where)
			}
			if _, dup := p[k]; dup {
				return certmgr.InvalidParameter(k, "given in both the query string and the body")
			}
			p[k] = vs[0]
		}
		return nil
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, certmgr.InvalidParameter("query", "malformed query string")
	}
	if err := add(q, "query string"); err != nil {
		return nil, err
	}
	if len(body) > 0 && isForm(r.Header.Get("Content-Type")) {
		f, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, certmgr.InvalidParameter("body", "malformed form body")
		}
		if err := add(f, "body"); err != nil {
			return nil, err
		}
	}
	if len(p) > maxParams {
		return nil, certmgr.InvalidParameter("parameters", "more than %d parameters", maxParams)
	}
	return p, nil
}

func isForm(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// Get returns a parameter or "".
func (p Params) Get(name string) string { return p[name] }

// Required returns a parameter or MissingParameter.
func (p Params) Required(name string) (string, error) {
	v := p[name]
	if v == "" {
		return "", certmgr.MissingParameter(name)
	}
	return v, nil
}

// Int returns an integer parameter, def when absent.
func (p Params) Int(name string, def int) (int, error) {
	v, ok := p[name]
	if !ok || v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, certmgr.InvalidParameter(name, "must be an integer")
	}
	return n, nil
}

// Bool returns a true/false parameter (case-insensitive), def when absent.
func (p Params) Bool(name string, def bool) (bool, error) {
	v, ok := p[name]
	if !ok || v == "" {
		return def, nil
	}
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, certmgr.InvalidParameter(name, "must be true or false")
}

// List returns the flattened list Prefix.1, Prefix.2, ... in index order.
// Indices must run from 1 without gaps.
func (p Params) List(prefix string) ([]string, error) {
	idx := map[int]string{}
	for k, v := range p {
		rest, ok := strings.CutPrefix(k, prefix+".")
		if !ok || strings.Contains(rest, ".") {
			continue
		}
		n, err := strconv.Atoi(rest)
		if err != nil || n < 1 || n > maxListEntries || strconv.Itoa(n) != rest {
			return nil, certmgr.InvalidParameter(k, "list index must be 1 to %d", maxListEntries)
		}
		idx[n] = v
	}
	out := make([]string, 0, len(idx))
	for i := 1; i <= len(idx); i++ {
		v, ok := idx[i]
		if !ok {
			return nil, certmgr.InvalidParameter(fmt.Sprintf("%s.%d", prefix, i), "missing: list indices must run from 1 without gaps")
		}
		out = append(out, v)
	}
	return out, nil
}

// Map returns the flattened object Prefix.Key=Value (one level; deeper
// names keep their dots in the key).
func (p Params) Map(prefix string) map[string]string {
	out := map[string]string{}
	for k, v := range p {
		if rest, ok := strings.CutPrefix(k, prefix+"."); ok && rest != "" {
			out[rest] = v
		}
	}
	return out
}

// sortedKeys returns the names in byte order.
func (p Params) sortedKeys() []string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
