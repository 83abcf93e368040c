package ingest

import (
	"context"
	"errors"
	"fmt"

	"io/fs"
	"net"
	"os/user"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/ssedge/ssedge/internal/sockfile"
	"github.com/ssedge/ssedge/pubsub"
)

// Config configures the publish socket.
type Config struct {
	Path        string        // unix socket path; default sockfile.DefaultPublishPath()
	Mode        fs.FileMode   // socket file mode; default 0660
	ReadTimeout time.Duration // longest wait for the rest of a started message, and for a publisher to take its replies; default 30 s
	Owner       string        // user (name or uid) to own the socket file; "" leaves it
	Group       string        // group (name or gid) of the socket file; "" leaves it
	AllowUIDs   []uint32      // with AllowGIDs: when either is set, only peers (SO_PEERCRED) with one of these uids or primary gids may publish
	AllowGIDs   []uint32
	MaxConns    int       // open publisher connections; past it a new one is refused and closed; default DefaultMaxConns
	Publisher   Publisher // where publishes go; nil: the hub (Hub.Publish)
	Log         *zap.Logger
}

// DefaultMaxConns is Config.MaxConns when it is 0: publishers are a site's
// back ends on one host. It is about half of the 128 descriptors package
// poller keeps in reserve when it derives its own limit; ssedge serve
// holds it to half that reserve less FixedDescriptors (62 at the usual
// reserve, fewer under a small open-files limit), so the rest stays for
// poller's 503 answers.
const DefaultMaxConns = 64

// FixedDescriptors is how many descriptors the publish socket holds
// besides its MaxConns connections: the listener, the lock file, and up
// to maxRefusing connections being refused. A caller sizing MaxConns to a
// descriptor budget subtracts it.
const FixedDescriptors = 2 + maxRefusing

// Server is the publisher listener: HTTP POST /publish and the line
// protocol on one unix socket, two goroutines (reading and writing) per
// publisher connection, at most Config.MaxConns connections (see the
// package doc for why not netpoll). The first bytes of a connection
// choose its protocol: "PUB " or "PING" select the line protocol, anything
// else is HTTP.
type Server struct {
	hub  *pubsub.Hub
	cfg  Config
	sock *sockfile.Socket
	ln   *net.UnixListener

	rights    atomic.Pointer[PublishRights] // per-channel publish rights (SetPublishRights); nil: the socket's allow-list only
	published atomic.Uint64
	refused   atomic.Uint64
	counts    publishCounters // by protocol and outcome, for PublishStats
	refusing  atomic.Int32    // connections over MaxConns being answered (refuse), at most maxRefusing
	refusals  limiter         // "publish refused" lines
	accepts   limiter         // "publish socket accept failed" lines

	mu      sync.Mutex         // guards conns and closing
	conns   map[*conn]struct{} // open publisher connections
	closing bool               // Close has begun: no new connections, no new reads
	wg      sync.WaitGroup     // the accept loop and every connection goroutine
	serving sync.Once          // starts the accept loop (Serve)
}

// limiter lets a log line through at most once a second and counts the
// ones it holds back, so a misbehaving publisher (or a descriptor
// shortage) cannot flood the log.
type limiter struct {
	at    atomic.Int64 // unix ms before which lines are counted, not logged
	quiet atomic.Int64 // lines held back since the last one logged
}

// allow reports whether to log now and, if so, how many were held back.
func (l *limiter) allow() (bool, int64) {
	now := time.Now().UnixMilli()
	at := l.at.Load()
	if now < at || !l.at.CompareAndSwap(at, now+1000) {
		l.quiet.Add(1)
		return false, 0
	}
	return true, l.quiet.Swap(0)
}

// noteRefusal logs a refusal's reason, rate-limited. Refused counts them all.
func (s *Server) noteRefusal(reason string) {
	if ok, more := s.refusals.allow(); ok {
		s.cfg.Log.Warn("publish refused", zap.String("reason", reason), zap.Int64("more_since_last_line", more))
	}
}

// errHangUp ends a publisher connection after its last reply is flushed:
// its framing is lost, or it asked to close.
var errHangUp = errors.New("ingest: closing publisher connection")

// errClosing ends a connection's reads once Close has begun.
var errClosing = errors.New("ingest: publish socket closing")

// Listen binds the publish socket and starts serving it.
func Listen(hub *pubsub.Hub, cfg Config) (*Server, error) {
	if cfg.Path == "" {
		cfg.Path = sockfile.DefaultPublishPath()
	}
	if cfg.Mode == 0 {
		cfg.Mode = 0o660
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 30 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.MaxConns < 0 {
		return nil, fmt.Errorf("ingest: MaxConns %d: expected 0 (the default, %d) or more", cfg.MaxConns, DefaultMaxConns)
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	uid, gid, err := lookupOwner(cfg.Owner, cfg.Group)
	if err != nil {
		return nil, fmt.Errorf("ingest: publish socket: %w", err)
	}
	sock, err := sockfile.Listen(cfg.Path, cfg.Mode, uid, gid, "publish socket", "--publish-socket")
	if err != nil {
		return nil, err
	}
	s := &Server{hub: hub, cfg: cfg, sock: sock, ln: sock.Listener, conns: make(map[*conn]struct{})}
	s.Serve()
	return s, nil
}

// Serve starts accepting publishers: a Server from Listen does from the
// start, one from Adopt only once this is called. Once; safe to call
// again.
func (s *Server) Serve() {
	s.serving.Do(func() {
		s.wg.Add(1)
		go s.accept()
	})
}

// Path is the socket's path.
func (s *Server) Path() string { return s.cfg.Path }

// Published and Refused count accepted and refused publishes.
func (s *Server) Published() uint64 { return s.published.Load() }
func (s *Server) Refused() uint64   { return s.refused.Load() }

// Close stops accepting publishers and ends their connections: a command
// being served finishes and gets its reply, an idle connection or one
// waiting for the rest of a message ends at once. It waits up to ctx for
// the connection goroutines, then closes what is left, removes the socket
// file if it is still the one this Server created, and returns by ctx's
// deadline with ctx's error. Left behind then: the goroutine of a
// connection whose command waits in Hub.Publish for ring room; its
// connection is closed, so it ends (writing nothing) once Publish returns,
// at the latest when the hub closes.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for c := range s.conns {
		c.interrupt()
	}
	s.mu.Unlock()
	s.ln.Close()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
	}
	s.sock.Remove()
	return err
}

// accept runs until the listener closes. A shortage of descriptors or
// memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) backs off instead of spinning
// and is logged through the server's logger, at most once a second; the
// connection waits in the backlog meanwhile.
func (s *Server) accept() {
	defer s.wg.Done()
	var delay time.Duration
	for {
		nc, err := s.ln.AcceptUnix()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing || errors.Is(err, net.ErrClosed) {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			if ok, more := s.accepts.allow(); ok {
				s.cfg.Log.Warn("publish socket accept failed; retrying", zap.Error(err),
					zap.Duration("retry_in", delay), zap.Int64("more_since_last_line", more))
			}
			time.Sleep(delay) // back-off: lets descriptors free up
			continue
		}
		delay = 0
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			nc.Close()
			return
		}
		if len(s.conns) >= s.cfg.MaxConns {
			s.mu.Unlock()
			s.overLimit(nc)
			continue
		}
		c := s.newConn(nc)
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(c)
	}
}

// lookupOwner resolves a user and group (names or numbers; "" is -1:
// leave as it is).
func lookupOwner(owner, group string) (uid, gid int, err error) {
	uid, gid = -1, -1
	if owner != "" {
		if uid, err = strconv.Atoi(owner); err != nil {
			u, lerr := user.Lookup(owner)
			if lerr != nil {
				return 0, 0, fmt.Errorf("owner %q: %w (expected a user name or uid)", owner, lerr)
			}
			uid, _ = strconv.Atoi(u.Uid)
		}
	}
	if group != "" {
		if gid, err = strconv.Atoi(group); err != nil {
			g, lerr := user.LookupGroup(group)
			if lerr != nil {
				return 0, 0, fmt.Errorf("group %q: %w (expected a group name or gid)", group, lerr)
			}
			gid, _ = strconv.Atoi(g.Gid)
		}
	}
	return uid, gid, nil
}

// checkPeer applies the uid/gid allow-list to a new publisher; it returns
// the refusal reason, or "" when the peer may publish.
func (s *Server) checkPeer(nc *net.UnixConn) string {
	if len(s.cfg.AllowUIDs) == 0 && len(s.cfg.AllowGIDs) == 0 {
		return ""
	}
	uid, gid, err := peerCred(nc)
	if err != nil {
		return fmt.Sprintf("cannot identify the publisher (SO_PEERCRED: %v)", err)
	}
	for _, u := range s.cfg.AllowUIDs {
		if u == uid {
			return ""
		}
	}
	for _, g := range s.cfg.AllowGIDs {
		if g == gid {
			return ""
		}
	}
	s.refused.Add(1) // logged (rate-limited) when the refusal is answered
	return fmt.Sprintf("publisher uid %d (gid %d) is not allowed on this socket: see --publish-allow-uid and --publish-allow-gid", uid, gid)
}

// publish publishes c's event on c.chan_ and counts; the error says what
// was wrong (its refusal is counted by protocol when it is answered).
func (s *Server) publish(c *conn, data []byte) (uint64, error) {
	if err := s.checkRights(c, c.chan_); err != nil {
		s.refused.Add(1)
		return 0, err
	}
	start := time.Now()
	id, err := s.send(c, data)
	if err != nil {
		s.refused.Add(1)
		return 0, err
	}
	s.published.Add(1)
	s.counts.observe(protoOf(c), time.Since(start))
	return id, nil
}

// CheckSocket reports whether the publish socket file is still the one
// this Server bound: an error (for a readiness check) says it was removed
// or replaced, so publishers cannot reach this server by its path.
func (s *Server) CheckSocket() error { return s.sock.Check() }
