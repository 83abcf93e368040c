package main

// The [[channel]] tables of a configuration file, and finding the line of
// a key for an error.

import (
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/ssedge/ssedge/internal/rules"
)

// ruleKeys maps each [[channel]] key to its field's type in rules.Rule, so
// the file's keys follow the struct.
var ruleKeys = func() map[string]reflect.Type {
	m := map[string]reflect.Type{}
	t := reflect.TypeFor[rules.Rule]()
	for i := range t.NumField() {
		if tag := t.Field(i).Tag.Get("toml"); tag != "" && tag != "-" {
			m[strings.Split(tag, ",")[0]] = t.Field(i).Type
		}
	}
	return m
}()

// rules decodes the [[channel]] tables, one by one so that an error names
// its table.
func (f *fileLoader) rules(p toml.Primitive) ([]rules.Rule, error) {
	var tables []toml.Primitive
	if err := f.md.PrimitiveDecode(p, &tables); err != nil {
		return nil, &configError{path: f.path, line: keyLine(f.src, -1, "channel"), key: "channel",
			msg: "expected [[channel]] tables (an array of tables), each with a match key"}
	}
	out := make([]rules.Rule, len(tables))
	for i, t := range tables {
		var raw map[string]any
		if err := f.md.PrimitiveDecode(t, &raw); err != nil {
			return nil, f.tomlError(err, i)
		}
		keys := make([]string, 0, len(raw))
		for k := range raw {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(a, b int) bool { return keyLine(f.src, i, keys[a]) < keyLine(f.src, i, keys[b]) })
		for _, k := range keys {
			typ, ok := ruleKeys[k]
			if !ok {
				return nil, f.errorAt(i, k, fmt.Sprintf("unknown key in [[channel]] %d: expected one of %s", i+1, ruleKeyNames()))
			}
			if want := ruleType(typ, raw[k]); want != "" {
				return nil, f.errorAt(i, k, fmt.Sprintf("%s, expected %s", tomlType(raw[k]), want))
			}
		}
		if err := f.md.PrimitiveDecode(t, &out[i]); err != nil {
			return nil, f.tomlError(err, i)
		}
	}
	return out, nil
}

// ruleType checks a [[channel]] value against its field's type; it
// returns what was expected, or "" when the value fits.
func ruleType(t reflect.Type, v any) string {
	if t.Implements(reflect.TypeFor[interface{ UnmarshalText([]byte) error }]()) ||
		reflect.PointerTo(t).Implements(reflect.TypeFor[interface{ UnmarshalText([]byte) error }]()) {
		if _, ok := v.(string); !ok {
			return `a string such as "90s"`
		}
		return ""
	}
	if t.Kind() == reflect.Pointer {
		return ruleType(t.Elem(), v)
	}
	switch t.Kind() {
	case reflect.String:
		if _, ok := v.(string); !ok {
			return "a string"
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return "a boolean (true or false)"
		}
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint32, reflect.Uint64:
		n, ok := v.(int64)
		if !ok {
			return "an integer"
		}
		if t.Kind() == reflect.Uint32 && (n < 0 || n > 1<<32-1) {
			return "a numeric id from 0 to 4294967295"
		}
	case reflect.Slice:
		items, ok := v.([]any)
		if !ok {
			return "a list such as [1000, 1001]"
		}
		for _, it := range items {
			if want := ruleType(t.Elem(), it); want != "" {
				return "a list of " + strings.TrimPrefix(strings.TrimPrefix(want, "a "), "an ") + "s"
			}
		}
	}
	return ""
}

func ruleKeyNames() string {
	names := make([]string, 0, len(ruleKeys))
	for k := range ruleKeys {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// ruleError places an error of rules.Compile ("... rule 2 (match = ...):
// history-age 0s: ...") at the key it names in that table.
func (f *fileLoader) ruleError(err error, list []rules.Rule) error {
	msg := err.Error()
	i := -1
	if _, after, ok := strings.Cut(msg, "rule "); ok {
		if n, aerr := strconv.Atoi(strings.Fields(after)[0]); aerr == nil {
			i = n - 1
		}
	}
	if _, reason, ok := strings.Cut(msg, "): "); ok {
		msg = reason
	}
	if i < 0 || i >= len(list) {
		return &configError{path: f.path, key: "channel", msg: err.Error()}
	}
	key, at := "match", len(msg)
	for k := range ruleKeys {
		if j := strings.Index(msg, k); j >= 0 && j < at {
			key, at = k, j
		}
	}
	line := keyLine(f.src, i, key)
	if line == 0 {
		line = keyLine(f.src, i, "")
	}
	return &configError{path: f.path, line: line, key: key, msg: fmt.Sprintf("[[channel]] %d (match = %q): %s", i+1, list[i].Match, msg)}
}

var tableHeader = regexp.MustCompile(`^\[\[\s*"?channel"?\s*\]\]`)

// keyLine finds the line (from 1) where key is set in table: -1 is the
// top level, i the i-th [[channel]] table; key "" finds that table's
// header. 0: not found (the key is in an inline table, say).
func keyLine(src []byte, table int, key string) int {
	cur := -1
	keyRE := regexp.MustCompile(`^["']?` + regexp.QuoteMeta(key) + `["']?\s*[=.]`)
	headRE := regexp.MustCompile(`^\[+\s*["']?` + regexp.QuoteMeta(key) + `["']?\s*[\].]`)
	for i, line := range strings.Split(string(src), "\n") {
		t := strings.TrimSpace(line)
		switch {
		case table == -1 && key != "" && headRE.MatchString(t):
			return i + 1 // a table of that name, [key] or [[key]]
		case tableHeader.MatchString(t):
			cur++
			if cur == table && key == "" {
				return i + 1
			}
		case strings.HasPrefix(t, "["):
			cur = -2 // another table: none of ours
		case cur == table && key != "" && keyRE.MatchString(t):
			return i + 1
		}
	}
	return 0
}
