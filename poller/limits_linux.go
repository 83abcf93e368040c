package poller

import (
	"fmt"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/ssedge/ssedge/httpmin"
)

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
// addr is at Config.MaxConnsPerIP.
func (s *Server) admitIP(addr netip.Addr) bool {
	s.ipMu.Lock()
	defer s.ipMu.Unlock()
	if s.perIP == nil {
		s.perIP = make(map[netip.Addr]int32)
	}
	if int(s.perIP[addr]) >= s.cfg.MaxConnsPerIP {
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
	if c := l.conns.at(slot); c.perIP {
		l.srv.releaseIP(c.client)
		c.perIP = false
	}
}

// overLimit answers a connection refused by a limit and closes it; the
// refusals are counted (Stats.Closed[CloseOverLimit]) and logged at most
// once a second for the whole server (Server.limLog, a CAS any loop may
// win).
func (l *loop) overLimit(slot int32, r *httpmin.Request, status int, reason string) {
	c := l.conns.at(slot)
	l.appendRefusal(r, status, reason, "")
	l.write(c.fd, l.out)
	now := time.Now().UnixMilli()
	if at := l.srv.limLog.Load(); now >= at && l.srv.limLog.CompareAndSwap(at, now+1000) {
		l.log.Warn("connection refused by a limit", zap.Int("status", status), zap.String("reason", reason), zap.Stringer("client", c.who()))
	}
	l.close(slot, CloseOverLimit)
}
