package auth

import (
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Mint makes an HS256 token that allows channels (exact names or patterns
// ending in "*") from now for ttl, for tests and as a reference for back
// ends that issue their own. exp is rounded down to the second, as JWT
// NumericDates are.
func Mint(secret []byte, channels []string, ttl time.Duration, now time.Time) (string, error) {
	if len(secret) < MinSecretBytes {
		return "", fmt.Errorf("%w: secret is %d bytes, expected at least %d", ErrWeakSecret, len(secret), MinSecretBytes)
	}
	if err := checkChannels(channels); err != nil {
		return "", err
	}
	if ttl < time.Second {
		return "", fmt.Errorf("auth: ttl %q: expected at least 1s", ttl.String())
	}
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		Channels: channels,
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
}
