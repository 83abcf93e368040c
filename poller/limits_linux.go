package poller

import (
	"fmt"
	"net/netip"
	"os"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/ssedge/ssedge/httpmin"
)

// fdSpare is the most descriptors a derived connection limit keeps free
// besides those open at start: for the publish socket and its publishers,
// and for accepting a connection only to answer it 503. With the server's
// own descriptors it stays within tuning.FDReserve, the reserve that
// `ssedge tune check` adds to --conns.
const fdSpare = 128

// connLimit derives the connection limit for Config.MaxConns 0 from the
// soft open-files limit and the descriptors open once the listeners are
// bound: what is left, less a reserve of fdSpare (a quarter of what is
// left when the limit is small, so a tiny limit still admits some). 0
// means no limit (RLIMIT_NOFILE unlimited).
func connLimit(nofile, open uint64) (limit, reserve int) {
	if nofile > 1<<31 {
		return 0, 0
	}
	free := int(nofile) - int(open)
	reserve = min(fdSpare, max(free/4, 1))
	return max(free-reserve, 1), reserve
}

// deriveMaxConns fills s.maxConns: Config.MaxConns, or for 0 the limit
// connLimit derives. Idle subscribers that fill every descriptor would
// otherwise lock publishers out (the publish socket cannot accept) and
// leave new subscribers unanswered in the accept queue instead of refused
// with 503. Called by New once the listeners are bound.
func (s *Server) deriveMaxConns() {
	s.maxConns = s.cfg.MaxConns
	if s.maxConns > 0 {
		return
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return
	}
	open := uint64(0)
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		open = uint64(len(fds))
	}
	s.maxConns, s.fdReserve = connLimit(rl.Cur, open)
	s.fdOpen = int(open)
	s.fdLimit = rl.Cur
}

// FDReserve is how many descriptors the connection limit derived from the
// open-files limit keeps free for the publish socket and for answering
// 503; 0 when Config.MaxConns set the limit or there is none. A publisher
// connection limit above about half of it lets publishers take what the
// 503 answers need.
func (s *Server) FDReserve() int { return s.fdReserve }

// logMaxConns says at start what bounds the connections.
func (s *Server) logMaxConns() {
	switch {
	case s.cfg.MaxConns > 0:
		s.cfg.Log.Info("connection limit", zap.Int("max_conns", s.maxConns))
	case s.maxConns > 0:
		s.cfg.Log.Info("connection limit derived from the open-files limit, keeping descriptors for publishers and 503 answers (set --max-conns to choose it)",
			zap.Int("max_conns", s.maxConns), zap.Uint64("open_files_limit", s.fdLimit),
			zap.Int("open_at_start", s.fdOpen), zap.Int("reserve", s.fdReserve))
	}
}

// admitConn counts a new connection in Server.conns, or answers it 503
// and closes it when the server is at its connection limit.
func (l *loop) admitConn(slot int32) bool {
	if n := l.srv.conns.Add(1); l.cfg.MaxConns > 0 && n > int64(l.cfg.MaxConns) {
		l.overLimit(slot, nil, 503, fmt.Sprintf("server at its connection limit (%d): retry later", l.cfg.MaxConns))
		return false
	}
	return true
}

// admitIP counts one more subscription from addr, or reports false when
// addr is at limit (Config.MaxConnsPerIP, as the loop's settings say).
func (s *Server) admitIP(addr netip.Addr, limit int) bool {
	s.ipMu.Lock()
	defer s.ipMu.Unlock()
	if s.perIP == nil {
		s.perIP = make(map[netip.Addr]int32)
	}
	if int(s.perIP[addr]) >= limit {
		return false
	}
	s.perIP[addr]++
	return true
}

func (s *Server) releaseIP(addr netip.Addr) {
	s.ipMu.Lock()
	defer s.ipMu.Unlock()
	if s.perIP[addr] <= 1 {
		delete(s.perIP, addr)
	} else {
		s.perIP[addr]--
	}
}

// releasePerIP gives back a connection's place in the per-address count
// (once its stream or poll is over).
func (l *loop) releasePerIP(slot int32) {
	l.releaseChannels(slot) // the per-channel counts end with it
	if c := l.conns.at(slot); c.perIP {
		l.srv.releaseIP(c.client)
		c.perIP = false
	}
}

// overLimit answers a connection refused by a limit and closes it; the
// refusals are counted (Stats.Closed[CloseOverLimit]) and logged at most
// once a second for the whole server (Server.limLog, a CAS any loop may
// win). It does not linger (see linger): at a limit, descriptors are what
// is short. It reads what the client has sent already instead, so that
// the close sends FIN, not the RST that unread input causes and that may
// destroy the answer before the client reads it.
func (l *loop) overLimit(slot int32, r *httpmin.Request, status int, reason string) {
	c := l.conns.at(slot)
	l.appendRefusal(r, status, reason, "")
	l.write(c.fd, l.out)
	for range readBurst {
		if n, errno := l.read(c.fd, l.scratch); errno != 0 || n == 0 {
			break
		}
	}
	now := time.Now().UnixMilli()
	if at := l.srv.limLog.Load(); now >= at && l.srv.limLog.CompareAndSwap(at, now+1000) {
		l.log.Warn("connection refused by a limit", zap.Int("status", status), zap.String("reason", reason), zap.Stringer("client", c.who()))
	}
	l.close(slot, CloseOverLimit)
}
