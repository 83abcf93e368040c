package poller

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/ssedge/ssedge/internal/auth"
)

// handoffCatchMs bounds how long a loop, asked to pause, waits for its
// resumes in progress to join their channels and its answers to go out;
// what is still replaying then stays behind and is closed with the old
// process (the client resumes by Last-Event-ID from the new one).
const handoffCatchMs = 2000

// handoffRun is one upgrade attempt, shared by Pause and the loops.
// Written by Pause before the loops are asked; verdict is closed once,
// by Commit or Abort, after commit is stored.
type handoffRun struct {
	target  uint64          // the hub's last id when publishing paused: every loop stops just past it
	out     chan loopExport // each loop sends its export once
	verdict chan struct{}   // closed by Commit or Abort
	commit  bool            // written before verdict is closed
}

// loopHandoff is one loop's part of an attempt. Owned by the loop goroutine.
type loopHandoff struct {
	run   *handoffRun
	start int64 // loop ms when the loop saw the request
}

// loopExport is what a loop hands over: its listener sockets (in
// l.lns order, taken off its epoll) and its connections (left on it:
// export).
type loopExport struct {
	id    int
	lns   []listener
	conns []HandoffConn
	slots []connRef // the exported connections, for Commit and Abort
}

// Handoff is a paused server: every loop has delivered the ring up to
// the target id and stopped there, its listeners off its epoll. The caller
// sends Listeners and Conns (their FDs) to the new process, then calls
// Commit (the new process has them: the loops close their copies without
// a write and exit) or Abort (the loops take everything back and go on).
type Handoff struct {
	Listeners []HandoffListener
	Conns     []HandoffConn
	srv       *Server
	run       *handoffRun
	done      bool
	locks     []*os.File // the duplicates behind Listeners' Lock, closed by Commit or Abort
}

// unixLock duplicates the lock of the shared unix listener fd (nil when
// its file is another process's).
func (s *Server) unixLock(fd int) (*os.File, error) {
	for _, u := range s.unix {
		if u.fd == fd && u.sock != nil {
			return u.sock.LockFile()
		}
	}
	return nil, nil
}

// Pause stops every loop at the ring position just past target (the
// hub's last id, with publishing already paused) and exports its
// sockets, for a binary upgrade. Each loop does this on its own
// goroutine: it answers its parked long-polls at once (the client polls
// again, from the new process), delivers the ring up to target, waits up
// to handoffCatchMs for resumes to join their channels and for polls'
// reads from the cluster's log (a poll still reading then gets 503 with
// Retry-After), then takes its listeners off its epoll and reports (its
// connections stay registered; it reads nothing until the verdict). If ctx ends first the attempt is aborted and Pause
// returns ctx's error. Call Commit or Abort on the result before
// anything else on the server; not with a drain under way.
func (s *Server) Pause(ctx context.Context, target uint64) (*Handoff, error) {
	if !s.started.Load() || s.drainOnce.Load() {
		return nil, fmt.Errorf("poller: cannot hand off: the server is not serving")
	}
	run := &handoffRun{target: target, out: make(chan loopExport, len(s.loops)), verdict: make(chan struct{})}
	s.hand.Store(run)
	for _, l := range s.loops {
		l.handReq.Store(true)
		l.wakeup()
	}
	h := &Handoff{srv: s, run: run}
	exports := make([]loopExport, len(s.loops))
	for n := 0; n < len(s.loops); n++ {
		select {
		case e := <-run.out:
			exports[e.id] = e
		case <-ctx.Done():
			h.Abort()
			return nil, fmt.Errorf("poller: loops did not pause in time: %w", ctx.Err())
		}
	}
	for k, a := range s.addrs {
		ln := HandoffListener{Network: a.Network(), Addr: a.String(), Proxy: exports[0].lns[k].proxy, Lock: -1}
		if exports[0].lns[k].shared {
			ln.FDs = []int{exports[0].lns[k].fd}
			lock, err := s.unixLock(ln.FDs[0])
			if err != nil {
				h.Abort()
				return nil, fmt.Errorf("poller: cannot hand off the lock of %s: %w", a, err)
			}
			if lock != nil {
				h.locks = append(h.locks, lock)
				ln.Lock, ln.HasLock = int(lock.Fd()), true
			}
		} else {
			for _, e := range exports {
				ln.FDs = append(ln.FDs, e.lns[k].fd)
			}
		}
		ln.N = len(ln.FDs)
		h.Listeners = append(h.Listeners, ln)
	}
	for _, e := range exports {
		h.Conns = append(h.Conns, e.conns...)
	}
	return h, nil
}

// Commit ends the hand-off: the new process holds every socket. The loops
// close their copies (no write, no shutdown: the connections live on in
// the new process) and exit; Close then only waits for them.
func (h *Handoff) Commit() { h.finish(true) }

// Abort ends the hand-off the other way: the loops put their listeners
// back on their epoll and go on where they stopped.
func (h *Handoff) Abort() { h.finish(false) }

func (h *Handoff) finish(commit bool) {
	if h.done {
		return
	}
	h.done = true
	h.run.commit = commit
	for _, f := range h.locks {
		f.Close() // sent: the new process has its own
	}
	h.locks = nil
	if commit {
		// The shared unix listeners and their files' locks now belong to
		// the new process: close only this process's copies, and never
		// remove the file.
		for i := range h.srv.unix {
			u := &h.srv.unix[i]
			if u.fd >= 0 {
				unix.Close(u.fd) // no loop watches it any more (export)
				u.fd = -1
			}
			if u.sock != nil {
				u.sock.Disown()
				u.sock.Remove() // only closes this copy of the lock
				u.sock = nil
			}
		}
	}
	close(h.run.verdict)
	if commit {
		h.srv.Close()
	}
}

// handoffStep is the loop's part of a hand-off, run once per turn while
// one is requested (loop.handReq).
func (l *loop) handoffStep() {
	h := &l.hand
	if h.run == nil {
		h.run, h.start = l.srv.hand.Load(), l.now
		l.answerPollsEarly(false)
	}
	select {
	case <-h.run.verdict: // aborted before this loop got to export
		l.handoffDone()
		return
	default:
	}
	if l.cursor.NextID() <= h.run.target {
		return // deliver has more of the ring to go
	}
	if l.now < h.start+handoffCatchMs && l.handoffBusy() {
		return
	}
	l.answerPollsEarly(true) // polls parked while catching up, and reads from the log still under way
	e := l.export()
	h.run.out <- e
	<-h.run.verdict
	if h.run.commit {
		l.commitExport(&e)
	} else {
		l.abortExport(&e)
	}
	l.handoffDone()
}

// handoffDone ends the loop's part of an attempt. A Pause that came
// right after this attempt's Abort (and stored its run before this loop
// got here) must not lose its request: the flag is set again.
func (l *loop) handoffDone() {
	run := l.hand.run
	l.hand.run = nil
	l.handReq.Store(false)
	if next := l.srv.hand.Load(); next != run && next != nil {
		l.handReq.Store(true)
	}
}

// handoffBusy reports whether a resume is still replaying, a poll waits
// for its read from the cluster's log, or an answer is still going out:
// worth waiting a moment for.
func (l *loop) handoffBusy() bool {
	for i := range l.conns.len() {
		c := l.conns.at(i)
		if c.replay != nil || (c.state == stateLongPoll && c.longPoll.fetch != nil) ||
			(c.state == stateResponding && c.after != CloseNone) {
			return true
		}
	}
	return false
}

// answerPollsEarly answers every parked long-poll now with what it has, as
// at its deadline; a keep-alive connection then reads its next request. A
// poll waiting for its read from the cluster's log cannot move: it is
// answered when the read is done (handoffBusy waits for that), and one
// still waiting at the end (final) gets 503 with Retry-After and is
// closed with this process: the client polls again, from the new one.
func (l *loop) answerPollsEarly(final bool) {
	for i := range l.conns.len() {
		c := l.conns.at(i)
		switch {
		case c.state != stateLongPoll:
		case c.longPoll.fetch != nil:
			if final {
				l.endFetchingPoll(i, 503, "server restarting; poll again from the same lastEventId", CloseShutdown)
			}
		default:
			c.deadline = l.now
			l.answerLongPoll(i, -1)
		}
	}
}

// export takes the loop's listeners off its epoll and describes them and
// its movable connections. The connections stay registered: the loop
// blocks until the verdict and reads no event meanwhile; on Abort the
// registration reports what happened (edge-triggered, nothing is lost),
// on Commit the loop's server closes the epoll, which drops them. An
// EPOLL_CTL_DEL per connection was the largest cost of a hand-off (at
// 15k connections per worker), and it sat where publishing is paused. A
// connection that cannot move (a resume still replaying, an answer
// followed by a close, a lingering close) stays and ends with this
// process.
func (l *loop) export() loopExport {
	e := loopExport{id: l.id, lns: append([]listener(nil), l.lns...)}
	for i := range l.lns {
		unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, l.lns[i].fd, nil)
	}
	for i := range l.conns.len() {
		c := l.conns.at(i)
		hc := HandoffConn{FD: int(c.fd), Loop: l.id, Proxy: c.proxy, PerIP: c.perIP}
		switch {
		case c.state == stateStreaming && c.replay == nil:
			hc.Kind = HandoffStream
			for _, s := range c.subs {
				hc.Channels = append(hc.Channels, s.t.name)
			}
			if c.capped != nil {
				hc.Capped = *c.capped
			}
			if c.grant != nil {
				hc.Grant, hc.GrantExpires = c.grant.Patterns(), c.grant.Expires().UnixMilli()
			}
			if c.deadline != 0 {
				hc.Expiry = l.start.Add(time.Duration(c.deadline) * time.Millisecond).UnixMilli()
			}
			hc.SilentMs = int64(uint32(l.now) - c.wroteAt)
		case c.state == stateReading:
			hc.Kind = HandoffReading
		case c.state == stateResponding && c.after == CloseNone:
			hc.Kind = HandoffResponding
		default:
			continue
		}
		if c.peer.IsValid() {
			hc.Peer = c.peer.String()
		}
		if c.client.IsValid() {
			hc.Client = c.client.String()
		}
		hc.Out = c.out.appendTo(nil)
		hc.In = append([]byte(nil), c.rbuf...)
		e.conns = append(e.conns, hc)
		e.slots = append(e.slots, connRef{i, c.gen})
	}
	return e
}

// commitExport lets go of what the new process took: each descriptor is
// closed (the connection lives on in the new process, which holds the
// same socket), and the loop stops.
func (l *loop) commitExport(e *loopExport) {
	for _, r := range e.slots {
		l.close(r.slot, CloseShutdown)
	}
	for i := range l.lns {
		if !l.lns[i].shared {
			unix.Close(l.lns[i].fd)
		}
	}
	l.lns = l.lns[:0]
	l.stop.Store(true)
}

// abortExport puts the listeners back on the epoll (the connections
// never left it: their events of meanwhile are waiting there), and each
// connection is also written and read again next turn.
func (l *loop) abortExport(e *loopExport) {
	for i := range l.lns {
		events := uint32(unix.EPOLLIN | unix.EPOLLET)
		if l.lns[i].shared {
			events |= unix.EPOLLEXCLUSIVE
		}
		if err := l.ctl(unix.EPOLL_CTL_ADD, l.lns[i].fd, events, -2-int32(i), 0); err != nil {
			l.log.Error("upgrade aborted: cannot watch a listener again", zap.Error(err))
		}
		l.lns[i].more = true
	}
	for _, r := range e.slots {
		c := l.conns.at(r.slot)
		c.readMore = true
		l.pushAgain(r.slot)
	}
}

// Import takes over connections a previous process handed over. Call it
// after New and before Start (the loops are not running yet, so this
// goroutine may set their state). On error, the connections not yet
// taken are closed by the caller.
func (s *Server) Import(conns []HandoffConn) error {
	for i := range s.loops {
		s.loops[i].now = int64(time.Since(s.loops[i].start) / time.Millisecond)
	}
	for i := range conns {
		hc := &conns[i]
		if hc.Loop < 0 || hc.Kind < HandoffStream || hc.Kind > HandoffResponding || hc.FD < 0 {
			return fmt.Errorf("poller: handed-over connection %d: loop %d, kind %d, descriptor %d: expected a loop of 0 or more, a kind of %d to %d and a descriptor",
				i, hc.Loop, hc.Kind, hc.FD, HandoffStream, HandoffResponding)
		}
		l := s.loops[hc.Loop%len(s.loops)]
		if err := l.importConn(hc); err != nil {
			return err
		}
		hc.FD = -1 // the loop owns it now
	}
	return nil
}

func (l *loop) importConn(hc *HandoffConn) error {
	var slot int32
	if n := len(l.free); n > 0 {
		slot, l.free = l.free[n-1], l.free[:n-1]
	} else {
		slot = l.conns.add()
	}
	c := l.conns.at(slot)
	gen := c.gen + 1
	if gen == 0 {
		gen = 1
	}
	*c = conn{fd: int32(hc.FD), gen: gen, state: stateReading, pendHead: -1, pendTail: -1, wroteAt: uint32(l.now), proxy: hc.Proxy}
	c.peer, _ = netip.ParseAddr(hc.Peer)
	c.client, _ = netip.ParseAddr(hc.Client)
	// No fcntl: O_NONBLOCK belongs to the open file, which the old
	// process's accept4 made non-blocking, and the descriptor arrived
	// close-on-exec (MSG_CMSG_CLOEXEC).
	if err := l.ctl(unix.EPOLL_CTL_ADD, hc.FD, unix.EPOLLIN|unix.EPOLLOUT|unix.EPOLLRDHUP|unix.EPOLLET, slot, gen); err != nil {
		c.state = stateFree
		l.free = append(l.free, slot)
		return err
	}
	l.srv.conns.Add(1)
	l.stats.active.Add(1)
	if hc.PerIP && c.client.IsValid() {
		l.srv.admitIP(c.client, int(^uint(0)>>1))
		c.perIP = true
	}
	if len(hc.Out) > 0 {
		c.out.push(hc.Out)
	}
	// Registering reports what is ready now (EPOLL_CTL_ADD polls the
	// socket, edge-triggered or not): a stream with nothing to write
	// waits for that. Anything else is written (and read) on the first
	// turn, as a request already in rbuf would see no new edge. A read
	// per stream was 15k EAGAINs in a worker's first turn after an
	// upgrade, ahead of the first delivery.
	if hc.Kind != HandoffStream || len(hc.Out) > 0 || len(hc.In) > 0 {
		c.readMore = true
		l.pushAgain(slot)
	}
	switch hc.Kind {
	case HandoffStream:
		c.state = stateStreaming
		c.subs = make([]subRef, 0, len(hc.Channels))
		c.subscriber = true
		l.stats.subscribers.Add(1)
		for _, name := range hc.Channels {
			l.join(slot, []byte(name))
		}
		for _, name := range hc.Capped {
			l.srv.admitChannel([]byte(name), int(^uint(0)>>1))
			if c.capped == nil {
				c.capped = new([]string)
			}
			*c.capped = append(*c.capped, name)
		}
		if len(hc.Grant) > 0 {
			if g, err := auth.GrantOf(hc.Grant, time.UnixMilli(hc.GrantExpires)); err == nil {
				c.grant = g
			}
		}
		if hc.Expiry != 0 {
			c.deadline = time.UnixMilli(hc.Expiry).Sub(l.start).Milliseconds()
			l.deadlines.push(deadline{connRef{slot, gen}, c.deadline})
		}
		c.wroteAt = uint32(l.now - hc.SilentMs)
	case HandoffResponding:
		c.rbuf = hc.In
		l.awaitDrain(slot, CloseNone)
	default:
		l.startReading(slot)
		if len(hc.In) > 0 {
			c.rbuf = hc.In
		}
	}
	return nil
}

// appendTo appends the unsent bytes to dst.
func (b *backlog) appendTo(dst []byte) []byte {
	for i, f := range b.frames[b.head:] {
		if i == 0 {
			f = f[b.off:]
		}
		dst = append(dst, f...)
	}
	return dst
}
