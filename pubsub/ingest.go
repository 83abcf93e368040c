package pubsub

import (
	"context"
	"errors"
	"io/fs"
	"net"
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
	done chan struct{}

	published atomic.Uint64
	refused   atomic.Uint64
}

// ingestConn is one publisher connection's state. netpoll runs at most
// one OnRequest per connection at a time, so it needs no lock.
type ingestConn struct {
	proto byte // 0 undecided, 'h' HTTP, 'l' line protocol
	req   httpmin.Request
	out   []byte
	chan_ []byte
	event []byte
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
	sock, err := sockfile.Listen(cfg.Path, cfg.Mode, "publish socket", "--publish-socket")
	if err != nil {
		return nil, err
	}
	in := &Ingest{hub: hub, cfg: cfg, sock: sock, done: make(chan struct{})}
	if in.ln, err = netpoll.ConvertListener(sock.Listener); err != nil {
		sock.Listener.Close()
		sock.Remove()
		return nil, err
	}
	in.loop, err = netpoll.NewEventLoop(in.onRequest,
		netpoll.WithOnConnect(func(ctx context.Context, _ netpoll.Connection) context.Context {
			return context.WithValue(ctx, ctxKey{}, &ingestConn{})
		}),
		netpoll.WithReadTimeout(cfg.ReadTimeout),
	)
	if err != nil {
		in.ln.Close()
		sock.Remove()
		return nil, err
	}
	go func() {
		defer close(in.done)
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
		if ic.proto == 'l' {
			err = in.serveLine(ic, r, w)
		} else {
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
