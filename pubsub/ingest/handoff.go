package ingest

import (
	"fmt"
	"net"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/ssedge/ssedge/internal/sockfile"
	"github.com/ssedge/ssedge/pubsub"
)

// Files returns duplicates of the publish socket's listener and lock
// descriptors, for a binary upgrade: the new process serves the same
// socket (Adopt), so publishers never find the path missing.
func (s *Server) Files() (ln, lock *os.File, err error) { return s.sock.Files() }

// Disown makes Close leave the socket file and its lock to the process
// that took them over: it only closes this process's copies.
func (s *Server) Disown() { s.sock.Disown() }

// Adopt takes over a publish socket a previous process bound and handed
// over (Files), and serves it once Serve is called: until then
// publishers wait in the socket's queue (the previous process may still
// serve them, if the hand-over fails). ln is its listener, lock its lock
// file; both are Adopt's
// from then on, closed on error too. cfg is taken as Listen takes it;
// cfg.Path must be the socket's path (the one handed over, not a flag's
// new value).
func Adopt(hub *pubsub.Hub, cfg Config, ln, lock *os.File) (*Server, error) {
	if cfg.Mode == 0 {
		cfg.Mode = 0o660
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 30 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	nl, err := net.FileListener(ln)
	ln.Close() // FileListener made its own copy
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		return nil, fmt.Errorf("ingest: handed-over publish socket %q: %w", cfg.Path, err)
	}
	ul, ok := nl.(*net.UnixListener)
	if !ok {
		nl.Close()
		if lock != nil {
			lock.Close()
		}
		return nil, fmt.Errorf("ingest: handed-over publish socket %q is not a unix socket", cfg.Path)
	}
	sock := sockfile.Adopt(cfg.Path, ul, lock)
	s := &Server{hub: hub, cfg: cfg, sock: sock, ln: ul, conns: make(map[*conn]struct{})}
	return s, nil
}

// StopAccepting closes this process's copy of the listener, so that no
// new publisher connection lands here once a new process serves the
// socket (Close, later, ends the connections already open). Call Disown
// first.
func (s *Server) StopAccepting() {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.ln.Close()
}
