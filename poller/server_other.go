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

// Stats returns zeros.
func (s *Server) Stats() Stats { return Stats{} }
