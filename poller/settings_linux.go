package poller

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// The live settings. Server.live points at an immutable Config: Config as
// New was given it, with defaults, and MaxConns the limit in force
// (derived when Config.MaxConns is 0). Reload builds a new one and swaps
// the pointer; each loop loads it once per turn into loop.cfg, so the hot
// path reads plain fields and never waits for a reload, and a turn sees
// one consistent set of settings.

// loadSettings takes the settings in force for this turn. When a reload
// has changed the heartbeat, the wheel is laid out again for it: every
// connection is looked at on the next step (a longer old interval would
// otherwise delay it).
func (l *loop) loadSettings() {
	c := l.srv.live.Load()
	if c == l.cfg {
		return
	}
	l.cfg = c
	l.rewheel()
}

// setLive makes c the settings the loops use from their next turn.
func (s *Server) setLive(c Config) {
	if c.MaxConns <= 0 {
		c.MaxConns = s.derivedMaxConns()
	}
	s.live.Store(&c)
}

// derivedMaxConns is the limit Config.MaxConns 0 means: the one derived
// at start, or, when the server started with an explicit limit, one
// derived now from the descriptors open besides the connections.
func (s *Server) derivedMaxConns() int {
	if s.cfg.MaxConns <= 0 {
		return s.maxConns
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	open := max(len(fds)-int(s.conns.Load()), 0)
	limit, _ := connLimit(rl.Cur, uint64(open))
	return limit
}

// Reload puts new settings in force without closing any connection (see
// Settings for when each takes effect). Safe for concurrent use with the
// loops and with Stats; concurrent Reloads are the caller's to order.
func (s *Server) Reload(st Settings) error {
	c := *s.live.Load()
	st.apply(&c)
	c.setDefaults()
	if !ValidClientIPHeader(c.ClientIPHeader) {
		return fmt.Errorf("poller: client address header %q: expected %s, %s, %s or %s",
			c.ClientIPHeader, ClientIPAuto, ClientIPRealIP, ClientIPForwardedFor, ClientIPNone)
	}
	if c.MaxConnsPerIP < 0 || c.MaxConns < 0 {
		return fmt.Errorf("poller: connection limits %d and %d per address: expected 0 (none) or more", c.MaxConns, c.MaxConnsPerIP)
	}
	s.setLive(c)
	return nil
}

// Settings returns the settings in force, MaxConns being the limit the
// loops apply.
func (s *Server) Settings() Settings {
	c := s.live.Load()
	return Settings{HeaderTimeout: c.HeaderTimeout, Heartbeat: c.Heartbeat,
		MaxBacklogBytes: c.MaxBacklogBytes, MaxBacklogFrames: c.MaxBacklogFrames, MaxChannels: c.MaxChannels,
		MaxConns: c.MaxConns, MaxConnsPerIP: c.MaxConnsPerIP,
		Retry: c.Retry, PollTimeout: c.PollTimeout, PollMaxTimeout: c.PollMaxTimeout,
		CORS: c.CORS, Auth: c.Auth, TokenCookie: c.TokenCookie,
		TrustedProxies: c.TrustedProxies, ClientIPHeader: c.ClientIPHeader}
}
