package main

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// A config file is checked against the config struct's yaml tags before
// it is decoded, so that a mistake is reported as the operator wrote it
// ("pkcs11.modul: unknown key; did you mean pkcs11.module?") instead of
// as yaml.v3's dump of Go types.

// problem is one thing wrong with a configuration, as one line.
type problem struct {
	path string // dotted key path, e.g. "pkcs11.module"; "" for the file
	msg  string
	line int // 0: not from a line of the file
}

func (p problem) String() string {
	s := p.msg
	if p.path != "" {
		s = p.path + ": " + p.msg
	}
	if p.line > 0 {
		s += fmt.Sprintf(" (line %d)", p.line)
	}
	return s
}

// problemList is every problem found; as an error it names the file.
type problemList []problem

func (l problemList) err(source string) error {
	if len(l) == 0 {
		return nil
	}
	lines := make([]string, len(l))
	for i, p := range l {
		lines[i] = p.String()
	}
	where := "config"
	if source != "" {
		where = "config " + source
	}
	return fmt.Errorf("%s: %s", where, strings.Join(lines, "; "))
}

// decodeConfig parses b into c after checking every key and value kind;
// nothing is decoded when a problem is found.
func decodeConfig(b []byte, c *config) problemList {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return problemList{{msg: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	if len(doc.Content) == 0 { // an empty file
		return nil
	}
	root := doc.Content[0]
	var problems problemList
	checkNode(root, reflect.TypeOf(*c), "", &problems)
	if len(problems) > 0 {
		return problems
	}
	if err := root.Decode(c); err != nil {
		// The walk above should leave nothing for yaml.v3 to refuse; if it
		// does, report its first line without the type dump.
		first, _, _ := strings.Cut(strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n"), "\n")
		return problemList{{msg: "cannot read: " + strings.TrimSpace(first)}}
	}
	return nil
}

// checkNode checks n against type t at path.
func checkNode(n *yaml.Node, t reflect.Type, path string, problems *problemList) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an empty value: the default
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	bad := func(want string) {
		got := "a " + kindName(n)
		if n.Kind == yaml.ScalarNode {
			got = fmt.Sprintf("%q", n.Value)
		}
		*problems = append(*problems, problem{path: path, msg: "want " + want + ", got " + got, line: n.Line})
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			bad("a mapping of keys")
			return
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			child := joinPath(path, k.Value)
			f, ok := fields[k.Value]
			if !ok {
				*problems = append(*problems, problem{path: child, msg: unknownKeyMessage(path, k.Value, fields), line: k.Line})
				continue
			}
			checkNode(v, f, child, problems)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			bad("a mapping")
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			checkNode(n.Content[i+1], t.Elem(), joinPath(path, n.Content[i].Value), problems)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			bad("a list")
			return
		}
		for i, item := range n.Content {
			checkNode(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), problems)
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			bad("a string")
		}
	case reflect.Int:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			bad("an integer")
		}
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			bad("true or false")
		}
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	return "value"
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// yamlFields maps a struct's yaml keys to their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		out[name] = f.Type
	}
	return out
}

// unknownKeyMessage suggests the nearest key at the same level (by edit
// distance, or one the key is a prefix of), or the same key where it
// belongs at another level.
func unknownKeyMessage(parent, key string, fields map[string]reflect.Type) string {
	best, bestD := "", -1
	for name := range fields {
		if d := editDistance(strings.ToLower(key), name); bestD < 0 || d < bestD || (d == bestD && name < best) {
			best, bestD = name, d
		}
	}
	if best == "" || bestD > max(2, len(key)/3) {
		// A truncated or extended name ("client_ca" for client_ca_file).
		for name := range fields {
			if len(key) >= 4 && (strings.HasPrefix(name, key) || strings.HasPrefix(key, name)) && (bestD > max(2, len(key)/3) || name < best) {
				best, bestD = name, 0
			}
		}
	}
	if best != "" && bestD <= max(2, len(key)/3) {
		return "unknown key; did you mean " + joinPath(parent, best) + "?"
	}
	if elsewhere := knownPaths(reflect.TypeOf(config{}), "")[key]; len(elsewhere) > 0 {
		return "unknown key here; did you mean " + strings.Join(elsewhere, " or ") + "?"
	}
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	return "unknown key (known here: " + strings.Join(names, ", ") + ")"
}

// knownPaths maps every key name in the config to its full paths.
func knownPaths(t reflect.Type, path string) map[string][]string {
	out := map[string][]string{}
	for name, ft := range yamlFields(t) {
		full := joinPath(path, name)
		out[name] = append(out[name], full)
		if ft.Kind() == reflect.Struct {
			for k, v := range knownPaths(ft, full) {
				out[k] = append(out[k], v...)
			}
		}
	}
	for _, v := range out {
		sort.Strings(v)
	}
	return out
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
