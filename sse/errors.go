package sse

import (
	"errors"
	"fmt"
)

// Sentinel errors. Validation functions wrap them with the offending value
// (quoted, clipped to maxQuoted bytes) and what was expected; callers branch
// with errors.Is.
var (
	// ErrEventName: an event name is empty, too long, not UTF-8, or holds
	// CR, LF or NUL.
	ErrEventName = errors.New("sse: invalid event name")
	// ErrChannelName: a channel name is empty, too long, or holds a byte
	// outside the channel charset.
	ErrChannelName = errors.New("sse: invalid channel name")
	// ErrOrigin: a CORS allow-list entry is not an origin, a wildcard
	// origin or "*".
	ErrOrigin = errors.New("sse: invalid CORS origin")
)

// maxQuoted bounds how much of a refused value an error message repeats, so
// a hostile megabyte-long name does not become a megabyte-long log line.
const maxQuoted = 64

// quoted renders b with %q, clipped to maxQuoted bytes.
func quoted[T ~string | ~[]byte](b T) string {
	if len(b) > maxQuoted {
		return fmt.Sprintf("%q... (%d bytes)", b[:maxQuoted], len(b))
	}
	return fmt.Sprintf("%q", b)
}
