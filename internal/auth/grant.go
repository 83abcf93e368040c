package auth

import (
	"fmt"
	"strings"
	"time"
)

// Grant is what a verified token allows: exact channel names and name
// prefixes (the token's "name*" patterns), until its expiry. It is
// immutable and safe for concurrent use.
type Grant struct {
	exact    []string
	prefixes []string // patterns without their trailing "*"
	expires  time.Time
}

// newGrant checks a token's channel list and builds the grant.
func newGrant(channels []string, expires time.Time) (*Grant, error) {
	if err := checkChannels(channels); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	g := &Grant{expires: expires}
	for _, ch := range channels {
		if p, ok := strings.CutSuffix(ch, "*"); ok {
			g.prefixes = append(g.prefixes, p)
		} else {
			g.exact = append(g.exact, ch)
		}
	}
	return g, nil
}

// checkChannels validates a "channels" claim: 1 to MaxGrantChannels
// non-empty entries, "*" only as the last byte.
func checkChannels(channels []string) error {
	if len(channels) == 0 {
		return fmt.Errorf("%w: \"channels\" is missing or empty, expected a list of channel names or patterns ending in \"*\"", ErrBadGrant)
	}
	if len(channels) > MaxGrantChannels {
		return fmt.Errorf("%w: \"channels\" has %d entries, expected at most %d (use a pattern ending in \"*\")", ErrBadGrant, len(channels), MaxGrantChannels)
	}
	for _, ch := range channels {
		if ch == "" {
			return fmt.Errorf("%w: channel %q: expected a non-empty name or pattern", ErrBadGrant, ch)
		}
		if i := strings.IndexByte(ch, '*'); i >= 0 && i != len(ch)-1 {
			return fmt.Errorf("%w: channel %q: \"*\" is allowed only at the end of a pattern", ErrBadGrant, clip(ch))
		}
	}
	return nil
}

// Allows reports whether the grant covers channel. It is allocation-free;
// a nil *Grant allows nothing. It does not look at the clock: the caller
// closes the subscription at Expires.
func (g *Grant) Allows(channel []byte) bool {
	if g == nil {
		return false
	}
	for _, e := range g.exact {
		if string(channel) == e {
			return true
		}
	}
	for _, p := range g.prefixes {
		if hasPrefix(channel, p) {
			return true
		}
	}
	return false
}

// Expires is the token's exp: the first instant at which it is no longer
// valid.
func (g *Grant) Expires() time.Time {
	if g == nil {
		return time.Time{}
	}
	return g.expires
}
