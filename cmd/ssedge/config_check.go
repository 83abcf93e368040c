package main

// ssedge config check, and printing the effective configuration.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"go.uber.org/zap/zapcore"

	"github.com/ssedge/ssedge/internal/rules"
)

// tomlValue writes a flag's value as a TOML value.
func tomlValue(f *flag.Flag) string {
	switch v := f.Value.(type) {
	case *listFlag:
		q := make([]string, len(v.vals))
		for i, s := range v.vals {
			q[i] = strconv.Quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	case *sizeFlag, *modeFlag:
		return strconv.Quote(v.String())
	}
	if b, ok := f.Value.(boolFlag); ok && b.IsBoolFlag() {
		return f.Value.String()
	}
	switch x := f.Value.(flag.Getter).Get().(type) {
	case int:
		return strconv.Itoa(x)
	}
	return strconv.Quote(f.Value.String())
}

// printConfig writes the effective configuration as a TOML file that
// would give it, each setting with where its value came from.
func (c *configOptions) printConfig(w io.Writer) error {
	names := make([]string, 0, len(c.values))
	width := 0
	for n := range c.values {
		if n == "config" {
			continue
		}
		names = append(names, n)
		width = max(width, len(n)+3+len(c.values[n]))
	}
	sort.Strings(names)
	fmt.Fprintf(w, "# ssedge serve: the effective configuration of %s\n# (each setting's origin: default, command line, or FILE:LINE)\n\n", c.configPath)
	for _, n := range names {
		kv := n + " = " + c.values[n]
		fmt.Fprintf(w, "%-*s  # %s\n", width, kv, c.sources[n])
	}
	fmt.Fprintf(w, "\n# %d [[channel]] rules, first match wins\n", c.rules.Len())
	if c.rules.Len() == 0 {
		return nil
	}
	fmt.Fprintln(w)
	return toml.NewEncoder(w).Encode(struct {
		Channel []rules.Rule `toml:"channel"`
	}{c.rules.Rules()})
}

// configCommand is `ssedge config check PATH`.
func configCommand(args []string) error {
	fs := newFlagSet("config", "ssedge config check PATH")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 || fs.Arg(0) != "check" {
		fs.Usage()
		return usageError{errors.New("config: expected: ssedge config check PATH")}
	}
	o, _, err := checkServe([]string{"--config", fs.Arg(1)})
	if err != nil {
		return err
	}
	return o.printConfig(os.Stdout)
}

// checkServe parses serve's flags and the file, and builds everything a
// start (or a reload) would build from them without binding anything:
// keys, CORS, addresses, ids, logging. It returns the subscriber side it
// built, so a reload puts in force the keys it checked, read once.
func checkServe(args []string) (*serveOptions, *subscriberSide, error) {
	o, err := parseServe(args)
	if err != nil {
		return nil, nil, err
	}
	side, err := o.subscriberSide()
	if err != nil {
		return nil, nil, o.blame(err)
	}
	if _, err := parseIDs("--publish-allow-uid", o.allowUIDs.vals); err != nil {
		return nil, nil, o.blame(err)
	}
	if _, err := parseIDs("--publish-allow-gid", o.allowGIDs.vals); err != nil {
		return nil, nil, o.blame(err)
	}
	// Not newLogger: that sets the process's level.
	if _, err := zapcore.ParseLevel(o.logLevel); err != nil {
		return nil, nil, o.blame(fmt.Errorf("--log-level %q: expected debug, info, warn or error", o.logLevel))
	}
	if o.logFormat != "json" && o.logFormat != "console" {
		return nil, nil, o.blame(fmt.Errorf("--log-format %q: expected json or console", o.logFormat))
	}
	return o, side, nil
}
