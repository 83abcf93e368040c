package main

// The configuration file (--config): every serve flag is also a top-level
// key of the same name, and [[channel]] tables are the per-channel rules.
// A flag given on the command line wins over the file (a repeatable flag
// given there replaces the file's list). Values go through the same
// flag.Value Set the command line uses, so both accept and refuse the
// same things; the file adds only its types (a TOML integer for a count, a
// boolean for a switch, a list for a repeatable flag). Unknown keys are
// errors, and every error names the file, the line and the key.

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/ssedge/ssedge/internal/rules"
)

// DefaultRotationOverlap is how long the keys in force before a reload
// still verify tokens after it (--auth-rotation-overlap).
const DefaultRotationOverlap = 5 * time.Minute

// configOptions are the flags about the configuration itself, and what
// loading it found.
type configOptions struct {
	configPath string
	overlap    time.Duration // --auth-rotation-overlap

	rules   *rules.Set        // the file's [[channel]] rules; empty without a file
	file    *fileLoader       // the file as read, to place a later error in a rule; nil without a file
	values  map[string]string // every flag's effective value, as `config check` prints it
	sources map[string]string // every flag's origin: "default", "command line" or "FILE:LINE"
	lists   map[string]bool   // the repeatable flags, printed as TOML arrays
}

// addConfigFlags declares --config and the flags only reloads use.
func addConfigFlags(fs *flag.FlagSet, c *configOptions) {
	fs.StringVar(&c.configPath, "config", "", "TOML file with any serve flag as a key of the same name, and [[channel]] rules; flags given on the command line win (see docs/operations.md); SIGHUP re-reads it")
	fs.DurationVar(&c.overlap, "auth-rotation-overlap", DefaultRotationOverlap, "after a reload, tokens signed with the previous HS256 secret or key still verify this long (0: not at all), so keys rotate without refusing live tokens")
}

// configError is a bad configuration file: where, and what is wrong.
type configError struct {
	path string
	line int    // 0: unknown
	key  string // "" for a syntax error
	msg  string
}

func (e *configError) Error() string {
	where := e.path
	if e.line > 0 {
		where += ":" + strconv.Itoa(e.line)
	}
	if e.key == "" {
		return fmt.Sprintf("config %s: %s", where, e.msg)
	}
	return fmt.Sprintf("config %s: key %q: %s", where, e.key, e.msg)
}

// loadConfig applies the --config file (if any) to the flags the command
// line did not give, and records every flag's value and origin.
func (c *configOptions) loadConfig(fs *flag.FlagSet) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	fromFile := map[string]int{}
	c.rules, _ = rules.Compile(nil)
	if c.configPath != "" {
		read := c.configPath
		if _, worker := os.LookupEnv(workerEnv); worker && os.Getenv(workerConfigEnv) != "" {
			read = os.Getenv(workerConfigEnv) // the supervisor's copy of the file in force (procs)
		}
		src, err := os.ReadFile(read)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		f := &fileLoader{path: c.configPath, src: src, fs: fs, given: given, lines: fromFile}
		if c.rules, err = f.load(); err != nil {
			return err
		}
		c.file = f
	}
	c.values, c.sources, c.lists = map[string]string{}, map[string]string{}, map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) {
		c.values[f.Name] = tomlValue(f)
		_, c.lists[f.Name] = f.Value.(*listFlag)
		switch line, ok := fromFile[f.Name]; {
		case given[f.Name]:
			c.sources[f.Name] = "command line"
		case ok:
			c.sources[f.Name] = fmt.Sprintf("%s:%d", c.configPath, line)
		default:
			c.sources[f.Name] = "default"
		}
	})
	return nil
}

// blame puts the file's line and key in front of a check of a flag's value
// that failed after loading ("--procs 0: ...", "auth: secret file ..."),
// when the file gave that flag.
func (c *configOptions) blame(err error) error {
	if errors.Is(err, rules.ErrBadRule) && c.file != nil {
		return c.file.ruleError(err, c.rules.Rules()) // a rule the server cannot enforce
	}
	msg := err.Error()
	name, _, _ := strings.Cut(strings.TrimPrefix(msg, "--"), " ")
	if !strings.HasPrefix(msg, "--") {
		name = ""
		for _, k := range []struct{ text, flag string }{
			{"secret file", "auth-secret-file"}, {"public key", "auth-public-key"},
			{"private channel prefix", "private-prefix"}, {"CORS", "cors-origin"}, {"origin", "cors-origin"},
		} {
			if strings.Contains(msg, k.text) {
				name = k.flag
				break
			}
		}
	}
	src := c.sources[name]
	i := strings.LastIndexByte(src, ':') // the path may hold ':' too; the line follows the last
	if i < 0 {
		return err // a default or the command line: the message names the flag
	}
	n, _ := strconv.Atoi(src[i+1:])
	return &configError{path: src[:i], line: n, key: name, msg: msg}
}

// fileLoader reads one configuration file into a flag set.
type fileLoader struct {
	path  string
	src   []byte
	fs    *flag.FlagSet
	given map[string]bool // flags the command line gave: the file's value is checked, not used
	lines map[string]int  // flags the file set -> their line
	md    toml.MetaData
}

func (f *fileLoader) load() (*rules.Set, error) {
	var top map[string]toml.Primitive
	md, err := toml.NewDecoder(bytes.NewReader(f.src)).Decode(&top)
	if err != nil {
		return nil, f.tomlError(err, -1)
	}
	f.md = md
	var list []rules.Rule
	for _, k := range md.Keys() {
		if len(k) != 1 {
			continue // inside a table: [[channel]] is read below, any other table is refused
		}
		name := k[0]
		switch fl := f.fs.Lookup(name); {
		case name == "channel":
			if list, err = f.rules(top[name]); err != nil {
				return nil, err
			}
		case name == "config":
			return nil, f.errorAt(-1, name, "a configuration file cannot name another")
		case fl == nil:
			return nil, f.errorAt(-1, name, `unknown key: expected a serve flag's name (ssedge serve --help) or [[channel]] rules`)
		default:
			if err := md.PrimitiveDecode(top[name], &fileValue{f: f, flag: fl}); err != nil {
				return nil, f.tomlError(err, -1)
			}
			f.lines[name] = keyLine(f.src, -1, name)
		}
	}
	set, err := rules.Compile(list)
	if err != nil {
		return nil, f.ruleError(err, list)
	}
	return set, nil
}

// fileValue sets one flag from its TOML value, as the command line would.
type fileValue struct {
	f    *fileLoader
	flag *flag.Flag
}

func (v *fileValue) UnmarshalTOML(data any) error {
	vals, err := flagStrings(v.flag, data)
	if err != nil {
		return err
	}
	if v.f.given[v.flag.Name] {
		return nil // checked; the command line's value stands
	}
	if l, ok := v.flag.Value.(*listFlag); ok && len(vals) == 0 {
		l.vals, l.set = nil, true // an empty list is a choice: none
		return nil
	}
	for _, s := range vals {
		if err := v.f.fs.Set(v.flag.Name, s); err != nil {
			return err
		}
	}
	return nil
}

type boolFlag interface{ IsBoolFlag() bool }

// flagStrings turns a TOML value into what the command line would have
// given for fl, or says which TOML type fl expects.
func flagStrings(fl *flag.Flag, data any) ([]string, error) {
	str := func(want string) ([]string, error) {
		if s, ok := data.(string); ok {
			return []string{s}, nil
		}
		return nil, fmt.Errorf("%s, expected %s", tomlType(data), want)
	}
	switch fl.Value.(type) {
	case *listFlag:
		items, ok := data.([]any)
		if !ok {
			items = []any{data} // one value for a list of one
		}
		out := make([]string, 0, len(items))
		for _, it := range items {
			switch x := it.(type) {
			case string:
				out = append(out, x)
			case int64:
				out = append(out, strconv.FormatInt(x, 10))
			default:
				return nil, fmt.Errorf("a list holding %s, expected a list of strings such as [\"a\", \"b\"]", tomlType(it))
			}
		}
		return out, nil
	case *sizeFlag:
		if n, ok := data.(int64); ok {
			return []string{strconv.FormatInt(n, 10)}, nil
		}
		return str(`a byte count such as 65536 or "64k"`)
	case *modeFlag:
		if n, ok := data.(int64); ok {
			if n < 0 || n > 0o777 {
				return nil, fmt.Errorf("%d (octal %o), expected permission bits written 0o660 or \"0660\"", n, n)
			}
			return []string{strconv.FormatInt(n, 8)}, nil
		}
		return str(`octal permission bits such as "0660" or 0o660`)
	}
	if b, ok := fl.Value.(boolFlag); ok && b.IsBoolFlag() {
		if x, ok := data.(bool); ok {
			return []string{strconv.FormatBool(x)}, nil
		}
		return nil, fmt.Errorf("%s, expected a boolean (true or false)", tomlType(data))
	}
	switch fl.Value.(flag.Getter).Get().(type) {
	case time.Duration:
		out, err := str(`a duration such as "15s" or "1m30s"`)
		if err == nil {
			if _, perr := time.ParseDuration(out[0]); perr != nil {
				return nil, fmt.Errorf("%q: expected a duration such as \"15s\" or \"1m30s\"", out[0])
			}
		}
		return out, err
	case int:
		if n, ok := data.(int64); ok {
			return []string{strconv.FormatInt(n, 10)}, nil
		}
		return nil, fmt.Errorf("%s, expected an integer", tomlType(data))
	}
	return str("a string")
}

// tomlType names a decoded TOML value's type for an error.
func tomlType(data any) string {
	switch x := data.(type) {
	case string:
		return fmt.Sprintf("the string %q", x)
	case int64:
		return fmt.Sprintf("the integer %d", x)
	case float64:
		return fmt.Sprintf("the float %v", x)
	case bool:
		return fmt.Sprintf("the boolean %v", x)
	case []any:
		return "a list"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("a %T", data)
}

// errorAt is an error about key in table (-1: the top level; i: the i-th
// [[channel]]).
func (f *fileLoader) errorAt(table int, key, msg string) error {
	return &configError{path: f.path, line: keyLine(f.src, table, key), key: key, msg: msg}
}

// tomlError turns the decoder's error into a configError, keeping its line.
func (f *fileLoader) tomlError(err error, table int) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		key := pe.LastKey
		if i := strings.LastIndexByte(key, '.'); i >= 0 && table >= 0 {
			key = key[i+1:]
		}
		line := pe.Position.Line
		if table >= 0 {
			line = max(keyLine(f.src, table, key), keyLine(f.src, table, ""))
		}
		return &configError{path: f.path, line: line, key: key, msg: pe.Message}
	}
	return &configError{path: f.path, msg: err.Error()}
}
