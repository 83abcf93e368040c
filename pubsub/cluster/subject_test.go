package cluster

import (
	"errors"
	"strings"
	"testing"
)

// The channel-to-token mapping is lossless for every allowed character
// and collision-free: a '.' never becomes a separator, and no channel's
// token is another's.
func TestChannelToken(t *testing.T) {
	all := "ABCXYZabcxyz0189-._~:@/"
	names := []string{"a", "a.b", "a.b.c", "a~db", "a~~db", "~", ".", "~d", "..", "~.", ".~", all, strings.Repeat("~.", 64)}
	seen := map[string]string{}
	for _, ch := range names {
		tok := channelToken([]byte(ch))
		if strings.ContainsAny(tok, ".*> ") {
			t.Errorf("token %q of %q is not one subject token", tok, ch)
		}
		back, err := tokenChannel(tok)
		if err != nil || back != ch {
			t.Errorf("%q -> %q -> %q, %v", ch, tok, back, err)
		}
		if other, dup := seen[tok]; dup {
			t.Errorf("%q and %q share token %q", ch, other, tok)
		}
		seen[tok] = ch
	}
	for _, bad := range []string{"a~", "a~x", "~", "sp ace", ""} {
		if _, err := tokenChannel(bad); !errors.Is(err, ErrForeignMessage) {
			t.Errorf("token %q: %v, want ErrForeignMessage", bad, err)
		}
	}
}
