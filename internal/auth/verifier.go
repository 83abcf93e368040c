package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Limits.
const (
	MinSecretBytes   = 32   // shortest HS256 secret accepted (RFC 7518 §3.2: at least the hash size)
	MinRSABits       = 2048 // smallest RSA modulus accepted for RS256
	MaxTokenBytes    = 8192 // longest token parsed; anything longer is refused unread
	MaxGrantChannels = 256  // most entries in a token's "channels" claim
)

// Config says which channels are private and which keys sign their tokens.
type Config struct {
	// Prefixes are the channel-name prefixes that make a channel private,
	// e.g. "private-", "user:". Empty: no channel is private.
	Prefixes []string
	// SecretFile holds the HS256 shared secret; a trailing newline is
	// trimmed. The secret must be at least MinSecretBytes long.
	SecretFile string
	// PublicKeyFile holds a PEM public key (PKIX "PUBLIC KEY", PKCS#1 "RSA
	// PUBLIC KEY", or a "CERTIFICATE"): RSA for RS256 or ECDSA P-256 for
	// ES256.
	PublicKeyFile string
}

// Verifier checks tokens for private channels. It is immutable and safe
// for concurrent use.
type Verifier struct {
	prefixes []string
	secret   []byte           // HS256 key; nil when not configured
	rsaKey   *rsa.PublicKey   // RS256 key; nil when not configured
	ecKey    *ecdsa.PublicKey // ES256 key; nil when not configured
	algs     string           // accepted algorithms, for error text

	// previous holds the keys in force before a reload, accepted until
	// prevUntil (rotate.go); nil when not rotating.
	previous  *Verifier
	prevUntil time.Time
}

// New loads the keys. With no prefixes and no key nothing can be private:
// it returns a nil *Verifier and no error, and every method of a nil
// *Verifier works. A key without prefixes gives a Verifier under which no
// channel is private by name, for channels that per-channel rules make
// private.
func New(cfg Config) (*Verifier, error) {
	if len(cfg.Prefixes) == 0 && cfg.SecretFile == "" && cfg.PublicKeyFile == "" {
		return nil, nil
	}
	v := &Verifier{}
	for _, p := range cfg.Prefixes {
		if p == "" {
			return nil, fmt.Errorf("auth: private channel prefix %q: expected a non-empty prefix such as \"private-\"", p)
		}
		v.prefixes = append(v.prefixes, p)
	}
	if cfg.SecretFile == "" && cfg.PublicKeyFile == "" {
		return nil, fmt.Errorf("%w: private channel prefixes %q need a secret file (HS256) or a public key file (RS256/ES256)", ErrNoKey, cfg.Prefixes)
	}
	var algs []string
	if cfg.SecretFile != "" {
		secret, err := ReadSecret(cfg.SecretFile)
		if err != nil {
			return nil, err
		}
		v.secret = secret
		algs = append(algs, jwt.SigningMethodHS256.Alg())
	}
	if cfg.PublicKeyFile != "" {
		key, err := loadPublicKey(cfg.PublicKeyFile)
		if err != nil {
			return nil, err
		}
		switch k := key.(type) {
		case *rsa.PublicKey:
			v.rsaKey = k
			algs = append(algs, jwt.SigningMethodRS256.Alg())
		case *ecdsa.PublicKey:
			v.ecKey = k
			algs = append(algs, jwt.SigningMethodES256.Alg())
		}
	}
	v.algs = strings.Join(algs, ", ")
	return v, nil
}

// ReadSecret reads an HS256 secret file the way New does: one trailing
// newline (LF or CRLF) is trimmed, so that `echo ... > FILE` works, and a
// secret under MinSecretBytes is refused with ErrWeakSecret. Token issuers
// (`ssedge token`) use it so that they sign with exactly the bytes the
// server verifies with.
func ReadSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: secret file: %w", err)
	}
	b = []byte(strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"))
	if len(b) < MinSecretBytes {
		return nil, fmt.Errorf("%w: secret file %q holds %d bytes, expected at least %d (try: head -c 48 /dev/urandom | base64 > FILE)",
			ErrWeakSecret, path, len(b), MinSecretBytes)
	}
	return b, nil
}

// loadPublicKey reads the first PEM block of path and returns an RSA key of
// at least MinRSABits or an ECDSA P-256 key.
func loadPublicKey(path string) (any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: public key file: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%w: %q holds no PEM block, expected \"-----BEGIN PUBLIC KEY-----\"", ErrBadKey, path)
	}
	var key any
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	default:
		return nil, fmt.Errorf("%w: %q holds a %q PEM block, expected \"PUBLIC KEY\", \"RSA PUBLIC KEY\" or \"CERTIFICATE\" (a private key belongs to the token issuer, not here)",
			ErrBadKey, path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrBadKey, path, err)
	}
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < MinRSABits {
			return nil, fmt.Errorf("%w: %q is a %d-bit RSA key, expected at least %d bits", ErrBadKey, path, k.N.BitLen(), MinRSABits)
		}
		return k, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: %q is an ECDSA key on %s, expected P-256 (ES256)", ErrBadKey, path, k.Curve.Params().Name)
		}
		return k, nil
	}
	return nil, fmt.Errorf("%w: %q holds a %T key, expected RSA (RS256) or ECDSA P-256 (ES256)", ErrBadKey, path, key)
}

// Private reports whether channel needs a token. It is allocation-free.
func (v *Verifier) Private(channel []byte) bool {
	if v == nil {
		return false
	}
	for _, p := range v.prefixes {
		if hasPrefix(channel, p) {
			return true
		}
	}
	return false
}

func hasPrefix(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == prefix
}

// claims is the token payload ssedge reads.
type claims struct {
	jwt.RegisteredClaims
	Channels []string `json:"channels"`
}

// Verify checks token at time now and returns what it grants. Errors wrap
// ErrNoToken, ErrInvalidToken or ErrExpired and never contain the token.
// A nil *Verifier has no keys and refuses every token.
func (v *Verifier) Verify(token []byte, now time.Time) (*Grant, error) {
	g, wrongKey, err := v.verify(token, now)
	if err != nil && wrongKey && v.previous != nil && now.Before(v.prevUntil) {
		return v.verifyPrevious(token, now, err)
	}
	return g, err
}

// verify checks token against v's own keys; wrongKey reports an error
// that another key might not have (bad signature, alg of no key here).
func (v *Verifier) verify(token []byte, now time.Time) (g *Grant, wrongKey bool, err error) {
	if len(token) == 0 {
		return nil, false, fmt.Errorf("%w: a private channel needs a token (query parameter, cookie or Authorization: Bearer)", ErrNoToken)
	}
	if v == nil {
		return nil, false, fmt.Errorf("%w: no private channels are configured, so no token is accepted", ErrInvalidToken)
	}
	if len(token) > MaxTokenBytes {
		return nil, false, fmt.Errorf("%w: token is %d bytes, expected at most %d", ErrInvalidToken, len(token), MaxTokenBytes)
	}
	var alg string // the token's alg header, once parsed
	keyFor := func(t *jwt.Token) (any, error) {
		alg = t.Method.Alg()
		switch {
		case alg == jwt.SigningMethodHS256.Alg() && v.secret != nil:
			return v.secret, nil
		case alg == jwt.SigningMethodRS256.Alg() && v.rsaKey != nil:
			return v.rsaKey, nil
		case alg == jwt.SigningMethodES256.Alg() && v.ecKey != nil:
			return v.ecKey, nil
		}
		return nil, errWrongAlg
	}
	var c claims
	_, err = jwt.NewParser(
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(0),
	).ParseWithClaims(string(token), &c, keyFor)
	if err != nil {
		wrongKey = errors.Is(err, errWrongAlg) || errors.Is(err, jwt.ErrTokenSignatureInvalid)
		return nil, wrongKey, v.explain(err, token, alg, &c, now)
	}
	g, err = newGrant(c.Channels, c.ExpiresAt.Time)
	return g, false, err
}

var errWrongAlg = errors.New("wrong alg")

// explain turns a jwt error into one of ours, with a reason built only from
// values this package chose or parsed (never the token's bytes).
func (v *Verifier) explain(err error, token []byte, alg string, c *claims, now time.Time) error {
	stamp := func(d *jwt.NumericDate) string { return d.UTC().Format(time.RFC3339) }
	switch {
	case errors.Is(err, errWrongAlg):
		return fmt.Errorf("%w: token is signed with %q, expected %s", ErrInvalidToken, clip(alg), v.algs)
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return fmt.Errorf("%w: token's alg header is missing or unknown, expected %s", ErrInvalidToken, v.algs)
	case errors.Is(err, jwt.ErrTokenMalformed):
		if why := claimTypeProblem(token); why != "" {
			return fmt.Errorf("%w: %s", ErrInvalidToken, why)
		}
		return fmt.Errorf("%w: token is not a well-formed JWT (three base64url parts: header.claims.signature)", ErrInvalidToken)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return fmt.Errorf("%w: token's %s signature does not match the configured key", ErrInvalidToken, clip(alg))
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return fmt.Errorf("%w: token has no \"exp\" claim, expected an expiry time", ErrInvalidToken)
	case errors.Is(err, jwt.ErrTokenExpired) && c.ExpiresAt != nil:
		return fmt.Errorf("%w: token expired at %s (now %s); get a fresh token", ErrExpired, stamp(c.ExpiresAt), now.UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrTokenNotValidYet) && c.NotBefore != nil:
		return fmt.Errorf("%w: token is not valid before %s (now %s); check the issuer's clock", ErrInvalidToken, stamp(c.NotBefore), now.UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued) && c.IssuedAt != nil:
		return fmt.Errorf("%w: token is issued at %s, in the future (now %s); check the issuer's clock", ErrInvalidToken, stamp(c.IssuedAt), now.UTC().Format(time.RFC3339))
	}
	return fmt.Errorf("%w: token's claims are unusable: expected numeric \"exp\", \"nbf\", \"iat\" and a \"channels\" array of strings", ErrInvalidToken)
}

// claimKinds are the JSON types ssedge accepts for the claims it reads.
var claimKinds = []struct {
	name    string
	strings bool // an array of strings is accepted
	scalar  string
}{
	{"exp", false, "a number"},
	{"nbf", false, "a number"},
	{"iat", false, "a number"},
	{"channels", true, ""},
	{"iss", false, "a string"},
	{"sub", false, "a string"},
	{"jti", false, "a string"},
	{"aud", true, "a string"},
}

// claimTypeProblem says which claim of a token whose three parts decode has
// the wrong JSON type ("" when it finds none): the JWT library reports that
// as a malformed token, which sends whoever mints tokens looking in the
// wrong place. The message holds only claim names and JSON types, never the
// token's bytes.
func claimTypeProblem(token []byte) string {
	parts := strings.Split(string(token), ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return ""
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(payload, &fields) != nil {
		return "token's claims are not a JSON object"
	}
	for _, k := range claimKinds {
		raw, ok := fields[k.name]
		if !ok {
			continue
		}
		got := jsonType(raw)
		if got == k.scalar {
			continue
		}
		want := k.scalar
		if k.strings {
			var list []string
			if got == "an array" && json.Unmarshal(raw, &list) == nil {
				continue
			}
			if got == "an array" {
				got = "an array with items other than strings"
			}
			want = strings.TrimPrefix(want+" or an array of strings", " or ")
		}
		return fmt.Sprintf("claim %q is %s, expected %s", k.name, got, want)
	}
	return ""
}

// jsonType names the JSON type of a valid JSON value.
func jsonType(raw json.RawMessage) string {
	switch b := bytes.TrimSpace(raw); {
	case len(b) == 0:
		return "empty"
	case b[0] == '"':
		return "a string"
	case b[0] == '[':
		return "an array"
	case b[0] == '{':
		return "an object"
	case b[0] == 't' || b[0] == 'f':
		return "a boolean"
	case b[0] == 'n':
		return "null"
	}
	return "a number"
}

// clip bounds a value taken from a token header before it goes into an
// error message.
func clip(s string) string {
	if len(s) > 16 {
		return s[:16] + "..."
	}
	return s
}
