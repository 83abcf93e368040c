package ingest

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/ssedge/ssedge/httpmin"
)

// bufSize is each publisher connection's read buffer: room for the
// largest HTTP head or command line the protocols accept, plus one byte to
// tell "too long" from "just fits".
const bufSize = max(httpmin.MaxHeaderBytes, maxLine) + 1

// conn is one publisher connection. Its serving goroutine (Server.serve)
// owns its fields, except: q, shared with its writer goroutine
// (writeReplies) under q.mu; mu and closing, which Close and the writer
// share; lastRead, atomic.
type conn struct {
	srv      *Server
	nc       *net.UnixConn
	r        *bufio.Reader // reads through source: hands replies to the writer before blocking
	batch    []byte        // replies not yet handed to the writer (push)
	q        replyQueue
	proto    byte   // 0 undecided, 'h' HTTP, 'l' line protocol
	denied   string // non-empty: the peer may not publish; the reason
	idle     bool   // waiting for a message to start: no read deadline
	req      httpmin.Request
	out      []byte // a reply being formatted
	chan_    []byte
	event    []byte
	key      []byte     // the command's idempotency key (publisher.go); empty: none
	inflight []inflight // line publishes sent through an AsyncPublisher, not yet answered (publisher.go)
	data     []byte     // an event's payload, reused up to keepBuf
	cred     peer       // SO_PEERCRED, read when a per-channel right first needs it

	lastRead atomic.Int64 // unix ns of the last read that got bytes; the writer's stall test

	mu      sync.Mutex // orders deadline changes with interrupt
	closing bool       // guarded by mu: reads are over (Close, or the writer failed)
}

func (s *Server) newConn(nc *net.UnixConn) *conn {
	c := &conn{srv: s, nc: nc}
	c.r = bufio.NewReaderSize(source{c}, bufSize)
	c.q.cond.L = &c.q.mu
	c.q.exited = make(chan struct{})
	c.lastRead.Store(time.Now().UnixNano())
	c.denied = s.checkPeer(nc)
	return c
}

// source is the connection as the buffered reader sees it. Before a read
// that may block it hands the replies queued so far to the writer, so a
// publisher that waits for its replies before sending more gets them; and
// it bounds the wait with the read timeout unless no message has started.
type source struct{ c *conn }

func (s source) Read(p []byte) (int, error) {
	c := s.c
	if len(c.inflight) > 0 {
		if err := c.srv.settle(c); err != nil {
			return 0, err
		}
	}
	if len(c.batch) > 0 {
		if err := c.push(); err != nil {
			return 0, err
		}
	}
	var dl time.Time
	if !c.idle {
		dl = time.Now().Add(c.srv.cfg.ReadTimeout)
	}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return 0, errClosing
	}
	c.nc.SetReadDeadline(dl)
	c.mu.Unlock()
	n, err := c.nc.Read(p)
	if n > 0 {
		c.lastRead.Store(time.Now().UnixNano())
	}
	return n, err
}

// interrupt makes the connection's pending and future reads fail at once.
// Called by Close with the server's mu held, and by the writer when a
// write fails, with q.mu held.
func (c *conn) interrupt() {
	c.mu.Lock()
	c.closing = true
	c.nc.SetReadDeadline(time.Unix(1, 0))
	c.mu.Unlock()
}

// serve runs one publisher connection: commands in order until the peer
// closes or half-closes (after which every command already received is
// still answered), a framing error, a publisher that stops taking its
// replies, or Close.
func (s *Server) serve(c *conn) {
	defer s.wg.Done()
	go c.writeReplies()
	var err error
	for err == nil {
		if cap(c.data) > keepBuf {
			c.data = nil // a large event is over: do not keep its buffer
		}
		c.idle = true
		if _, err = c.r.Peek(1); err != nil {
			break
		}
		c.idle = false
		if c.proto == 0 {
			c.proto = 'h'
			b, perr := c.r.Peek(4)
			if perr != nil {
				err = perr
				break
			}
			if string(b) == "PUB " || string(b) == "PING" {
				c.proto = 'l'
			}
		}
		switch {
		case c.denied != "" && c.proto == 'l':
			err = s.lineError(c, c.denied, true)
		case c.denied != "":
			err = s.replyError(c, 403, c.denied, false, "")
		case c.proto == 'l':
			err = s.serveLine(c)
		default:
			err = s.serveHTTP(c)
		}
	}
	werr, lost := c.finish()
	switch {
	case errors.Is(werr, os.ErrDeadlineExceeded):
		s.cfg.Log.Warn("publisher stopped taking its replies and sending; closed",
			zap.Duration("timeout", s.cfg.ReadTimeout), zap.Int("published_without_reply", lost))
	case werr != nil:
		s.cfg.Log.Debug("publisher connection closed before its replies were written",
			zap.Error(werr), zap.Int("published_without_reply", lost))
	case !errors.Is(err, errHangUp) && !errors.Is(err, io.EOF) && !errors.Is(err, errClosing):
		s.cfg.Log.Debug("publisher connection closed", zap.Error(err))
	}
	c.nc.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// peekUpTo returns the buffered input, at most limit bytes of it.
func peekUpTo(r *bufio.Reader, limit int) ([]byte, error) {
	return r.Peek(min(r.Buffered(), limit))
}

// waitMore blocks until the reader holds more than have bytes (or the read
// timeout passes), then returns up to limit bytes. limit is at most bufSize.
func waitMore(r *bufio.Reader, have, limit int) ([]byte, error) {
	if _, err := r.Peek(have + 1); err != nil {
		return nil, err
	}
	return peekUpTo(r, limit)
}

// payload reads the next n bytes into the connection's reused buffer.
func (c *conn) payload(n int) ([]byte, error) {
	if cap(c.data) < n {
		c.data = make([]byte, n)
	}
	c.data = c.data[:n]
	if _, err := io.ReadFull(c.r, c.data); err != nil {
		return nil, err
	}
	return c.data, nil
}

// reply queues b for the writer, handing the batch over once it is
// batchBytes long (and before any read that may block).
func (c *conn) reply(b []byte) error {
	if len(c.inflight) > 0 { // replies go in command order
		if err := c.srv.settle(c); err != nil {
			return err
		}
	}
	c.batch = append(c.batch, b...)
	if len(c.batch) >= batchBytes {
		return c.push()
	}
	return nil
}
