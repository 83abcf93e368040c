package sse

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

const (
	// MaxEventName is the longest event name, in bytes.
	MaxEventName = 256
	// MaxChannelName is the longest channel name, in bytes.
	MaxChannelName = 128
	// GapEvent names the event that tells a resuming client that events
	// after its Last-Event-ID are no longer retained.
	GapEvent = "ssedge.gap"
	// ExpiredEvent names the event sent just before the server closes a
	// stream because the token that allowed a private channel expired.
	ExpiredEvent = "ssedge.expired"
	// RevokedEvent names the event sent just before the server closes a
	// stream that a reloaded configuration no longer allows (a channel
	// became private and the stream holds no token that allows it).
	RevokedEvent = "ssedge.revoked"
)

// channelCharset describes the channel charset for error messages; keep it
// in step with channelByte.
const channelCharset = "A-Z a-z 0-9 and - . _ ~ : @ /"

// channelByte marks the bytes allowed in a channel name: RFC 3986's
// unreserved characters plus ":", "@" and "/". None of them needs
// percent-encoding in a query value, quoting in JSON, or escaping in a log
// line. Left out on purpose: "+" (form decoding turns it into a space),
// "=", "&", "%", "?" and "#" (URL syntax), space and quotes.
var channelByte = func() (t [256]bool) {
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range []byte("-._~:@/") {
		t[c] = true
	}
	return t
}()

// ValidEventName reports whether name may follow "event: ": 1 to
// MaxEventName bytes of valid UTF-8 without CR, LF or NUL. An empty name is
// an error here; callers that mean "no name" skip the call and pass an
// empty name to AppendEvent, which then omits the field (the browser
// dispatches it as "message").
func ValidEventName(name []byte) error {
	const want = "want 1 to %d bytes of UTF-8 without CR, LF or NUL"
	switch {
	case len(name) == 0:
		return fmt.Errorf("%w: empty; "+want, ErrEventName, MaxEventName)
	case len(name) > MaxEventName:
		return fmt.Errorf("%w %s: %d bytes; "+want, ErrEventName, quoted(name), len(name), MaxEventName)
	}
	if i := bytes.IndexAny(name, "\r\n\x00"); i >= 0 {
		return fmt.Errorf("%w %s: byte %s at offset %d; "+want, ErrEventName, quoted(name), quoted(name[i:i+1]), i, MaxEventName)
	}
	if !utf8.Valid(name) {
		return fmt.Errorf("%w %s: not valid UTF-8; "+want, ErrEventName, quoted(name), MaxEventName)
	}
	return nil
}

// ValidChannelName reports whether name is a channel name: 1 to
// MaxChannelName bytes of A-Z, a-z, 0-9 and "-._~:@/". Validate after
// percent-decoding a query parameter (encodeURIComponent escapes ":", "@"
// and "/").
func ValidChannelName(name []byte) error {
	const want = "want 1 to %d bytes of %s"
	switch {
	case len(name) == 0:
		return fmt.Errorf("%w: empty; "+want, ErrChannelName, MaxChannelName, channelCharset)
	case len(name) > MaxChannelName:
		return fmt.Errorf("%w %s: %d bytes; "+want, ErrChannelName, quoted(name), len(name), MaxChannelName, channelCharset)
	}
	for i, c := range name {
		if !channelByte[c] {
			return fmt.Errorf("%w %s: byte %s at offset %d; "+want, ErrChannelName, quoted(name), quoted(name[i:i+1]), i, MaxChannelName, channelCharset)
		}
	}
	return nil
}
