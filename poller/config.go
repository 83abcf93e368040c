package poller

import (
	"io/fs"
	"net"
	"net/netip"
	"os"
	"runtime"
	"time"

	"go.uber.org/zap"

	"github.com/ssedge/ssedge/internal/auth"
	"github.com/ssedge/ssedge/pubsub"
	"github.com/ssedge/ssedge/sse"
)

// Defaults for Config fields left zero.
const (
	DefaultHeaderTimeout    = 10 * time.Second
	DefaultHeartbeat        = 30 * time.Second // well inside nginx's 60 s proxy_read_timeout; idle streams cost half what 15 s did
	DefaultMaxBacklogBytes  = 1 << 20
	DefaultMaxBacklogFrames = 1024
	DefaultMaxChannels      = 32
	DefaultRetry            = 3 * time.Second
	DefaultPollTimeout      = 25 * time.Second
	DefaultPollMaxTimeout   = 55 * time.Second
)

// Values of Config.ClientIPHeader.
const (
	ClientIPAuto         = "auto"            // X-Real-IP, else X-Forwarded-For (what deploy/nginx sets)
	ClientIPRealIP       = "x-real-ip"       // only X-Real-IP
	ClientIPForwardedFor = "x-forwarded-for" // only X-Forwarded-For: for proxies (HAProxy) that pass a client's own X-Real-IP through
	ClientIPNone         = "none"            // no header: the socket peer, or the PROXY protocol header
)

// ValidClientIPHeader reports whether v is one of the ClientIP values.
func ValidClientIPHeader(v string) bool {
	switch v {
	case ClientIPAuto, ClientIPRealIP, ClientIPForwardedFor, ClientIPNone:
		return true
	}
	return false
}

// Config configures a Server. Hub is required; the rest have defaults.
type Config struct {
	Listen           []string       // "host:port" (each loop gets its own SO_REUSEPORT socket) or "unix:PATH" (one socket all loops watch)
	ProxyListen      []string       // like Listen, but each connection must start with a PROXY protocol header (v1 or v2) from a trusted proxy
	TrustedProxies   []netip.Prefix // peers whose PROXY headers and X-Forwarded-For / X-Real-IP are believed; default loopback
	ClientIPHeader   string         // which forwarded header from a trusted peer names the client: ClientIPAuto (default), ClientIPRealIP, ClientIPForwardedFor or ClientIPNone
	UnixMode         fs.FileMode    // file mode of unix-socket listeners; default 0666 (like a TCP port on loopback: any local user may connect)
	Loops            int            // event loops; default runtime.NumCPU()
	Backlog          int            // listen(2) backlog; default 4096 (the kernel caps it at net.core.somaxconn)
	HeaderTimeout    time.Duration  // time allowed for a complete request head
	Heartbeat        time.Duration  // silence after which a stream gets a heartbeat comment
	MaxBacklogBytes  int            // unsent bytes per subscriber before it is closed as a slow consumer
	MaxBacklogFrames int            // unsent frames per subscriber before it is closed as a slow consumer
	MaxChannels      int            // channels per subscription
	MaxConns         int            // open connections per process, all listeners; 0: derived from the open-files limit, keeping descriptors in reserve (see the package doc)
	MaxConnsPerIP    int            // subscriptions and parked polls per client address (after PROXY / X-Forwarded-For); 0: no limit
	Retry            time.Duration  // reconnection delay advised in each stream's first frame (retry:)
	PollTimeout      time.Duration  // long-poll wait when the request gives no timeout
	PollMaxTimeout   time.Duration  // longest long-poll wait a request may ask for (keep under proxy timeouts)
	CORS             *sse.CORS      // nil: no CORS headers
	Auth             *auth.Verifier // private channels; nil: none
	TokenCookie      string         // cookie that may carry the token; default "ssedge_token"
	Inherited        []Inherited    // listeners opened by a supervisor process (Bind), served besides Listen and ProxyListen
	Hub              *pubsub.Hub
	Log              *zap.Logger
}

func (c *Config) setDefaults() {
	if c.Loops <= 0 {
		c.Loops = runtime.NumCPU()
	}
	if c.ClientIPHeader == "" {
		c.ClientIPHeader = ClientIPAuto
	}
	if c.TrustedProxies == nil {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	if c.UnixMode == 0 {
		c.UnixMode = 0o666
	}
	if c.Backlog <= 0 {
		c.Backlog = 4096
	}
	if c.HeaderTimeout <= 0 {
		c.HeaderTimeout = DefaultHeaderTimeout
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.MaxBacklogBytes <= 0 {
		c.MaxBacklogBytes = DefaultMaxBacklogBytes
	}
	if c.MaxBacklogFrames <= 0 {
		c.MaxBacklogFrames = DefaultMaxBacklogFrames
	}
	if c.PollTimeout <= 0 {
		c.PollTimeout = DefaultPollTimeout
	}
	if c.PollMaxTimeout <= 0 {
		c.PollMaxTimeout = DefaultPollMaxTimeout
	}
	if c.TokenCookie == "" {
		c.TokenCookie = "ssedge_token"
	}
	if c.Retry <= 0 {
		c.Retry = DefaultRetry
	}
	if c.MaxChannels <= 0 {
		c.MaxChannels = DefaultMaxChannels
	}
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
}

// Stats is a snapshot of the server's counters, summed over loops.
type Stats struct {
	Accepted          uint64               // connections accepted
	Active            int64                // connections open now
	Subscribers       int64                // streaming connections open now
	Replaying         int64                // resuming streams catching up from history now, not yet on their live channels
	Responding        int64                // connections whose answer waits in a backlog for the client to read it
	Closed            [closeReasons]uint64 // closed connections by CloseReason
	Deliveries        uint64               // frames handed to the kernel or queued for a subscriber
	Writes            uint64               // write/writev system calls
	Bytes             uint64               // bytes those calls handed to the kernel
	AcceptErrors      uint64               // EMFILE/ENFILE/ENOBUFS/ENOMEM on accept
	Requests          uint64               // request heads parsed
	Replayed          uint64               // history frames queued for resuming subscribers
	Gaps              uint64               // ssedge.gap events sent (and gaps in long-poll answers)
	GapsByReason      [gapReasons]uint64   // Gaps by GapReason
	Heartbeats        uint64               // heartbeat comments sent to silent streams
	Backlogged        int64                // connections with unsent bytes, as of each loop's last turn
	BacklogBytes      int64                // their unsent bytes
	LongPollsParked   uint64               // long-poll requests that waited for an event
	LongPollsAnswered uint64               // long-poll answers sent (at once, on an event, or at the deadline)
	UpstreamFetches   uint64               // reads from the cluster's stream started for resumes and polls its memory no longer covers
}

// LoopStats is one loop's counters and its place on the event ring.
type LoopStats struct {
	Stats
	RingLag uint64 // events published that this loop has not yet read and released
}

// GapReason is why a resume or long-poll was told of a gap: the gap
// event's "reason" field, and the label Stats.GapsByReason counts by.
type GapReason uint8

// Gap reasons.
const (
	GapEvicted GapReason = iota // history no longer holds events after the client's id
	GapRestart                  // the id is from before this server started: its history is gone
	GapFuture                   // the id is above every id this server has issued
	gapReasons
)

var gapReasonNames = [gapReasons]string{"evicted", "restart", "future"}

func (r GapReason) String() string { return gapReasonNames[r] }

// SlowConsumers is the number of subscribers closed for a full backlog.
func (s Stats) SlowConsumers() uint64 { return s.Closed[CloseSlowConsumer] }

// Inherited is a listener opened by another process and passed down: the
// supervisor of "ssedge serve --procs N" binds every address once (so a
// busy port fails once, and a restarted worker finds its sockets still
// queueing connections) and gives each worker its own set (Bind).
type Inherited struct {
	Addr  net.Addr // *net.TCPAddr or *net.UnixAddr: what Addrs and logs show
	FDs   []int    // TCP: one SO_REUSEPORT socket per loop; unix: one socket every loop watches
	Proxy bool     // connections start with a PROXY protocol header
	// Lock is a unix socket file's lock handed over by a binary upgrade
	// (HandoffListener.Lock): the server then owns the file as if it had
	// bound it — holds the lock, and once started removes the file when
	// it stops. nil: the file is another process's (a supervisor's).
	Lock *os.File
}
