package poller

// HandoffConn is one connection moving to a new process on a binary
// upgrade (Server.Pause in the old process, Server.Import in the new):
// its socket and what the new process needs to go on where the old one
// stopped, with no byte lost or sent twice.
type HandoffConn struct {
	FD   int    `json:"-"` // the socket; travels with SCM_RIGHTS
	Loop int    `json:"l"` // the loop that held it (the new process uses the same one, modulo its loops)
	Kind uint8  `json:"k"` // HandoffStream, HandoffReading or HandoffResponding
	Peer string `json:"p,omitempty"`
	// Client is who the current request speaks for (a stream's client).
	Client string `json:"c,omitempty"`
	Proxy  bool   `json:"x,omitempty"` // a PROXY protocol header is still due
	PerIP  bool   `json:"i,omitempty"` // counted in the per-address limit
	// Channels of a stream, and those counted for a max-subscribers rule.
	Channels []string `json:"ch,omitempty"`
	Capped   []string `json:"cp,omitempty"`
	// The grant of the token the stream sent: its patterns and expiry
	// (unix ms); Expiry is the token-expiry close of a private stream
	// (unix ms, 0: none).
	Grant        []string `json:"g,omitempty"`
	GrantExpires int64    `json:"ge,omitempty"`
	Expiry       int64    `json:"e,omitempty"`
	SilentMs     int64    `json:"s,omitempty"` // since the stream was last written: heartbeats go on on time
	Out          []byte   `json:"o,omitempty"` // unsent bytes, sent first by the new process
	In           []byte   `json:"n,omitempty"` // a request head half read, or requests pipelined behind an answer
}

// Kinds of handed-over connections.
const (
	HandoffStream     = 1 // an SSE stream on its channels
	HandoffReading    = 2 // between requests, or in the middle of a request head (In)
	HandoffResponding = 3 // an answer still going out (Out); then it reads the next request (In first)
)

// HandoffListener is one listen address's sockets, in the order the new
// process passes them back as Config.Inherited.
type HandoffListener struct {
	Network string `json:"net"` // tcp or unix
	Addr    string `json:"addr"`
	Proxy   bool   `json:"proxy,omitempty"`
	FDs     []int  `json:"-"` // one per loop for TCP, one for unix
	N       int    `json:"n"` // len(FDs), for the receiver
	// Lock is a unix socket file's lock (internal/sockfile), held by the
	// open file: the new process holds it on (Inherited.Lock), so a third
	// server still cannot take the path. -1 or HasLock false: none.
	Lock    int  `json:"-"`
	HasLock bool `json:"lock,omitempty"`
}
