package auth_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ssedge/ssedge/internal/auth"
)

func grantFor(t testing.TB, channels ...string) *auth.Grant {
	t.Helper()
	v, err := auth.New(auth.Config{Prefixes: []string{"private-"}, SecretFile: writeFile(t, "s", secret)})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := auth.Mint(secret, channels, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	g, err := v.Verify([]byte(tok), now)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestAllows(t *testing.T) {
	tests := []struct {
		name    string
		grant   []string
		channel string
		want    bool
	}{
		{"exact", []string{"private-a"}, "private-a", true},
		{"exact is not a prefix", []string{"private-a"}, "private-ab", false},
		{"exact is not a suffix", []string{"private-ab"}, "private-a", false},
		{"second entry", []string{"private-a", "user:1"}, "user:1", true},
		{"no match", []string{"private-a", "user:*"}, "private-b", false},
		{"prefix", []string{"user:42:*"}, "user:42:inbox", true},
		{"prefix matches its own stem", []string{"private-*"}, "private-", true},
		{"prefix boundary", []string{"private-*"}, "private", false},
		{"prefix other user", []string{"user:42:*"}, "user:420:inbox", false},
		{"prefix other user stem", []string{"user:42*"}, "user:420", true},
		{"star alone matches all", []string{"*"}, "anything", true},
		{"case matters", []string{"private-a"}, "Private-a", false},
		{"empty channel", []string{"private-a"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := grantFor(t, tt.grant...).Allows([]byte(tt.channel)); got != tt.want {
				t.Errorf("grant %q Allows(%q) = %v, want %v", tt.grant, tt.channel, got, tt.want)
			}
		})
	}
	var nilGrant *auth.Grant
	if nilGrant.Allows([]byte("x")) || !nilGrant.Expires().IsZero() {
		t.Error("nil grant allows or expires")
	}
}

func TestMint(t *testing.T) {
	v, err := auth.New(auth.Config{Prefixes: []string{"private-"}, SecretFile: writeFile(t, "s", secret)})
	if err != nil {
		t.Fatal(err)
	}
	at := now.Add(700 * time.Millisecond)
	tok, err := auth.Mint(secret, []string{"private-a", "user:7:*"}, 90*time.Second, at)
	if err != nil {
		t.Fatal(err)
	}
	g, err := v.Verify([]byte(tok), at)
	if err != nil {
		t.Fatal(err)
	}
	if !g.Allows([]byte("private-a")) || !g.Allows([]byte("user:7:x")) || g.Allows([]byte("private-b")) {
		t.Error("round trip lost channels")
	}
	if want := now.Add(90 * time.Second); !g.Expires().Equal(want) {
		t.Errorf("Expires %v, want %v (rounded down to the second)", g.Expires(), want)
	}

	for _, tt := range []struct {
		name     string
		secret   []byte
		channels []string
		ttl      time.Duration
		want     error
	}{
		{"short secret", secret[:31], []string{"a"}, time.Hour, auth.ErrWeakSecret},
		{"no channels", secret, nil, time.Hour, auth.ErrBadGrant},
		{"empty channel", secret, []string{""}, time.Hour, auth.ErrBadGrant},
		{"star inside", secret, []string{"a*b"}, time.Hour, auth.ErrBadGrant},
		{"ttl under a second", secret, []string{"a"}, time.Millisecond, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := auth.Mint(tt.secret, tt.channels, tt.ttl, now)
			if err == nil {
				t.Fatal("Mint accepted")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Mint: %v, want %v", err, tt.want)
			}
		})
	}
}
