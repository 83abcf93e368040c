package poller

import (
	"fmt"
	"net/netip"
	"os"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/ssedge/ssedge/httpmin"
	"github.com/ssedge/ssedge/internal/auth"
	"github.com/ssedge/ssedge/sse"
)

type connState uint8

const (
	stateFree       connState = iota
	stateReading              // waiting for (the rest of) a request head
	stateStreaming            // subscribed: receives frames until closed
	stateResponding           // flushing a non-stream response, then c.after
	stateLongPoll             // a parked GET /poll: on its channels until an event or its deadline
	stateLingering            // answered and half-closed: draining input until EOF or lingerMs, then closed for c.after
	stateDoomed               // closing at the end of this delivery pass
)

// lingerMs bounds how long a connection we answered and half-closed may
// keep sending before we close it. Closing with unread input makes the
// kernel send RST, which can destroy the answer before the client reads it
// (nginx's lingering_close solves the same problem).
const lingerMs = 2000

// conn is one client connection in a loop's table. Owned by the loop
// goroutine. Kept small: an idle subscriber costs this struct, its subs
// slice and one int32 per channel in the topics.
type conn struct {
	fd         int32
	gen        uint32 // bumped on close; epoll tokens carry it against stale events
	state      connState
	inAgain    bool        // on loop.again
	proxy      bool        // a PROXY protocol header must come first
	perIP      bool        // counted in Server.perIP under peer
	subscriber bool        // counted in Stats.Subscribers
	hbBucket   uint8       // heartbeat wheel bucket + 1; 0 when off the wheel (heartbeat_linux.go)
	peer       netip.Addr  // the socket peer, or what a trusted proxy's PROXY header said; invalid for unix sockets
	client     netip.Addr  // who the current request speaks for (peer, or X-Real-IP / X-Forwarded-For from a trusted peer)
	readMore   bool        // input may be left unread (a per-turn cap, or held back while responding)
	after      CloseReason // stateResponding: what to do once flushed (CloseNone: read the next request); stateLingering: the close reason
	wroteAt    uint32      // loop ms (wrapping) of the last write, for heartbeats
	pendHead   int32       // this turn's frames, as a list in loop.refs; -1 if none
	pendTail   int32
	hbNext     int32 // neighbours on the heartbeat wheel's list; -1 at its ends
	hbPrev     int32
	deadline   int64       // loop ms by which the request head must be complete
	rbuf       []byte      // partial request head; nil once parsed
	subs       []subRef    // channels of a streaming connection (non-nil once subscribed)
	replay     *replay     // non-nil while a stream catches up from history, before joining the live channels
	longPoll   *longPoll   // non-nil while a GET /poll is parked
	grant      *auth.Grant // what the request's valid token allows, if it sent one; re-checked when the rules change
	capped     *[]string   // channels counted for their max-subscribers rule (Server.capped); nil if none
	out        backlog     // unsent bytes
}

// pendRef links one frame of the current batch into a connection's list.
type pendRef struct {
	ev   int32 // index in loop.batch
	next int32
}

func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return os.NewSyscallError(op, err)
}

// who is the address to name in logs: the request's client once known.
func (c *conn) who() netip.Addr {
	if c.client.IsValid() {
		return c.client
	}
	return c.peer
}

// trusted reports whether peer may speak for clients (PROXY headers,
// X-Forwarded-For): a configured proxy, or a local unix-socket peer.
func (l *loop) trusted(peer netip.Addr) bool {
	if !peer.IsValid() {
		return true
	}
	for _, p := range l.cfg.TrustedProxies {
		if p.Contains(peer) {
			return true
		}
	}
	return false
}

// open registers an accepted socket.
func (l *loop) open(fd int, peer netip.Addr, proxy bool) {
	var slot int32
	if n := len(l.free); n > 0 {
		slot, l.free = l.free[n-1], l.free[:n-1]
	} else {
		slot = l.conns.add()
	}
	c := l.conns.at(slot)
	gen := c.gen + 1
	if gen == 0 {
		gen = 1 // 0 marks the loop's own descriptors in epoll tokens
	}
	*c = conn{fd: int32(fd), gen: gen, state: stateReading, pendHead: -1, pendTail: -1, wroteAt: uint32(l.now), peer: peer, proxy: proxy}
	if err := l.ctl(unix.EPOLL_CTL_ADD, fd, unix.EPOLLIN|unix.EPOLLOUT|unix.EPOLLRDHUP|unix.EPOLLET, slot, gen); err != nil {
		l.log.Error("register connection", zap.Error(err))
		unix.Close(fd)
		c.state = stateFree
		l.free = append(l.free, slot)
		return
	}
	l.stats.accepted.Add(1)
	l.stats.active.Add(1)
	l.wheelAdd(slot)
	if !l.admitConn(slot) {
		return
	}
	l.startReading(slot)
}

// startReading arms the request-head deadline.
func (l *loop) startReading(slot int32) {
	c := l.conns.at(slot)
	c.state = stateReading
	c.deadline = l.now + int64(l.cfg.HeaderTimeout/1e6)
	l.deadlines.push(deadline{connRef{slot, c.gen}, c.deadline})
}

// close releases a connection for reason. The slot is reused later with a
// new generation, so stale epoll events and list entries are ignored.
func (l *loop) close(slot int32, reason CloseReason) {
	c := l.conns.at(slot)
	if c.state == stateFree {
		return
	}
	l.srv.conns.Add(-1)
	l.releasePerIP(slot)
	if c.subscriber {
		l.stats.subscribers.Add(-1)
	}
	if c.replay != nil {
		l.stats.replaying.Add(-1)
	}
	if c.state == stateResponding {
		l.stats.responding.Add(-1)
	}
	l.leave(slot)
	l.wheelRemove(slot)
	unix.Close(int(c.fd))
	l.stats.active.Add(-1)
	l.stats.closed[reason].Add(1)
	if reason == CloseSlowConsumer {
		l.logSlowConsumer(c)
	}
	l.releaseOut(c)
	*c = conn{gen: c.gen, state: stateFree, pendHead: -1, pendTail: -1}
	l.free = append(l.free, slot)
}

// onReadable reads until EAGAIN (at most readBurst reads this turn).
func (l *loop) onReadable(slot int32) {
	c := l.conns.at(slot)
	for i := 0; i < readBurst; i++ {
		if c.state == stateResponding {
			// Pipelined requests wait until the response is out; the read
			// resumes afterwards, as this edge is spent.
			c.readMore = true
			return
		}
		n, errno := l.read(c.fd, l.scratch)
		switch {
		case errno == unix.EAGAIN:
			c.readMore = false
			return
		case errno == unix.EINTR:
			continue
		case errno != 0 && c.state == stateLingering, n == 0 && c.state == stateLingering:
			l.close(slot, c.after)
			return
		case errno != 0:
			l.close(slot, ClosePeerReset)
			return
		case n == 0:
			l.close(slot, ClosePeer)
			return
		}
		if c.state == stateLongPoll {
			// Keep what a parked poll's client pipelines behind it (bounded)
			// for after the answer; reading on notices a client that left.
			if len(c.rbuf)+n > httpmin.MaxHeaderBytes {
				l.close(slot, CloseBadRequest)
				return
			}
			c.rbuf = append(c.rbuf, l.scratch[:n]...)
			continue
		}
		if c.state != stateReading {
			continue // a subscriber or a lingering client has nothing more to say; only EOF matters
		}
		data := l.scratch[:n]
		if c.rbuf != nil {
			c.rbuf = append(c.rbuf, data...)
			data = c.rbuf
		}
		l.process(slot, data)
		if c.state == stateFree {
			return
		}
	}
	c.readMore = true
	l.pushAgain(slot)
}

// process parses and handles the request heads in data (pipelining is
// honoured for responses that keep the connection open).
func (l *loop) process(slot int32, data []byte) {
	c := l.conns.at(slot)
	if c.proxy && len(data) > 0 {
		if data = l.proxyHeader(slot, data); data == nil {
			return
		}
	}
	for c.state == stateReading && len(data) > 0 {
		n, err := httpmin.Parse(data, &l.req)
		if err == httpmin.ErrNeedMore {
			c.keepPartial(data)
			return
		}
		if err != nil {
			l.refuse(slot, httpmin.StatusOf(err), err.Error(), "")
			return
		}
		l.stats.requests.Add(1)
		l.handle(slot, &l.req)
		data = data[n:]
	}
	// The requests pipelined behind an answer still going out, or behind
	// a parked poll (its answer processes them, see answerLongPoll), wait
	// in rbuf; behind a stream, a refusal or Connection: close there is
	// nothing more to answer.
	if (c.state == stateResponding || c.state == stateLongPoll) && c.after == CloseNone && len(data) > 0 {
		c.rbuf = append([]byte(nil), data...)
		return
	}
	c.rbuf = nil
}

// keepPartial keeps an incomplete head for the next read: data may be the
// loop's scratch (copy it) or already rbuf itself (keep it).
func (c *conn) keepPartial(data []byte) {
	if c.rbuf == nil || &c.rbuf[0] != &data[0] {
		c.rbuf = append([]byte(nil), data...)
	}
}

// proxyHeader consumes the PROXY protocol header at the start of data
// and returns what follows, or nil when it needs more bytes (kept in rbuf)
// or refused the connection.
func (l *loop) proxyHeader(slot int32, data []byte) []byte {
	c := l.conns.at(slot)
	if !l.trusted(c.peer) {
		l.refuse(slot, 400, fmt.Sprintf("PROXY protocol listener: %s is not a trusted proxy", c.peer), "")
		return nil
	}
	n, src, err := httpmin.ParseProxy(data)
	if err == httpmin.ErrNeedMore {
		c.keepPartial(data)
		return nil
	}
	if err != nil {
		l.refuse(slot, 400, err.Error(), "")
		return nil
	}
	c.proxy = false
	if src.IsValid() {
		c.peer = src.Addr()
	}
	if n == len(data) {
		c.rbuf = nil
		return nil
	}
	return data[n:]
}

// read is read(2) without the scheduler hand-off: the socket never blocks.
func (l *loop) read(fd int32, b []byte) (int, unix.Errno) {
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return int(n), e
}

func (l *loop) write(fd int32, b []byte) (int, unix.Errno) {
	n, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), unix.MSG_NOSIGNAL, 0, 0)
	if e != 0 {
		n = 0
	}
	return int(n), e
}

// writev writes iov with one system call. It uses send(2)/sendmsg(2)
// rather than write(2)/writev(2): the socket calls skip the file layer
// (vfs_write, the file-position lock) that perf showed at about 8% of the
// loop's CPU under fan-out, and MSG_NOSIGNAL makes a peer's reset an
// error, never a signal. One frame, the common case, goes without an
// iovec array to import.
func (l *loop) writev(fd int32, iov []unix.Iovec) (int, unix.Errno) {
	if len(iov) == 1 {
		return l.write(fd, unsafe.Slice(iov[0].Base, iov[0].Len))
	}
	l.msg.Iov = &iov[0]
	l.msg.SetIovlen(len(iov))
	n, _, e := unix.RawSyscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&l.msg)), unix.MSG_NOSIGNAL)
	l.msg.Iov = nil
	if e != 0 {
		n = 0
	}
	return int(n), e
}

// send writes b (which the caller may reuse at once) and keeps what the
// kernel did not take as a private copy in the backlog. It reports false
// if the connection was closed.
func (l *loop) send(slot int32, b []byte) bool {
	c := l.conns.at(slot)
	if c.out.len() > 0 {
		l.pushOut(c, append([]byte(nil), b...)) // behind the backlog
		return true
	}
	n, errno := l.write(c.fd, b)
	return l.sent(slot, b, n, errno)
}

// sent handles the result of one write of b to a connection with no
// backlog (a send(2), or an io_uring send of a heartbeat step): it counts
// the write and its bytes, closes the connection on an error other than
// EAGAIN (reporting false), and otherwise stamps the write and keeps what
// the kernel did not take as a private copy in the backlog.
func (l *loop) sent(slot int32, b []byte, n int, errno unix.Errno) bool {
	c := l.conns.at(slot)
	l.stats.writes.Add(1)
	l.stats.bytes.Add(uint64(n)) // n is 0 on error
	if errno != 0 && errno != unix.EAGAIN {
		l.close(slot, ClosePeerReset)
		return false
	}
	c.wroteAt = uint32(l.now)
	if n < len(b) {
		l.pushOut(c, append([]byte(nil), b[n:]...))
	}
	return true
}

// respond sends a complete non-stream response; afterwards the connection
// reads the next request (after == CloseNone) or is closed for after.
func (l *loop) respond(slot int32, b []byte, after CloseReason) {
	if !l.send(slot, b) {
		return
	}
	if l.conns.at(slot).out.len() > 0 {
		l.awaitDrain(slot, after)
		return
	}
	l.finishResponse(slot, after)
}

// awaitDrain holds a connection whose answer the kernel did not take at
// once until its backlog drains (responseFlushed), then after applies.
// Counted in Stats.Responding while it waits.
func (l *loop) awaitDrain(slot int32, after CloseReason) {
	c := l.conns.at(slot)
	c.state, c.after = stateResponding, after
	l.stats.responding.Add(1)
}

func (l *loop) finishResponse(slot int32, after CloseReason) {
	if after != CloseNone {
		l.linger(slot, after)
		return
	}
	l.startReading(slot)
}

// responseFlushed continues a connection whose response went out through
// the backlog: with the requests that were held back, and with a read, as
// the read edge was spent while responding.
func (l *loop) responseFlushed(slot int32) {
	c := l.conns.at(slot)
	// Out of stateResponding at once, so a close on the way (linger's
	// shutdown failing) does not count it out a second time.
	c.state = stateReading
	l.stats.responding.Add(-1)
	if c.after != CloseNone {
		l.linger(slot, c.after)
		return
	}
	l.startReading(slot)
	if c.rbuf != nil {
		l.process(slot, c.rbuf)
	}
	if c.state == stateReading || c.state == stateLingering {
		c.readMore = true
		l.pushAgain(slot)
	}
}

// linger half-closes a connection we have answered and drains its input
// until EOF (or lingerMs), then closes it for reason.
func (l *loop) linger(slot int32, reason CloseReason) {
	c := l.conns.at(slot)
	if err := unix.Shutdown(int(c.fd), unix.SHUT_WR); err != nil {
		l.close(slot, reason)
		return
	}
	c.state, c.after, c.rbuf = stateLingering, reason, nil
	c.deadline = l.now + lingerMs
	l.deadlines.push(deadline{connRef{slot, c.gen}, c.deadline})
	c.readMore = true
	l.pushAgain(slot)
}

// refuse answers status with reason and closes.
func (l *loop) refuse(slot int32, status int, reason, allow string) {
	l.refuseFrom(slot, nil, status, reason, allow)
}

// refuseFrom is refuse for a parsed request r (nil if none): the answer
// carries the CORS headers for r's Origin, so a cross-origin page (a
// fetch-based long-poll) can read why it was refused.
func (l *loop) refuseFrom(slot int32, r *httpmin.Request, status int, reason, allow string) {
	l.logRefusal(slot, status, reason)
	l.appendRefusal(r, status, reason, allow)
	l.respond(slot, l.out, CloseBadRequest)
}

// appendRefusal formats an error answer (Connection: close) into l.out,
// with the CORS headers for r's Origin when r, a parsed request, is given.
func (l *loop) appendRefusal(r *httpmin.Request, status int, reason, allow string) {
	var cors []byte
	if r != nil && l.cfg.CORS != nil {
		l.hdr = sse.AppendCORSHeaders(l.hdr[:0], l.cfg.CORS, r.Origin)
		cors = l.hdr
	}
	l.out = httpmin.AppendErrorHeaders(l.out[:0], status, reason, false, allow, cors)
}
