package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ssedge/ssedge/internal/auth"
)

func TestTokenCommand(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte("0123456789abcdef0123456789abcdef-cli\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	shortFile := filepath.Join(dir, "short")
	if err := os.WriteFile(shortFile, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := auth.New(auth.Config{Prefixes: []string{"private-", "user:"}, SecretFile: secretFile})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("mints a token the server accepts", func(t *testing.T) {
		start := time.Now()
		out, err := run(t, "token", "--secret-file", secretFile, "--channel", "private-a", "--channel", "user:7:*", "--ttl", "10m")
		if err != nil {
			t.Fatalf("ssedge token: %v\n%s", err, out)
		}
		tok := strings.TrimSuffix(out, "\n")
		if strings.ContainsAny(tok, " \n") || strings.Count(tok, ".") != 2 {
			t.Fatalf("output %q is not one JWT line", out)
		}
		g, err := v.Verify([]byte(tok), time.Now())
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		for ch, want := range map[string]bool{"private-a": true, "user:7:inbox": true, "private-b": false, "user:8:inbox": false} {
			if got := g.Allows([]byte(ch)); got != want {
				t.Errorf("Allows(%q) = %v, want %v", ch, got, want)
			}
		}
		if exp := g.Expires(); exp.Before(start.Add(10*time.Minute-time.Second)) || exp.After(time.Now().Add(10*time.Minute)) {
			t.Errorf("Expires %v, want about 10m from %v", exp, start)
		}
		if _, err := v.Verify([]byte(tok), start.Add(11*time.Minute)); err == nil {
			t.Error("token still valid after its ttl")
		}
	})

	for _, tt := range []struct {
		name string
		args []string
		want string // in the error output
	}{
		{"no secret file", []string{"--channel", "a"}, "--secret-file is required"},
		{"no channel", []string{"--secret-file", secretFile}, "--channel is required"},
		{"short secret", []string{"--secret-file", shortFile, "--channel", "a"}, "secret too short"},
		{"missing secret file", []string{"--secret-file", filepath.Join(dir, "nope"), "--channel", "a"}, "no such file"},
		{"bad ttl", []string{"--secret-file", secretFile, "--channel", "a", "--ttl", "500ms"}, `--ttl "500ms"`},
		{"bad pattern", []string{"--secret-file", secretFile, "--channel", "a*b"}, `"a*b"`},
		{"stray argument", []string{"--secret-file", secretFile, "--channel", "a", "extra"}, `"extra"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(t, append([]string{"token"}, tt.args...)...)
			if err == nil {
				t.Fatalf("ssedge token %q succeeded: %s", tt.args, out)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("output %q does not contain %q", out, tt.want)
			}
		})
	}
}
