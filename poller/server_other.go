//go:build !linux

package poller

import "net"

// Server is unavailable on this system; see ErrNeedsLinux.
type Server struct{}

// New fails with ErrNeedsLinux.
func New(cfg Config) (*Server, error) { return nil, ErrNeedsLinux }

// Addrs returns nil.
func (s *Server) Addrs() []net.Addr { return nil }

// Start does nothing.
func (s *Server) Start() {}

// Close does nothing.
func (s *Server) Close() error { return nil }

// FDReserve returns 0.
func (s *Server) FDReserve() int { return 0 }

// Stats returns zeros.
func (s *Server) Stats() Stats { return Stats{} }

// LoopStats returns nil.
func (s *Server) LoopStats() []LoopStats { return nil }

// Bound is unavailable on this system; see ErrNeedsLinux.
type Bound struct {
	Sets  [][]Inherited
	Addrs []net.Addr
}

// Bind fails with ErrNeedsLinux.
func Bind(cfg Config, workers int) (*Bound, error) { return nil, ErrNeedsLinux }

// Close does nothing.
func (b *Bound) Close() {}
