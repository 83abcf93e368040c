package auth_test

import (
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssedge/ssedge/internal/auth"
)

// A reload that rotates the secret: tokens signed with the old secret are
// accepted until the overlap ends, those with the new one at once, and a
// token neither signed is refused with the new key's reason.
func TestWithPrevious(t *testing.T) {
	oldSecret := []byte("old-secret-0123456789abcdef0123456789")
	newSecret := []byte("new-secret-0123456789abcdef0123456789")
	cfg := func(s []byte) auth.Config {
		return auth.Config{Prefixes: []string{"private-"}, SecretFile: writeFile(t, "s", s)}
	}
	prev, err := auth.New(cfg(oldSecret))
	if err != nil {
		t.Fatal(err)
	}
	next, err := auth.New(cfg(newSecret))
	if err != nil {
		t.Fatal(err)
	}
	until := now.Add(5 * time.Minute)
	// Rotating twice keeps only the latest previous keys.
	v := next.WithPrevious(prev.WithPrevious(next, until), until)
	claims := payload([]string{"private-a"}, time.Hour, 0, 0)
	oldTok := sign(t, jwt.SigningMethodHS256, oldSecret, claims)
	newTok := sign(t, jwt.SigningMethodHS256, newSecret, claims)
	otherTok := sign(t, jwt.SigningMethodHS256, []byte("other-secret-0123456789abcdef012345"), claims)
	expiredOld := sign(t, jwt.SigningMethodHS256, oldSecret, payload([]string{"private-a"}, -time.Minute, 0, 0))

	for _, tt := range []struct {
		name string
		tok  string
		at   time.Time
		want error
	}{
		{"new secret", newTok, now, nil},
		{"old secret in the overlap", oldTok, now, nil},
		{"old secret after the overlap", oldTok, until, auth.ErrInvalidToken},
		{"new secret after the overlap", newTok, until.Add(time.Minute), nil},
		{"neither secret", otherTok, now, auth.ErrInvalidToken},
		{"old secret, expired", expiredOld, now, auth.ErrExpired},
	} {
		g, err := v.Verify([]byte(tt.tok), tt.at)
		switch {
		case tt.want == nil && (err != nil || !g.Allows([]byte("private-a"))):
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != nil && !errors.Is(err, tt.want):
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	if (*auth.Verifier)(nil).WithPrevious(prev, until) != nil {
		t.Error("a nil Verifier (nothing private) must stay nil")
	}
	if next.WithPrevious(nil, until) != next {
		t.Error("no previous keys: the Verifier itself")
	}
}
