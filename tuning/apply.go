package tuning

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// Apply writes the report's changes (Report.Changes) to ROOT/sys, after
// saving the values they replace to backupPath in sysctl.d syntax, so that
// `ssedge tune revert --backup FILE` or `sysctl -p FILE` undoes it. If a
// write fails, the values already written are put back and the error says
// which key failed. It returns the items it changed.
func Apply(root string, r Report, backupPath string) ([]Item, error) {
	if root == "" {
		root = DefaultProcRoot
	}
	changes := r.Changes()
	if len(changes) == 0 {
		return nil, nil
	}
	var backup bytes.Buffer
	fmt.Fprintf(&backup, "# ssedge tune apply backup, %s: the values before the change\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&backup, "# undo: ssedge tune revert --backup %s   (or: sysctl -p %s)\n", backupPath, backupPath)
	prev := make([]string, len(changes))
	for i, it := range changes {
		v, err := readSysctl(root, it.Name)
		if err != nil {
			return nil, fmt.Errorf("tuning: read %s before changing it: %w", it.Name, err)
		}
		prev[i] = v
		fmt.Fprintf(&backup, "%s = %s\n", it.Name, v)
	}
	if err := writeFileSync(backupPath, backup.Bytes()); err != nil {
		return nil, fmt.Errorf("tuning: save backup: %w", err)
	}
	for i, it := range changes {
		if err := writeSysctl(root, it.Name, it.Set); err != nil {
			for j := i - 1; j >= 0; j-- {
				_ = writeSysctl(root, changes[j].Name, prev[j])
			}
			return nil, fmt.Errorf("tuning: set %s = %q: %w (the %d value(s) set before it were put back)", it.Name, it.Set, err, i)
		}
	}
	return changes, nil
}

// Setting is one "key = value" line of a backup file.
type Setting struct{ Key, Value string }

// Revert writes back the values saved in a backup file written by Apply.
// It refuses the whole file, writing nothing, if a line is malformed or
// names a key ssedge does not tune.
func Revert(root, backupPath string) ([]Setting, error) {
	if root == "" {
		root = DefaultProcRoot
	}
	b, err := os.ReadFile(backupPath)
	if err != nil {
		return nil, err
	}
	var set []Setting
	sc := bufio.NewScanner(bytes.NewReader(b))
	for line := 1; sc.Scan(); line++ {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' || l[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("%w: %s:%d: %q: expected key = value", ErrBadBackup, backupPath, line, l)
		}
		if !slices.Contains(readKeys, k) {
			return nil, fmt.Errorf("%w: %s:%d: %q", ErrUnknownSetting, backupPath, line, k)
		}
		set = append(set, Setting{k, v})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	var errs []error
	for _, s := range set {
		if err := writeSysctl(root, s.Key, s.Value); err != nil {
			errs = append(errs, fmt.Errorf("tuning: set %s = %q: %w", s.Key, s.Value, err))
		}
	}
	return set, errors.Join(errs...)
}

// writeSysctl writes one value the way `sysctl -w` does: into the existing
// file, never creating one.
func writeSysctl(root, key, value string) error {
	f, err := os.OpenFile(sysctlPath(root, key), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
