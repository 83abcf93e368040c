// Package fdpass frames messages with descriptors over a SOCK_SEQPACKET
// unix socket: each message is one kind byte, a payload of at most
// MaxPayload bytes and at most MaxFDs descriptors (SCM_RIGHTS). The
// socket keeps message boundaries, so a message's descriptors arrive with
// it and never with the next. It carries ssedge's upgrade hand-off
// between an old and a new process (cmd/ssedge/upgrade*.go): over a Pair
// (the new process inherits one end), and under --procs between an old
// and a new worker over an abstract socket name (Listen, Dial), where
// both ends check that the peer runs as the same user (SO_PEERCRED).
//
// A Conn is used by one goroutine at a time for sending and one for
// receiving. A send blocks while the peer's queue is full; a deadline
// (SetSendDeadline) bounds it, so a peer that stops reading cannot hold
// the sender for ever.
package fdpass

import (
	"errors"
	"fmt"
)

// Limits of one message.
const (
	// MaxFDs is the most descriptors per message: the kernel's SCM_MAX_FD
	// is 253.
	MaxFDs = 253
	// MaxPayload is the most payload bytes per message, well under the
	// default socket buffer (net.core.wmem_default, 208 KiB), which bounds
	// one SOCK_SEQPACKET message.
	MaxPayload = 64 << 10
)

// ErrClosed is returned by Recv when the peer has closed its end.
var ErrClosed = errors.New("fdpass: peer closed the hand-off socket")

// ErrTimeout is returned by Send past the send deadline (the peer is not
// reading) and by Recv when no message came in time.
var ErrTimeout = errors.New("fdpass: timed out")

// ErrTooLarge is returned by Send for a message over the limits.
var ErrTooLarge = errors.New("fdpass: message over the limits")

// Message is one received message. Its FDs are the caller's to close
// (raw descriptors, close-on-exec: wrap one in an *os.File only to keep
// it, as the File closes it when collected).
type Message struct {
	Kind    byte
	Payload []byte
	FDs     []int
}

func tooLarge(payload, fds int) error {
	return fmt.Errorf("%w: %d bytes and %d descriptors (at most %d and %d)", ErrTooLarge, payload, fds, MaxPayload, MaxFDs)
}
