package poller

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// Server is the subscriber side of ssedge: its listeners and loops.
type Server struct {
	cfg   Config
	loops []*loop
	addrs []net.Addr
	unix  []unixListener // shared by all loops; closed by the server after they exit

	wg        sync.WaitGroup
	startOnce sync.Once
	closeOnce sync.Once

	// Shared by every loop (see the package doc):
	conns     atomic.Int64 // open connections, all loops; added to on accept, taken from on close
	ipMu      sync.Mutex   // guards perIP; taken when a stream or poll starts and when a counted one ends, never per event
	perIP     map[netip.Addr]int32
	limLog    atomic.Int64 // unix ms before which over-limit refusals are counted, not logged; the loop that wins a CAS logs
	chanRules              // the per-channel rules in force and the max-subscribers counts

	// The settings in force (immutable): swapped by Reload, loaded by each
	// loop once per turn (settings_linux.go).
	live atomic.Pointer[Config]

	// Set by New, read-only afterwards.
	// Drain (drain_linux.go): set by Drain before it wakes the loops.
	started       atomic.Bool // Start has run: the loops will see a drain request
	drainOnce     atomic.Bool
	drainTarget   atomic.Uint64 // the hub's last id when the drain started
	drainWindowMs atomic.Int64
	drainLn       chan struct{}              // each loop sends once it has closed its listeners
	drained       chan struct{}              // each loop sends once it has closed every connection
	hand          atomic.Pointer[handoffRun] // the upgrade attempt under way (handoff_linux.go): stored by Pause before it wakes the loops

	// How long a loop waits for a read from the cluster's log
	// (upstreamGiveUpMs; a test seam may change it).
	upstreamGiveUpMs atomic.Int64

	maxConns  int    // the connection limit at start (live.MaxConns is the one in force): Config.MaxConns, or derived from the open-files limit; 0: none
	fdLimit   uint64 // for the log line: the soft open-files limit,
	fdOpen    int    // the descriptors open when the limit was derived,
	fdReserve int    // and the reserve kept free
}

// New creates the loops and binds every listen address (so Addrs is known
// and a busy port fails here), but serves nothing until Start.
func New(cfg Config) (*Server, error) {
	if cfg.Hub == nil {
		return nil, errors.New("poller: Config.Hub is required")
	}
	cfg.setDefaults()
	if !ValidClientIPHeader(cfg.ClientIPHeader) {
		return nil, fmt.Errorf("poller: client address header %q: expected %s, %s, %s or %s",
			cfg.ClientIPHeader, ClientIPAuto, ClientIPRealIP, ClientIPForwardedFor, ClientIPNone)
	}
	s := &Server{cfg: cfg}
	s.upstreamGiveUpMs.Store(upstreamGiveUpMs)
	for i := 0; i < cfg.Loops; i++ {
		l, err := newLoop(s, i)
		if err != nil {
			s.release()
			return nil, err
		}
		s.loops = append(s.loops, l)
	}
	for _, a := range cfg.Listen {
		if err := s.listen(a, false); err != nil {
			s.release()
			return nil, err
		}
	}
	for _, a := range cfg.ProxyListen {
		if err := s.listen(a, true); err != nil {
			s.release()
			return nil, err
		}
	}
	for _, in := range cfg.Inherited {
		if err := s.inherit(in); err != nil {
			s.release()
			return nil, err
		}
	}
	s.deriveMaxConns()
	s.setLive(s.cfg)
	return s, nil
}

// listen binds address a: one SO_REUSEPORT socket per loop, or for
// unix:PATH one socket all loops watch.
func (s *Server) listen(a string, proxy bool) error {
	if path, ok := strings.CutPrefix(a, "unix:"); ok {
		u, err := openUnix(path, s.cfg.UnixMode)
		if err != nil {
			return err
		}
		return s.addUnix(u, &net.UnixAddr{Name: path, Net: "unix"}, proxy)
	}
	addr, fds, err := openTCP(a, len(s.loops), s.cfg.Backlog)
	if err != nil {
		return err
	}
	return s.addTCP(addr, fds, proxy)
}

// addUnix has every loop watch u.
func (s *Server) addUnix(u unixListener, addr net.Addr, proxy bool) error {
	s.unix = append(s.unix, u)
	for _, l := range s.loops {
		if err := l.addListener(u.fd, true, proxy); err != nil {
			return err
		}
	}
	s.addrs = append(s.addrs, addr)
	return nil
}

// addTCP gives loop i the socket fds[i]; the loop owns it from then on.
func (s *Server) addTCP(addr net.Addr, fds []int, proxy bool) error {
	for i, l := range s.loops {
		if err := l.addListener(fds[i], false, proxy); err != nil {
			for _, fd := range fds[i+1:] {
				unix.Close(fd)
			}
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
		s.started.Store(true)
		for _, l := range s.loops {
			s.wg.Add(1)
			go func(l *loop) {
				defer s.wg.Done()
				l.run()
			}(l)
		}
		s.cfg.Log.Info("subscriber loops started", zap.Int("loops", len(s.loops)), zap.Stringers("listen", s.addrs))
		s.logMaxConns()
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
	for _, u := range s.unix {
		if u.fd < 0 {
			continue // closed by Drain
		}
		unix.Close(u.fd)
		if u.sock != nil {
			if u.adopted && !s.started.Load() {
				u.sock.Disown() // never served here: the old process's still
			}
			u.sock.Remove()
		}
	}
	s.unix = nil
}

// Stats sums the loops' counters. Safe for concurrent use.
func (s *Server) Stats() Stats {
	var st Stats
	for _, l := range s.loops {
		l.stats.addTo(&st)
	}
	return st
}
