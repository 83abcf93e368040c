package auth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssedge/ssedge/internal/auth"
)

var (
	secret = []byte("0123456789abcdef0123456789abcdef-test-secret")
	now    = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func pemPublic(t *testing.T, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// payload is a token's claims with the given times relative to now (zero:
// absent).
func payload(channels []string, exp, nbf, iat time.Duration) jwt.MapClaims {
	c := jwt.MapClaims{}
	if channels != nil {
		c["channels"] = channels
	}
	for name, d := range map[string]time.Duration{"exp": exp, "nbf": nbf, "iat": iat} {
		if d != 0 {
			c[name] = now.Add(d).Unix()
		}
	}
	return c
}

func sign(t *testing.T, m jwt.SigningMethod, key any, c jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type keys struct {
	rsa    *rsa.PrivateKey
	ec     *ecdsa.PrivateKey
	rsaPEM []byte
	ecPEM  []byte
}

func newKeys(t *testing.T) *keys {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &keys{rsa: rk, ec: ek, rsaPEM: pemPublic(t, &rk.PublicKey), ecPEM: pemPublic(t, &ek.PublicKey)}
}

func TestVerify(t *testing.T) {
	k := newKeys(t)
	secretFile := writeFile(t, "secret", append(append([]byte{}, secret...), '\n'))
	rsaFile := writeFile(t, "rsa.pem", k.rsaPEM)
	ecFile := writeFile(t, "ec.pem", k.ecPEM)
	hs := auth.Config{Prefixes: []string{"private-"}, SecretFile: secretFile}
	rs := auth.Config{Prefixes: []string{"private-"}, PublicKeyFile: rsaFile}
	es := auth.Config{Prefixes: []string{"private-"}, PublicKeyFile: ecFile}
	both := auth.Config{Prefixes: []string{"private-"}, SecretFile: secretFile, PublicKeyFile: rsaFile}
	ch := []string{"private-a"}
	good := payload(ch, time.Hour, 0, 0)
	otherSecret := []byte("another-secret-another-secret-another-secret")
	otherRSA, _ := rsa.GenerateKey(rand.Reader, 2048)

	// A token whose signature is cut off or changed.
	hsGood := sign(t, jwt.SigningMethodHS256, secret, good)
	flipped := hsGood[:len(hsGood)-2] + map[bool]string{true: "AA", false: "BB"}[!strings.HasSuffix(hsGood, "AA")]

	tests := []struct {
		name  string
		cfg   auth.Config
		token string
		want  error // nil: valid
	}{
		{"hs256 good", hs, hsGood, nil},
		{"hs256 with nbf and iat in the past", hs, sign(t, jwt.SigningMethodHS256, secret, payload(ch, time.Hour, -time.Minute, -time.Minute)), nil},
		{"hs256 expired", hs, sign(t, jwt.SigningMethodHS256, secret, payload(ch, -time.Second, 0, 0)), auth.ErrExpired},
		{"hs256 not yet valid", hs, sign(t, jwt.SigningMethodHS256, secret, payload(ch, time.Hour, time.Minute, 0)), auth.ErrInvalidToken},
		{"hs256 issued in the future", hs, sign(t, jwt.SigningMethodHS256, secret, payload(ch, time.Hour, 0, time.Minute)), auth.ErrInvalidToken},
		{"hs256 no exp", hs, sign(t, jwt.SigningMethodHS256, secret, payload(ch, 0, 0, 0)), auth.ErrInvalidToken},
		{"hs256 no channels", hs, sign(t, jwt.SigningMethodHS256, secret, payload(nil, time.Hour, 0, 0)), auth.ErrInvalidToken},
		{"hs256 star inside", hs, sign(t, jwt.SigningMethodHS256, secret, payload([]string{"private-*-x"}, time.Hour, 0, 0)), auth.ErrInvalidToken},
		{"hs256 channels not strings", hs, sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"exp": now.Add(time.Hour).Unix(), "channels": []int{1}}), auth.ErrInvalidToken},
		{"hs256 wrong secret", hs, sign(t, jwt.SigningMethodHS256, otherSecret, good), auth.ErrInvalidToken},
		{"hs256 changed signature", hs, flipped, auth.ErrInvalidToken},
		{"hs256 changed claims", hs, strings.Join([]string{strings.Split(hsGood, ".")[0], strings.Split(sign(t, jwt.SigningMethodHS256, otherSecret, payload([]string{"private-*"}, time.Hour, 0, 0)), ".")[1], strings.Split(hsGood, ".")[2]}, "."), auth.ErrInvalidToken},
		{"hs384 refused", hs, sign(t, jwt.SigningMethodHS384, secret, good), auth.ErrInvalidToken},
		{"alg none", hs, sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good), auth.ErrInvalidToken},
		{"alg none with both keys", both, sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good), auth.ErrInvalidToken},
		{"alg confusion: hs256 keyed with the rsa public pem", rs, sign(t, jwt.SigningMethodHS256, k.rsaPEM, good), auth.ErrInvalidToken},
		{"alg confusion: hs256 keyed with the ec public pem", es, sign(t, jwt.SigningMethodHS256, k.ecPEM, good), auth.ErrInvalidToken},
		{"malformed", hs, "not.a.jwt", auth.ErrInvalidToken},
		{"two parts", hs, "abc.def", auth.ErrInvalidToken},
		{"empty", hs, "", auth.ErrNoToken},
		{"too long", hs, strings.Repeat("a", auth.MaxTokenBytes+1), auth.ErrInvalidToken},
		{"rs256 good", rs, sign(t, jwt.SigningMethodRS256, k.rsa, good), nil},
		{"rs256 good with both keys", both, sign(t, jwt.SigningMethodRS256, k.rsa, good), nil},
		{"hs256 good with both keys", both, hsGood, nil},
		{"rs256 expired", rs, sign(t, jwt.SigningMethodRS256, k.rsa, payload(ch, -time.Minute, 0, 0)), auth.ErrExpired},
		{"rs256 other key", rs, sign(t, jwt.SigningMethodRS256, otherRSA, good), auth.ErrInvalidToken},
		{"rs256 when only hs256 configured", hs, sign(t, jwt.SigningMethodRS256, k.rsa, good), auth.ErrInvalidToken},
		{"ps256 refused", rs, sign(t, jwt.SigningMethodPS256, k.rsa, good), auth.ErrInvalidToken},
		{"es256 good", es, sign(t, jwt.SigningMethodES256, k.ec, good), nil},
		{"es256 expired", es, sign(t, jwt.SigningMethodES256, k.ec, payload(ch, -time.Minute, 0, 0)), auth.ErrExpired},
		{"es256 when rsa configured", rs, sign(t, jwt.SigningMethodES256, k.ec, good), auth.ErrInvalidToken},
		{"hs256 when ec configured", es, hsGood, auth.ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := auth.New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			g, err := v.Verify([]byte(tt.token), now)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if !g.Allows([]byte("private-a")) || g.Allows([]byte("private-b")) {
					t.Errorf("grant does not match its channels")
				}
				if want := now.Add(time.Hour); !g.Expires().Equal(want) {
					t.Errorf("Expires = %v, want %v", g.Expires(), want)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify error %v, want %v", err, tt.want)
			}
			if g != nil {
				t.Errorf("grant %v with error", g)
			}
			msg := err.Error()
			if len(msg) <= len(tt.want.Error())+2 {
				t.Errorf("error %q gives no reason", msg)
			}
			for _, part := range strings.Split(tt.token, ".") {
				if len(part) >= 8 && strings.Contains(msg, part) {
					t.Errorf("error %q contains part of the token", msg)
				}
			}
		})
	}
}

// TestExpiryBoundary: a token is valid until, not at, its exp second.
func TestExpiryBoundary(t *testing.T) {
	v, err := auth.New(auth.Config{Prefixes: []string{"p-"}, SecretFile: writeFile(t, "s", secret)})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := auth.Mint(secret, []string{"p-a"}, time.Minute, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		at   time.Time
		want error
	}{
		{now, nil},
		{now.Add(time.Minute - time.Nanosecond), nil},
		{now.Add(time.Minute), auth.ErrExpired},
		{now.Add(time.Hour), auth.ErrExpired},
		{now.Add(-time.Second), auth.ErrInvalidToken}, // iat in the future
	} {
		if _, err := v.Verify([]byte(tok), tt.at); !errors.Is(err, tt.want) {
			t.Errorf("Verify at %v: %v, want %v", tt.at.Sub(now), err, tt.want)
		}
	}
}

func TestNew(t *testing.T) {
	k := newKeys(t)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	privDER, _ := x509.MarshalPKCS8PrivateKey(k.ec)
	tests := []struct {
		name string
		cfg  auth.Config
		want error // nil: works
	}{
		{"short secret", auth.Config{Prefixes: []string{"p-"}, SecretFile: writeFile(t, "s", []byte("too-short-secret\n"))}, auth.ErrWeakSecret},
		{"31-byte secret", auth.Config{Prefixes: []string{"p-"}, SecretFile: writeFile(t, "s", secret[:31])}, auth.ErrWeakSecret},
		{"32-byte secret with crlf", auth.Config{Prefixes: []string{"p-"}, SecretFile: writeFile(t, "s", append(append([]byte{}, secret[:32]...), "\r\n"...))}, nil},
		{"no key", auth.Config{Prefixes: []string{"p-"}}, auth.ErrNoKey},
		{"not pem", auth.Config{Prefixes: []string{"p-"}, PublicKeyFile: writeFile(t, "k", []byte("hello"))}, auth.ErrBadKey},
		{"private key pem", auth.Config{Prefixes: []string{"p-"}, PublicKeyFile: writeFile(t, "k", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}))}, auth.ErrBadKey},
		{"1024-bit rsa", auth.Config{Prefixes: []string{"p-"}, PublicKeyFile: writeFile(t, "k", pemPublic(t, &small.PublicKey))}, auth.ErrBadKey},
		{"p-384", auth.Config{Prefixes: []string{"p-"}, PublicKeyFile: writeFile(t, "k", pemPublic(t, &p384.PublicKey))}, auth.ErrBadKey},
		{"pkcs1 rsa", auth.Config{Prefixes: []string{"p-"}, PublicKeyFile: writeFile(t, "k", pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)}))}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := auth.New(tt.cfg)
			if tt.want == nil {
				if err != nil || v == nil {
					t.Fatalf("New: %v, %v", v, err)
				}
				return
			}
			if !errors.Is(err, tt.want) || v != nil {
				t.Fatalf("New: %v, %v; want error %v", v, err, tt.want)
			}
		})
	}
	if _, err := auth.New(auth.Config{Prefixes: []string{"p-"}, SecretFile: filepath.Join(t.TempDir(), "missing")}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing secret file: %v", err)
	}
}

func TestNoPrivateChannels(t *testing.T) {
	v, err := auth.New(auth.Config{})
	if v != nil || err != nil {
		t.Fatalf("New with no prefixes and no key = %v, %v; want nil, nil", v, err)
	}
	if v.Private([]byte("private-a")) {
		t.Error("nil verifier says private")
	}
	tok, _ := auth.Mint(secret, []string{"a"}, time.Hour, now)
	if _, err := v.Verify([]byte(tok), now); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("nil verifier Verify: %v", err)
	}
}

// A key without prefixes: nothing is private by name, and tokens verify
// (for channels that per-channel rules make private).
func TestKeyWithoutPrefixes(t *testing.T) {
	v, err := auth.New(auth.Config{SecretFile: writeFile(t, "s", secret)})
	if err != nil || v == nil {
		t.Fatalf("New with a key and no prefixes = %v, %v; want a verifier", v, err)
	}
	if v.Private([]byte("private-a")) {
		t.Error("a verifier without prefixes says private")
	}
	tok, _ := auth.Mint(secret, []string{"a"}, time.Hour, now)
	if g, err := v.Verify([]byte(tok), now); err != nil || !g.Allows([]byte("a")) {
		t.Errorf("Verify = %v, %v; want a grant for a", g, err)
	}
	if _, err := auth.New(auth.Config{SecretFile: "/nonexistent"}); err == nil {
		t.Error("New with an unreadable secret file and no prefixes: no error")
	}
}

func TestPrivate(t *testing.T) {
	v, err := auth.New(auth.Config{Prefixes: []string{"private-", "user:"}, SecretFile: writeFile(t, "s", secret)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		channel string
		want    bool
	}{
		{"private-a", true},
		{"private-", true},
		{"private", false},
		{"user:42", true},
		{"user", false},
		{"news", false},
		{"", false},
		{"xprivate-a", false},
		{"Private-a", false},
	} {
		if got := v.Private([]byte(tt.channel)); got != tt.want {
			t.Errorf("Private(%q) = %v, want %v", tt.channel, got, tt.want)
		}
	}
	if _, err := auth.New(auth.Config{Prefixes: []string{""}, SecretFile: writeFile(t, "s", secret)}); err == nil {
		t.Error("empty prefix accepted")
	}
}

// TestWrongClaimTypes: a signed token whose claims have the wrong JSON
// types is refused with the claim and the type it should have, not as a
// malformed JWT, so whoever mints tokens knows what to fix.
func TestWrongClaimTypes(t *testing.T) {
	v, err := auth.New(auth.Config{Prefixes: []string{"private-"}, SecretFile: writeFile(t, "secret", secret)})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	exp := now.Add(time.Hour).Unix()
	tests := []struct {
		name   string
		claims jwt.MapClaims
		want   string
	}{
		{"channels numbers", jwt.MapClaims{"exp": exp, "channels": []int{1}}, `claim "channels" is an array with items other than strings, expected an array of strings`},
		{"channels a string", jwt.MapClaims{"exp": exp, "channels": "private-a"}, `claim "channels" is a string, expected an array of strings`},
		{"exp a string", jwt.MapClaims{"exp": "tomorrow", "channels": []string{"private-a"}}, `claim "exp" is a string, expected a number`},
		{"nbf a boolean", jwt.MapClaims{"exp": exp, "nbf": true, "channels": []string{"private-a"}}, `claim "nbf" is a boolean, expected a number`},
		{"aud a number", jwt.MapClaims{"exp": exp, "aud": 5, "channels": []string{"private-a"}}, `claim "aud" is a number, expected a string or an array of strings`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify([]byte(sign(t, jwt.SigningMethodHS256, secret, tt.claims)), now)
			if !errors.Is(err, auth.ErrInvalidToken) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Verify error %v, want ErrInvalidToken saying %q", err, tt.want)
			}
		})
	}
}
