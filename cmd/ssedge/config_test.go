package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// writeConfig writes a configuration file and returns its path.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ssedge.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// configCheck runs `ssedge config check PATH` and returns its stdout, its
// stderr and its exit code.
func configCheck(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"config"}, args...)...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

const goodConfig = `# a comment
heartbeat = "2s"
max-conns = 100
listen = ["127.0.0.1:8080", "unix:/run/ssedge/sub.sock"]
cors-credentials = true
publish-socket-mode = 0o640
max-backlog-bytes = "2m"

[[channel]]
match = "user:*"
private = false
history-age = "90s"

[[channel]]
match = "news"
history-per-channel = 10
publish-allow-uid = [1000]
`

// A good file: exit 0, every setting printed with its value and origin,
// and the rules.
func TestConfigCheckGood(t *testing.T) {
	path := writeConfig(t, goodConfig)
	out, errOut, code := configCheck(t, "check", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		`heartbeat = "2s"`, "# " + path + ":2",
		"max-conns = 100", "# " + path + ":3",
		`listen = ["127.0.0.1:8080", "unix:/run/ssedge/sub.sock"]`,
		"cors-credentials = true",
		`publish-socket-mode = "0640"`,
		`max-backlog-bytes = "2m"`,
		`retry = "3s"`, // a default
		"# default",
		"2 [[channel]] rules",
		`match = "user:*"`, `history-age = "1m30s"`, "private = false",
		`match = "news"`, "history-per-channel = 10", "publish-allow-uid = [1000]",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// What it prints is itself a configuration that checks.
	again, errOut, code := configCheck(t, "check", writeConfig(t, out))
	if code != 0 || !strings.Contains(again, `heartbeat = "2s"`) {
		t.Fatalf("the printed configuration does not check (exit %d): %s", code, errOut)
	}
}

// Each bad file: exit 1 and the first error with its line and key.
func TestConfigCheckBad(t *testing.T) {
	for _, tt := range []struct {
		name, file string
		line, key  string
		why        string
	}{
		{"unknown key", "heartbeat = \"2s\"\nheartbeet = \"3s\"\n", ":2:", `"heartbeet"`, "unknown key"},
		{"unknown table", "retry = \"1s\"\n\n[server]\nport = 1\n", ":3:", `"server"`, "unknown key"},
		{"bad type", "retry = \"1s\"\nmax-conns = \"100\"\n", ":2:", `"max-conns"`, `the string "100", expected an integer`},
		{"bad boolean", "cors-credentials = \"yes\"\n", ":1:", `"cors-credentials"`, "expected a boolean"},
		{"bad duration", "\n\nheartbeat = \"2x\"\n", ":3:", `"heartbeat"`, `"2x": expected a duration`},
		{"bad size", "max-backlog-bytes = \"lots\"\n", ":1:", `"max-backlog-bytes"`, `"lots"`},
		{"bad value", "client-ip-header = \"x-client\"\n", ":1:", `"client-ip-header"`, "expected auto"},
		{"bad procs", "procs = 0\n", ":1:", `"procs"`, "expected 1 to"},
		{"syntax", "heartbeat = \"2s\n", ":1:", "", "newline"},
		{"unknown rule key", "[[channel]]\nmatch = \"a\"\n\n[[channel]]\nmatch = \"b\"\nprivat = true\n", ":6:", `"privat"`, "[[channel]] 2"},
		{"bad rule type", "[[channel]]\nmatch = \"a\"\nprivate = \"yes\"\n", ":3:", `"private"`, "expected a boolean"},
		{"bad rule duration", "[[channel]]\nmatch = \"a\"\n[[channel]]\nmatch = \"b\"\nhistory-age = \"soon\"\n", ":5:", `"history-age"`, `"soon"`},
		{"bad rule", "[[channel]]\nmatch = \"a\"\n\n[[channel]]\nmatch = \"b\"\nhistory-per-channel = -2\n", ":6:", `"history-per-channel"`, "[[channel]] 2"},
		{"bad rule match", "[[channel]]\nmatch = \"a*b\"\n", ":2:", `"match"`, "may only end"},
		{"private rule without a key", "[[channel]]\nmatch = \"a\"\n[[channel]]\nmatch = \"ops\"\nprivate = true\n", ":5:", `"private"`, "needs a token key"},
		{"unreadable key file", "private-prefix = [\"p-\"]\nauth-secret-file = \"/nonexistent/secret\"\n", ":2:", `"auth-secret-file"`, "no such file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.file)
			out, errOut, code := configCheck(t, "check", path)
			if code != 1 {
				t.Fatalf("exit %d, want 1; stdout %q stderr %q", code, out, errOut)
			}
			for _, want := range []string{path + tt.line, tt.key, tt.why} {
				if !strings.Contains(errOut, want) {
					t.Errorf("error %q lacks %q", errOut, want)
				}
			}
		})
	}
}

// A bad command line is a usage error (exit 2); a missing file is a
// failure (exit 1).
func TestConfigCheckUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"check"}, {"verify", "x.toml"}, {"check", "a", "b"}} {
		if _, errOut, code := configCheck(t, args...); code != 2 {
			t.Errorf("config %q: exit %d, want 2: %s", args, code, errOut)
		}
	}
	if _, errOut, code := configCheck(t, "check", filepath.Join(t.TempDir(), "none.toml")); code != 1 || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing file: exit %d: %s", code, errOut)
	}
}

// A flag on the command line wins over the file; a repeatable one
// replaces the file's list; what the command line leaves alone comes
// from the file.
func TestConfigFlagOverridesFile(t *testing.T) {
	path := writeConfig(t, "heartbeat = \"2s\"\nretry = \"4s\"\nlisten = [\"127.0.0.1:1\", \"127.0.0.1:2\"]\ncors-origin = [\"https://a.example\"]\n")
	o, err := parseServe([]string{"--config", path, "--heartbeat", "5s", "--listen", "127.0.0.1:3"})
	if err != nil {
		t.Fatal(err)
	}
	if o.heartbeat != 5*time.Second || o.sources["heartbeat"] != "command line" {
		t.Errorf("heartbeat %v from %s, want 5s from the command line", o.heartbeat, o.sources["heartbeat"])
	}
	if o.retry != 4*time.Second || o.sources["retry"] != path+":2" {
		t.Errorf("retry %v from %s, want 4s from %s:2", o.retry, o.sources["retry"], path)
	}
	if strings.Join(o.listen.vals, ",") != "127.0.0.1:3" {
		t.Errorf("listen %q, want the command line's alone", o.listen.vals)
	}
	if strings.Join(o.cors.vals, ",") != "https://a.example" {
		t.Errorf("cors-origin %q, want the file's", o.cors.vals)
	}
	// The file's value of an overridden flag is still checked.
	bad := writeConfig(t, "heartbeat = 2\n")
	if _, err := parseServe([]string{"--config", bad, "--heartbeat", "5s"}); err == nil || !strings.Contains(err.Error(), ":1: key \"heartbeat\"") {
		t.Errorf("a bad overridden value: %v", err)
	}
}

// deploy/ssedge.toml, the documented example, checks.
func TestDeployConfigChecks(t *testing.T) {
	out, errOut, code := configCheck(t, "check", filepath.Join("..", "..", "deploy", "ssedge.toml"))
	if code != 0 {
		t.Fatalf("deploy/ssedge.toml: exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "[[channel]]") {
		t.Errorf("deploy/ssedge.toml has no rules:\n%s", out)
	}
	// The keys it shows commented out parse too (their files are not read
	// here: they need not exist on this machine).
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "ssedge.toml"))
	if err != nil {
		t.Fatal(err)
	}
	commented := regexp.MustCompile(`(?m)^# ([a-z-]+ = )`)
	if n := len(commented.FindAll(b, -1)); n < 5 {
		t.Fatalf("found %d commented-out keys; the pattern has gone stale", n)
	}
	all := writeConfig(t, commented.ReplaceAllString(string(b), "$1"))
	if _, err := parseServe([]string{"--config", all}); err != nil {
		t.Fatalf("deploy/ssedge.toml with every key uncommented: %v", err)
	}
}
