//go:build !linux

package poller

import "context"

// Handoff is a paused server's state; only on Linux.
type Handoff struct {
	Listeners []HandoffListener
	Conns     []HandoffConn
}

// Pause is not available on this system.
func (s *Server) Pause(ctx context.Context, target uint64) (*Handoff, error) {
	return nil, ErrNeedsLinux
}

// Commit does nothing here.
func (h *Handoff) Commit() {}

// Abort does nothing here.
func (h *Handoff) Abort() {}

// Import is not available on this system.
func (s *Server) Import(conns []HandoffConn) error { return ErrNeedsLinux }
