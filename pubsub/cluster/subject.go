package cluster

import (
	"fmt"
	"strings"

	"github.com/ssedge/ssedge/sse"
)

// Channel names (A-Z a-z 0-9 - . _ ~ : @ /, 1-128 bytes) become exactly
// one NATS subject token: "." would split the token, so it is escaped,
// and so is the escape character itself:
//
//	"~" -> "~~"   "." -> "~d"   every other allowed byte stays as it is
//
// The mapping is a prefix code, so it is lossless and collision-free: "a.b"
// is "a~db", "a~db" is "a~~db", and neither can be "a" or "a.b.c"'s token.
// The subject is the stream's prefix, a dot, and the token; the stream's
// subject filter ends in "*", which matches exactly one token, so no
// channel can reach into another's subject.

// channelToken returns channel's subject token.
func channelToken(channel []byte) string {
	var b strings.Builder
	b.Grow(len(channel) + 4)
	for _, c := range channel {
		switch c {
		case '~':
			b.WriteString("~~")
		case '.':
			b.WriteString("~d")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// tokenChannel inverts channelToken; it reports an error for a token that
// channelToken does not produce.
func tokenChannel(token string) (string, error) {
	var b strings.Builder
	b.Grow(len(token))
	for i := 0; i < len(token); i++ {
		c := token[i]
		if c != '~' {
			b.WriteByte(c)
			continue
		}
		if i+1 == len(token) {
			return "", fmt.Errorf("%w: subject token %q ends in a lone ~", ErrForeignMessage, token)
		}
		i++
		switch token[i] {
		case '~':
			b.WriteByte('~')
		case 'd':
			b.WriteByte('.')
		default:
			return "", fmt.Errorf("%w: subject token %q has an unknown escape ~%c", ErrForeignMessage, token, token[i])
		}
	}
	ch := b.String()
	if err := sse.ValidChannelName([]byte(ch)); err != nil {
		return "", fmt.Errorf("%w: %w", ErrForeignMessage, err)
	}
	return ch, nil
}

// subjectPrefix is the subject prefix of stream's events: "ssedge.<stream>".
func subjectPrefix(stream string) string { return "ssedge." + stream }
