package poller

import (
	"net/netip"
	"time"

	"github.com/ssedge/ssedge/internal/auth"
	"github.com/ssedge/ssedge/sse"
)

// Settings are the parts of Config that Server.Reload may change while the
// server runs, without closing any connection. Zero values take the same
// defaults as in Config. What a change does to a connection already open:
//
//   - Heartbeat: from each loop's next turn (within a second), on every
//     stream: the heartbeat wheel is laid out again for the new interval.
//   - MaxBacklogBytes, MaxBacklogFrames: from the next event queued.
//   - HeaderTimeout: for connections accepted from then on.
//   - MaxConns: for connections accepted from then on; connections over
//     a lowered limit stay open. 0: the limit derived from the open-files
//     limit (see deriveMaxConns).
//   - Everything else (MaxChannels, MaxConnsPerIP, Retry, poll timeouts,
//     CORS, Auth, TokenCookie, TrustedProxies, ClientIPHeader): for
//     requests parsed from then on; a stream already admitted is not
//     checked again.
type Settings struct {
	HeaderTimeout    time.Duration
	Heartbeat        time.Duration
	MaxBacklogBytes  int
	MaxBacklogFrames int
	MaxChannels      int
	MaxConns         int
	MaxConnsPerIP    int
	Retry            time.Duration
	PollTimeout      time.Duration
	PollMaxTimeout   time.Duration
	CORS             *sse.CORS
	Auth             *auth.Verifier
	TokenCookie      string
	TrustedProxies   []netip.Prefix
	ClientIPHeader   string
}

// apply copies the settings into c.
func (st *Settings) apply(c *Config) {
	c.HeaderTimeout, c.Heartbeat = st.HeaderTimeout, st.Heartbeat
	c.MaxBacklogBytes, c.MaxBacklogFrames, c.MaxChannels = st.MaxBacklogBytes, st.MaxBacklogFrames, st.MaxChannels
	c.MaxConns, c.MaxConnsPerIP = st.MaxConns, st.MaxConnsPerIP
	c.Retry, c.PollTimeout, c.PollMaxTimeout = st.Retry, st.PollTimeout, st.PollMaxTimeout
	c.CORS, c.Auth, c.TokenCookie = st.CORS, st.Auth, st.TokenCookie
	c.TrustedProxies, c.ClientIPHeader = st.TrustedProxies, st.ClientIPHeader
}
