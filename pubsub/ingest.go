package pubsub

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os/user"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/cloudwego/netpoll"
	"go.uber.org/zap"

	"github.com/ssedge/ssedge/httpmin"
	"github.com/ssedge/ssedge/internal/sockfile"
)

// IngestConfig configures the publish socket.
type IngestConfig struct {
	Path        string        // unix socket path; default sockfile.DefaultPublishPath()
	Mode        fs.FileMode   // socket file mode; default 0660
	ReadTimeout time.Duration // longest wait for the rest of a started message; default 30 s
	Owner       string        // user (name or uid) to own the socket file; "" leaves it
	Group       string        // group (name or gid) of the socket file; "" leaves it
	AllowUIDs   []uint32      // with AllowGIDs: when either is set, only peers (SO_PEERCRED) with one of these uids or primary gids may publish
	AllowGIDs   []uint32
	Log         *zap.Logger
}

// Ingest is the publisher listener: HTTP POST /publish and the line
// protocol on one unix socket, served by netpoll. The first bytes of a
// connection choose its protocol: "PUB " or "PING" select the line
// protocol, anything else is HTTP.
type Ingest struct {
	hub  *Hub
	cfg  IngestConfig
	sock *sockfile.Socket
	ln   net.Listener
	loop netpoll.EventLoop

	published atomic.Uint64
	refused   atomic.Uint64
	logAt     atomic.Int64 // unix ms before which refusals are counted, not logged
	quiet     atomic.Int64 // refusals not logged since the last line
}

// noteRefusal logs a refusal's reason, at most once a second (the line
// counts the ones in between), so a misbehaving publisher cannot flood
// the log. Refused counts them all.
func (in *Ingest) noteRefusal(reason string) {
	now := time.Now().UnixMilli()
	at := in.logAt.Load()
	if now < at || !in.logAt.CompareAndSwap(at, now+1000) {
		in.quiet.Add(1)
		return
	}
	in.cfg.Log.Warn("publish refused", zap.String("reason", reason), zap.Int64("more_since_last_line", in.quiet.Swap(0)))
}

// ingestConn is one publisher connection's state. netpoll runs at most
// one OnRequest per connection at a time, so it needs no lock.
type ingestConn struct {
	proto  byte   // 0 undecided, 'h' HTTP, 'l' line protocol
	denied string // non-empty: the peer may not publish; the reason
	req    httpmin.Request
	out    []byte
	chan_  []byte
	event  []byte
}

type ctxKey struct{}

// errHangUp ends a publisher connection after its last reply is flushed:
// its framing is lost, or it asked to close.
var errHangUp = errors.New("pubsub: closing publisher connection")

// Listen binds the publish socket and starts serving it.
func Listen(hub *Hub, cfg IngestConfig) (*Ingest, error) {
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
	uid, gid, err := lookupOwner(cfg.Owner, cfg.Group)
	if err != nil {
		return nil, fmt.Errorf("pubsub: publish socket: %w", err)
	}
	sock, err := sockfile.Listen(cfg.Path, cfg.Mode, uid, gid, "publish socket", "--publish-socket")
	if err != nil {
		return nil, err
	}
	in := &Ingest{hub: hub, cfg: cfg, sock: sock}
	if in.ln, err = netpoll.ConvertListener(sock.Listener); err != nil {
		sock.Listener.Close()
		sock.Remove()
		return nil, err
	}
	in.loop, err = netpoll.NewEventLoop(in.onRequest,
		netpoll.WithOnConnect(func(ctx context.Context, c netpoll.Connection) context.Context {
			ic := &ingestConn{}
			if fc, ok := c.(netpoll.Conn); ok { // netpoll's connections are; the fd is for SO_PEERCRED
				ic.denied = in.checkPeer(fc.Fd())
			} else if len(in.cfg.AllowUIDs)+len(in.cfg.AllowGIDs) > 0 {
				ic.denied = "cannot identify the publisher"
			}
			return context.WithValue(ctx, ctxKey{}, ic)
		}),
		netpoll.WithReadTimeout(cfg.ReadTimeout),
	)
	if err != nil {
		in.ln.Close()
		sock.Remove()
		return nil, err
	}
	go func() {
		if err := in.loop.Serve(in.ln); err != nil && !errors.Is(err, net.ErrClosed) {
			cfg.Log.Debug("publish socket stopped", zap.Error(err))
		}
	}()
	return in, nil
}

// Path is the socket's path.
func (in *Ingest) Path() string { return in.cfg.Path }

// Published and Refused count accepted and refused publishes.
func (in *Ingest) Published() uint64 { return in.published.Load() }
func (in *Ingest) Refused() uint64   { return in.refused.Load() }

// Close stops accepting publishers, closes their connections (waiting up
// to the context for in-flight ones) and removes the socket file if it is
// still the one this Ingest created.
func (in *Ingest) Close(ctx context.Context) error {
	err := in.loop.Shutdown(ctx)
	in.sock.Remove()
	return err
}

func (in *Ingest) onRequest(ctx context.Context, conn netpoll.Connection) error {
	ic, _ := ctx.Value(ctxKey{}).(*ingestConn)
	if ic == nil {
		return conn.Close()
	}
	r, w := conn.Reader(), conn.Writer()
	var err error
	for err == nil && r.Len() > 0 {
		if ic.proto == 0 {
			ic.proto = 'h'
			if b, perr := r.Peek(4); perr != nil {
				err = perr
				break
			} else if string(b) == "PUB " || string(b) == "PING" {
				ic.proto = 'l'
			}
		}
		switch {
		case ic.denied != "" && ic.proto == 'l':
			err = in.lineError(ic, w, ic.denied, true)
		case ic.denied != "":
			err = in.replyError(ic, w, 403, ic.denied, false, "")
		case ic.proto == 'l':
			err = in.serveLine(ic, r, w)
		default:
			err = in.serveHTTP(ic, r, w)
		}
		r.Release()
	}
	w.Flush()
	if err != nil {
		if !errors.Is(err, errHangUp) {
			in.cfg.Log.Debug("publisher connection closed", zap.Error(err))
		}
		return conn.Close()
	}
	return nil
}

// peekUpTo returns the buffered input, at most limit bytes of it. Peeking
// only what a parse can use keeps a deep pipeline from being copied (netpoll
// makes a contiguous copy of what spans its buffer nodes) once per command.
func peekUpTo(r netpoll.Reader, limit int) ([]byte, error) {
	return r.Peek(min(r.Len(), limit))
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
func (in *Ingest) checkPeer(fd int) string {
	if len(in.cfg.AllowUIDs) == 0 && len(in.cfg.AllowGIDs) == 0 {
		return ""
	}
	uid, gid, err := peerCred(fd)
	if err != nil {
		return fmt.Sprintf("cannot identify the publisher (SO_PEERCRED: %v)", err)
	}
	for _, u := range in.cfg.AllowUIDs {
		if u == uid {
			return ""
		}
	}
	for _, g := range in.cfg.AllowGIDs {
		if g == gid {
			return ""
		}
	}
	in.refused.Add(1) // logged (rate-limited) when the refusal is answered
	return fmt.Sprintf("publisher uid %d (gid %d) is not allowed on this socket: see --publish-allow-uid and --publish-allow-gid", uid, gid)
}

// waitMore flushes pending replies, blocks until the reader holds more than
// have bytes (or the read timeout passes), then returns up to limit bytes.
func waitMore(r netpoll.Reader, w netpoll.Writer, have, limit int) ([]byte, error) {
	if w.MallocLen() > 0 {
		if err := w.Flush(); err != nil {
			return nil, err
		}
	}
	if _, err := r.Peek(have + 1); err != nil {
		return nil, err
	}
	return peekUpTo(r, limit)
}

// reply queues b, which the caller reuses, for the next flush. netpoll's
// WriteBinary keeps a reference to large slices instead of copying them,
// so copy into writer-owned memory.
func reply(w netpoll.Writer, b []byte) error {
	buf, err := w.Malloc(len(b))
	if err != nil {
		return err
	}
	copy(buf, b)
	return nil
}

// need returns the first n buffered bytes, waiting for them if needed.
func need(r netpoll.Reader, w netpoll.Writer, n int) ([]byte, error) {
	if r.Len() < n && w.MallocLen() > 0 {
		if err := w.Flush(); err != nil {
			return nil, err
		}
	}
	return r.Peek(n)
}

// discard drops n bytes as they arrive, without buffering them all.
func discard(r netpoll.Reader, w netpoll.Writer, n int) error {
	for n > 0 {
		if r.Len() == 0 {
			if _, err := waitMore(r, w, 0, 1); err != nil {
				return err
			}
		}
		k := min(r.Len(), n)
		if err := r.Skip(k); err != nil {
			return err
		}
		r.Release()
		n -= k
	}
	return nil
}

// publish publishes and counts; the error says what was wrong.
func (in *Ingest) publish(channel, event, data []byte) (uint64, error) {
	id, err := in.hub.Publish(channel, event, data)
	if err != nil {
		in.refused.Add(1)
		return 0, err
	}
	in.published.Add(1)
	return id, nil
}
