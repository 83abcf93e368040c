package poller

import (
	"errors"
	"fmt"
	"net"
	"sync"

	"go.uber.org/zap"
)

// Server is the subscriber side of ssedge: its listeners and loops.
type Server struct {
	cfg   Config
	loops []*loop
	addrs []net.Addr

	wg        sync.WaitGroup
	startOnce sync.Once
	closeOnce sync.Once
}

// New creates the loops and binds every listen address (so Addrs is known
// and a busy port fails here), but serves nothing until Start.
func New(cfg Config) (*Server, error) {
	if cfg.Hub == nil {
		return nil, errors.New("poller: Config.Hub is required")
	}
	cfg.setDefaults()
	s := &Server{cfg: cfg}
	for i := 0; i < cfg.Loops; i++ {
		l, err := newLoop(s, i)
		if err != nil {
			s.release()
			return nil, err
		}
		s.loops = append(s.loops, l)
	}
	for _, a := range cfg.Listen {
		if err := s.listen(a); err != nil {
			s.release()
			return nil, err
		}
	}
	return s, nil
}

// listen binds one SO_REUSEPORT socket per loop for address a, after
// checking that no other process holds the port (claimPort). A port of 0
// is chosen by the kernel once and shared by the loops.
func (s *Server) listen(a string) error {
	addr, err := net.ResolveTCPAddr("tcp", a)
	if err != nil {
		return fmt.Errorf("poller: listen address %q: %w (expected HOST:PORT)", a, err)
	}
	if addr, err = claimPort(addr); err != nil {
		return fmt.Errorf("poller: listen on %q: %w (is another server using the port?)", a, err)
	}
	for _, l := range s.loops {
		fd, err := listenTCP(addr, s.cfg.Backlog)
		if err != nil {
			return fmt.Errorf("poller: listen on %q: %w", a, err)
		}
		if err := l.addListener(fd); err != nil {
			return err
		}
	}
	s.addrs = append(s.addrs, addr)
	return nil
}

// Addrs are the bound listen addresses, in Config.Listen order.
func (s *Server) Addrs() []net.Addr { return s.addrs }

// Start runs the loops. It returns at once.
func (s *Server) Start() {
	s.startOnce.Do(func() {
		for _, l := range s.loops {
			s.wg.Add(1)
			go func(l *loop) {
				defer s.wg.Done()
				l.run()
			}(l)
		}
		s.cfg.Log.Info("subscriber loops started", zap.Int("loops", len(s.loops)), zap.Stringers("listen", s.addrs))
	})
}

// Close stops accepting, closes every connection and waits for the loops
// to exit.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.startOnce.Do(func() {}) // no Start after Close
		for _, l := range s.loops {
			l.stop.Store(true)
			l.wakeup()
		}
		s.wg.Wait()
		s.release()
	})
	return nil
}

// release frees what the loops hold; only after they have exited.
func (s *Server) release() {
	for _, l := range s.loops {
		l.release()
	}
}

// Stats sums the loops' counters. Safe for concurrent use.
func (s *Server) Stats() Stats {
	var st Stats
	for _, l := range s.loops {
		l.stats.addTo(&st)
	}
	return st
}
