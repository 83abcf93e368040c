//go:build !linux

package fdpass

import (
	"errors"
	"os"
	"time"
)

var errNeedsLinux = errors.New("fdpass: the upgrade hand-off needs Linux")

// Conn is one end of a hand-off socket; only on Linux.
type Conn struct{}

// Pair is not available on this system.
func Pair() (*Conn, *os.File, error) { return nil, nil, errNeedsLinux }

// FromFD is not available on this system.
func FromFD(fd int) (*Conn, error) { return nil, errNeedsLinux }

// SetSendDeadline does nothing.
func (c *Conn) SetSendDeadline(t time.Time) {}

// Close does nothing.
func (c *Conn) Close() error { return nil }

// Send is not available on this system.
func (c *Conn) Send(kind byte, payload []byte, fds []int) error { return errNeedsLinux }

// Recv is not available on this system.
func (c *Conn) Recv(timeout time.Duration) (*Message, error) { return nil, errNeedsLinux }

// CloseFDs does nothing here: nothing is ever received.
func CloseFDs(fds []int) {}
