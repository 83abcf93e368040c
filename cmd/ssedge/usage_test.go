package main

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// TestUsageOnce: --help prints the usage once, on stdout, and exits 0 for
// every command; a bad flag prints the error and the usage on stderr only
// and exits 2, so scripts can tell a typo from a failure.
func TestUsageOnce(t *testing.T) {
	for _, cmd := range [][]string{{"serve"}, {"publish"}, {"token"}, {"tune", "check"}} {
		name := strings.Join(cmd, " ")
		var stdout, stderr bytes.Buffer
		c := exec.Command(bin, append(cmd, "--help")...)
		c.Stdout, c.Stderr = &stdout, &stderr
		if err := c.Run(); err != nil {
			t.Errorf("%s --help: %v", name, err)
		}
		if n := strings.Count(stdout.String(), "Usage: "); n != 1 || stderr.Len() != 0 {
			t.Errorf("%s --help: usage %d times on stdout, stderr %q; want once on stdout, nothing on stderr", name, n, stderr.String())
		}

		stdout.Reset()
		stderr.Reset()
		c = exec.Command(bin, append(cmd, "--no-such-flag")...)
		c.Stdout, c.Stderr = &stdout, &stderr
		err := c.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%s --no-such-flag: %v, want exit status 2", name, err)
		}
		if stdout.Len() != 0 || !strings.Contains(stderr.String(), "no-such-flag") || strings.Count(stderr.String(), "Usage: ") != 1 {
			t.Errorf("%s --no-such-flag: stdout %q, stderr %q; want the error and the usage once on stderr", name, stdout.String(), stderr.String())
		}
	}
}
