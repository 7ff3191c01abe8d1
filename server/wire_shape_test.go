package server

import (
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// wireField is one response field as the official SDK declares it
// (testdata/wire, copied from shared/wire).
type wireField struct {
	Name     string      `json:"name"`
	Type     string      `json:"type"`
	Doc      string      `json:"doc"`
	Items    wireItems   `json:"items"`
	Children []wireField `json:"children"`
}

// wireItems is an array's or map's element type: a bare type name, or an
// object with children.
type wireItems struct {
	Type     string
	Children []wireField
}

func (w *wireItems) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &w.Type)
	}
	var o struct {
		Type     string      `json:"type"`
		Children []wireField `json:"children"`
	}
	err := json.Unmarshal(b, &o)
	w.Type, w.Children = o.Type, o.Children
	return err
}

type wireParam struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Required bool   `json:"required"`
	Flatten  string `json:"flatten"`
}

type wireAction struct {
	Action   string      `json:"action"`
	Request  []wireParam `json:"request"`
	Response []wireField `json:"response"`
}

// wireShapes loads testdata/wire/<file> into action name → shape,
// including the removed actions the file keeps.
func wireShapes(t testing.TB, file string) map[string]wireAction {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "wire", file))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Actions        []wireAction `json:"actions"`
		RemovedActions []wireAction `json:"removed_actions"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	out := map[string]wireAction{}
	for _, a := range append(doc.Actions, doc.RemovedActions...) {
		out[a.Action] = a
	}
	return out
}

// shapeCheck holds one response against its SDK shape.
type shapeCheck struct {
	action string
	// absent lists declared fields the service has no data for (a cloud
	// console's counters, billing flags); every other declared field must
	// be present. Paths use dots: "Certificate.ClusterId".
	absent map[string]bool
	// extensions lists our documented fields beyond the SDK's.
	extensions map[string]bool
	problems   []string
}

func (c *shapeCheck) fail(path, format string, args ...any) {
	// One line per field, not per array item.
	c.problems = appendOnce(c.problems, c.action+"."+path+": "+fmt.Sprintf(format, args...))
}

// fields checks an object against declared children.
func (c *shapeCheck) fields(prefix string, obj map[string]any, decl []wireField) {
	declared := map[string]bool{}
	for _, f := range decl {
		declared[f.Name] = true
		path := prefix + f.Name
		v, ok := obj[f.Name]
		if !ok {
			if !c.absent[path] {
				c.fail(path, "missing (declared %s)", f.Type)
			}
			continue
		}
		c.value(path, v, f.Type, f.Doc, f.Items, f.Children)
	}
	for name := range obj {
		if declared[name] {
			continue
		}
		path := prefix + name
		if !c.extensions[path] {
			// A near miss is the typical bug: the SDK drops it silently.
			for d := range declared {
				if strings.EqualFold(d, name) {
					c.fail(path, "not declared; the SDK reads %q (names are case-sensitive)", d)
					goto next
				}
			}
			c.fail(path, "not declared by the SDK and not a documented extension")
		}
	next:
	}
}

var enumDoc = regexp.MustCompile(`^[A-Za-z_]+(\|[A-Za-z_]+)+$`)

// objects checks an array of objects: a declared field counts as present
// when any item has it (RevokeTime is there only for revoked entries).
func (c *shapeCheck) objects(path string, a []any, decl []wireField) {
	seen := map[string]bool{}
	for _, e := range a {
		o, ok := e.(map[string]any)
		if !ok {
			c.fail(path, "item is %T, declared object", e)
			continue
		}
		for k := range o {
			seen[k] = true
		}
		inner := *c
		inner.problems = nil
		inner.absent = map[string]bool{}
		for _, f := range decl {
			inner.absent[path+"."+f.Name] = true
		}
		inner.fields(path+".", o, decl)
		for _, p := range inner.problems {
			c.problems = appendOnce(c.problems, p)
		}
	}
	if len(a) == 0 {
		return
	}
	for _, f := range decl {
		if !seen[f.Name] && !c.absent[path+"."+f.Name] {
			c.fail(path+"."+f.Name, "missing from every item (declared %s)", f.Type)
		}
	}
}

func appendOnce(list []string, s string) []string {
	if contains(list, s) {
		return list
	}
	return append(list, s)
}

// value checks one value's JSON kind, enumeration and unit.
func (c *shapeCheck) value(path string, v any, typ, doc string, items wireItems, children []wireField) {
	switch typ {
	case "string":
		s, ok := v.(string)
		if !ok {
			c.fail(path, "is %T, declared string", v)
			return
		}
		c.stringUnit(path, s, doc)
	case "integer", "long":
		n, ok := v.(json.Number)
		if !ok {
			c.fail(path, "is %T, declared %s", v, typ)
			return
		}
		i, err := n.Int64()
		if err != nil {
			c.fail(path, "%s is not an integer", n)
			return
		}
		if typ == "integer" && (i > 1<<31-1 || i < -1<<31) {
			c.fail(path, "%d overflows int32", i)
		}
		if strings.HasPrefix(doc, "Unix ms") && (i < 1e12 || i > 1e14) {
			c.fail(path, "%d is not Unix milliseconds", i)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			c.fail(path, "is %T, declared boolean", v)
		}
	case "object":
		o, ok := v.(map[string]any)
		if !ok {
			c.fail(path, "is %T, declared object", v)
			return
		}
		c.fields(path+".", o, children)
	case "map":
		if _, ok := v.(map[string]any); !ok {
			c.fail(path, "is %T, declared map (a JSON object)", v)
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			c.fail(path, "is %T, declared array", v)
			return
		}
		// The files put an array's object children beside "items".
		if len(items.Children) == 0 {
			items.Children = children
		}
		switch items.Type {
		case "object":
			c.objects(path, a, items.Children)
		case "", "any":
		default:
			for _, e := range a {
				c.value(path, e, items.Type, "", wireItems{}, nil)
			}
		}
	case "any":
	default:
		c.fail(path, "unknown declared type %q", typ)
	}
	if s, ok := v.(string); ok && enumDoc.MatchString(doc) && typ == "string" {
		if !contains(strings.Split(doc, "|"), s) {
			c.fail(path, "%q is not one of %s", s, doc)
		}
	}
}

// stringUnit checks a string against the unit its doc names.
func (c *shapeCheck) stringUnit(path, s, doc string) {
	if s == "" {
		return
	}
	layout := ""
	switch {
	case doc == "PEM":
		if !strings.HasPrefix(s, "-----BEGIN ") {
			c.fail(path, "is not PEM")
		}
	case doc == "Base64":
		if _, err := base64.StdEncoding.DecodeString(s); err != nil {
			c.fail(path, "is not base64")
		}
	case strings.HasPrefix(doc, "ISO 8601"):
		layout = "2006-01-02T15:04:05Z"
	case doc == "yyyy-MM-dd HH:mm:ss":
		layout = "2006-01-02 15:04:05"
	case doc == "format yyyy-MM-ddT00:00Z":
		layout = "2006-01-02T15:04Z"
	case strings.HasPrefix(doc, "JSON"):
		if !json.Valid([]byte(s)) {
			c.fail(path, "is not JSON")
		}
	}
	if layout != "" {
		if _, err := time.Parse(layout, s); err != nil {
			c.fail(path, "%q is not %s", s, doc)
		}
	}
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// decodeJSON decodes a body keeping numbers as json.Number.
func decodeJSON(b []byte) (map[string]any, error) {
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	m := map[string]any{}
	return m, d.Decode(&m)
}

// jsonPaths lists the element paths a JSON answer holds, the way its XML
// form nests them (an array's items under the array's own name). Empty
// arrays and objects have no elements in XML.
func jsonPaths(prefix string, v any, out map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		// An empty object is still an element in XML (<Tags></Tags>).
		if prefix != "" {
			out[prefix] = true
		}
		for k, e := range x {
			p := k
			if prefix != "" {
				p = prefix + "/" + k
			}
			jsonPaths(p, e, out)
		}
	case []any:
		for _, e := range x {
			jsonPaths(prefix, e, out)
		}
	default:
		out[prefix] = true
	}
}

// xmlPaths lists the element paths of an XML answer below its root, which
// must be <ActionResponse>.
func xmlPaths(b []byte, action string) (map[string]bool, error) {
	d := xml.NewDecoder(strings.NewReader(string(b)))
	out := map[string]bool{}
	var stack []string
	for {
		tok, err := d.Token()
		if err != nil {
			if len(stack) != 0 {
				return nil, err
			}
			return out, nil
		}
		switch x := tok.(type) {
		case xml.StartElement:
			if len(stack) == 0 && x.Name.Local != action+"Response" {
				return nil, fmt.Errorf("root element %q, want %sResponse", x.Name.Local, action)
			}
			stack = append(stack, x.Name.Local)
			if len(stack) > 1 {
				out[strings.Join(stack[1:], "/")] = true
			}
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
}

// samePaths reports the paths in one set and not the other.
func samePaths(j, x map[string]bool) []string {
	var diff []string
	for p := range j {
		if !x[p] {
			diff = append(diff, "only in JSON: "+p)
		}
	}
	for p := range x {
		if !j[p] {
			diff = append(diff, "only in XML: "+p)
		}
	}
	sort.Strings(diff)
	return diff
}
