package admin

import (
	"fmt"
	"net"
	"os"

	"github.com/ssedge/ssedge/internal/sockfile"
)

// Files returns duplicates of the endpoint's listener (and, for a unix
// socket, its lock) descriptors, to hand to a new process on a binary
// upgrade; Disown then keeps Close from removing the socket file.
func (s *Server) Files() (ln, lock *os.File, err error) {
	if s.sock != nil {
		return s.sock.Files()
	}
	tl, ok := s.ln.(*net.TCPListener)
	if !ok {
		return nil, nil, fmt.Errorf("admin: listener %T cannot be handed over", s.ln)
	}
	ln, err = tl.File()
	return ln, nil, err
}

// Disown leaves a unix socket file to the process that took it over.
func (s *Server) Disown() {
	if s.sock != nil {
		s.sock.Disown()
	}
}

// adopt serves cfg.Inherited.
func (s *Server) adopt(network, addr string) error {
	nl, err := net.FileListener(s.cfg.Inherited)
	s.cfg.Inherited.Close() // FileListener made its own copy
	if err != nil {
		if s.cfg.InheritedLock != nil {
			s.cfg.InheritedLock.Close()
		}
		return fmt.Errorf("admin: handed-over listener %q: %w", s.cfg.Addr, err)
	}
	s.ln, s.addr = nl, nl.Addr().String()
	if network == "unix" {
		ul, ok := nl.(*net.UnixListener)
		if !ok {
			nl.Close()
			if s.cfg.InheritedLock != nil {
				s.cfg.InheritedLock.Close()
			}
			return fmt.Errorf("admin: handed-over listener %q is not a unix socket", s.cfg.Addr)
		}
		s.sock, s.addr = sockfile.Adopt(addr, ul, s.cfg.InheritedLock), "unix:"+addr
	}
	return nil
}
