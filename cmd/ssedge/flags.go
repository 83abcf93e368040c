package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// newFlagSet returns a flag set whose --help lists every flag, with its
// default, in the --name form the docs use.
func newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: %s\n\nFlags:\n", synopsis)
		fs.VisitAll(func(f *flag.Flag) {
			kind, help := flag.UnquoteUsage(f)
			fmt.Fprintf(out, "  --%s %s\n    \t%s", f.Name, kind, strings.ReplaceAll(help, "\n", "\n    \t"))
			if f.DefValue != "" {
				fmt.Fprintf(out, " (default %s)", f.DefValue)
			}
			fmt.Fprintln(out)
		})
	}
	return fs
}

// usageError is a bad command line: ssedge exits 2 for it, so that scripts
// can tell it from a failure (1), such as a box that cannot hold the target
// of `ssedge tune check`.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// parseFlags parses args; --help prints usage once, to stdout, and exits
// 0; a bad flag gets its error and the usage on stderr and is a
// usageError.
func parseFlags(fs *flag.FlagSet, args []string) error {
	// flag prints the usage itself on -h and on errors; hold it back so
	// that --help goes to stdout alone and not to both.
	usage := fs.Usage
	fs.Usage = func() {}
	fs.SetOutput(os.Stderr)
	err := fs.Parse(args)
	fs.Usage = usage
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(os.Stdout)
		fs.Usage()
		os.Exit(0)
	case err != nil:
		fs.Usage()
		return usageError{err}
	}
	return nil
}

// listFlag is a repeatable string flag with a default that the first
// explicit value replaces.
type listFlag struct {
	vals []string
	set  bool
}

func (l *listFlag) String() string { return strings.Join(l.vals, ",") }

func (l *listFlag) Set(v string) error {
	if !l.set {
		l.vals, l.set = nil, true
	}
	l.vals = append(l.vals, v)
	return nil
}

// sizeFlag is a byte count: 1024, 64k, 4m, 1g (binary multiples).
type sizeFlag int

func (s *sizeFlag) String() string { return formatSize(int(*s)) }

func (s *sizeFlag) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*s = sizeFlag(n)
	return nil
}

func parseSize(v string) (int, error) {
	mult := 1
	t := strings.ToLower(strings.TrimSpace(v))
	t = strings.TrimSuffix(t, "ib")
	t = strings.TrimSuffix(t, "b")
	switch {
	case strings.HasSuffix(t, "k"):
		mult, t = 1<<10, t[:len(t)-1]
	case strings.HasSuffix(t, "m"):
		mult, t = 1<<20, t[:len(t)-1]
	case strings.HasSuffix(t, "g"):
		mult, t = 1<<30, t[:len(t)-1]
	}
	n, err := strconv.Atoi(t)
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("size %q: expected a positive byte count such as 65536, 64k or 4m", v)
	}
	return n * mult, nil
}

func formatSize(n int) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return strconv.Itoa(n>>30) + "g"
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.Itoa(n>>20) + "m"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.Itoa(n>>10) + "k"
	}
	return strconv.Itoa(n)
}

// modeFlag is an octal file mode such as 0660.
type modeFlag os.FileMode

func (m *modeFlag) String() string { return fmt.Sprintf("%#o", os.FileMode(*m)) }

func (m *modeFlag) Set(v string) error {
	n, err := strconv.ParseUint(v, 8, 32)
	if err != nil || n > 0o777 {
		return fmt.Errorf("mode %q: expected octal permission bits such as 0660", v)
	}
	*m = modeFlag(n)
	return nil
}
