package poller

import (
	"context"
	"math/rand/v2"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/ssedge/ssedge/httpmin"
	"github.com/ssedge/ssedge/sse"
)

// drainGraceMs is how long after the end of the window a loop waits for
// the last answers and retry frames still in backlogs before it closes
// what is left.
const drainGraceMs = 1000

// Drain phases of one loop (loopDrain.phase).
const (
	drainOff      = iota
	drainCatching // delivering the ring up to the target id
	drainClosing  // closing streams at a steady pace
	drainFinished // every connection closed; the loop has reported
)

// loopDrain is one loop's drain state. Owned by the loop goroutine; the
// request to start comes from Server.Drain through loop.drainReq and the
// eventfd (see the package doc).
type loopDrain struct {
	phase  int
	start  int64  // loop ms when the loop saw the request
	window int64  // ms
	target uint64 // the hub's last id when the drain started
	queue  []connRef
	next   int   // queue[next] is the next stream to close
	nextAt int64 // loop ms at which queue[next] is closed
}

// Drain shuts the server down gracefully over window, and returns when
// every connection has been closed or ctx is done (the caller then calls
// Close, which closes what is left at once). Call it at most once, after
// Start; publishers should be stopped first (ingest.Server.Close), so the
// hub's last id is final.
//
// Each loop, woken through its eventfd: accepts what is already queued on
// its listeners (those connections get 503 with Retry-After to any request,
// like every request that arrives during the drain), then closes its
// listening sockets (a shared unix socket is closed by Drain once every
// loop has let go of it), answers its parked long-polls at once, delivers
// the ring up to the hub's last id at the start, and then closes its
// streams one by one at a steady pace, so that its last stream closes at
// the end of the window: each gets a final "retry: <ms>" frame, ms uniform
// in [0, window/4], and a graceful close (see linger). With window 0 the
// streams are closed as soon as the ring is delivered.
func (s *Server) Drain(ctx context.Context, window time.Duration) DrainResult {
	begin := time.Now()
	before := s.Stats()
	res := DrainResult{Streams: before.Subscribers}
	if len(s.loops) == 0 || !s.started.Load() || !s.drainOnce.CompareAndSwap(false, true) {
		return res
	}
	s.cfg.Log.Info("draining: closing the listeners, then the streams spread over the window",
		zap.Int64("streams", res.Streams), zap.Duration("window", window))
	s.drainTarget.Store(s.cfg.Hub.LastID())
	s.drainWindowMs.Store(int64(window / time.Millisecond))
	s.drainLn = make(chan struct{}, len(s.loops))
	s.drained = make(chan struct{}, len(s.loops))
	for _, l := range s.loops {
		l.drainReq.Store(true)
		l.wakeup()
	}
	for n := 0; n < len(s.loops) && !res.Cut; n++ {
		select {
		case <-s.drainLn:
		case <-ctx.Done():
			res.Cut = true
		}
	}
	// Once no loop watches a shared unix socket, close it; if ctx ended
	// first, a loop may still unwatch it by descriptor number, so release
	// closes it after the loops have exited instead.
	for i := range s.unix {
		if res.Cut {
			break
		}
		unix.Close(s.unix[i].fd)
		s.unix[i].fd = -1
		if s.unix[i].sock != nil {
			s.unix[i].sock.Remove()
		}
	}
	for n := 0; n < len(s.loops) && !res.Cut; n++ {
		select {
		case <-s.drained:
		case <-ctx.Done():
			res.Cut = true
		}
	}
	res.Elapsed = time.Since(begin)
	res.Closed = s.Stats().Closed[CloseDrain] - before.Closed[CloseDrain]
	s.cfg.Log.Info("drained", zap.Uint64("closed", res.Closed), zap.Duration("elapsed", res.Elapsed), zap.Bool("cut_short", res.Cut))
	return res
}

// drainStep is the loop's drain work, run once per turn while a drain is
// on (loop.drainReq set).
func (l *loop) drainStep() {
	d := &l.drain
	switch d.phase {
	case drainOff:
		d.phase, d.start = drainCatching, l.now
		d.window = l.srv.drainWindowMs.Load()
		d.target = l.srv.drainTarget.Load()
		l.drainListeners()
		l.srv.drainLn <- struct{}{}
		l.answerParkedPolls()
		fallthrough
	case drainCatching:
		if l.cursor.NextID() <= d.target && l.now < d.start+max(d.window, drainGraceMs) {
			// deliver has more of the ring to go. Bounded by the window:
			// a worker's target comes from its supervisor's id word and
			// is only an upper bound of what its relay brought.
			return
		}
		d.phase = drainClosing
		for i := range l.conns.len() {
			if c := l.conns.at(i); c.state == stateStreaming {
				d.queue = append(d.queue, connRef{i, c.gen})
			}
		}
		d.nextAt = l.drainCloseAt(0)
		fallthrough
	case drainClosing:
		for d.next < len(d.queue) && d.nextAt <= l.now {
			l.closeDraining(d.queue[d.next])
			d.next++
			d.nextAt = l.drainCloseAt(d.next)
		}
		if d.next < len(d.queue) {
			return
		}
		if l.stats.active.Load() > 0 && l.now < d.start+d.window+drainGraceMs {
			return // answers and final frames still going out
		}
		for i := range l.conns.len() {
			if l.conns.at(i).state != stateFree {
				l.close(i, CloseDrain)
			}
		}
		d.phase, d.queue = drainFinished, nil
		l.srv.drained <- struct{}{}
	}
}

// drainCloseAt is when the k-th of the loop's streams closes: the window
// is cut into as many equal steps as there are streams, and the k-th
// closes at the end of step k, so the last closes at the end of the
// window. A loop that caught up late closes the overdue ones at once.
func (l *loop) drainCloseAt(k int) int64 {
	d := &l.drain
	n := int64(len(d.queue))
	if n == 0 {
		return d.start
	}
	return d.start + d.window*int64(k+1)/n
}

// drainWait is how long epoll_wait may sleep for the drain: until the next
// close, or a short poll while the last answers go out.
func (l *loop) drainWait(next int64) int64 {
	switch l.drain.phase {
	case drainClosing:
		if l.drain.next < len(l.drain.queue) {
			return min(next, l.drain.nextAt)
		}
		return min(next, l.now+10)
	}
	return next
}

// drainListeners accepts what is queued on the loop's listeners (so no
// client waiting there is reset: each gets 503 to its request, see
// handle), then closes them; the kernel refuses new connections from
// then on, which a proxy sees at once and takes to another server. A
// shared unix socket is only unwatched here; Drain closes it.
func (l *loop) drainListeners() {
	for i := range l.lns {
		ln := &l.lns[i]
		ln.pausedUntil = 0
		l.accept(i)
		for ln.more {
			l.accept(i)
		}
		unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, ln.fd, nil)
		if !ln.shared {
			unix.Close(ln.fd)
		}
		ln.fd, ln.more, ln.pausedUntil = -1, false, 0
	}
	l.lns = l.lns[:0]
}

// answerParkedPolls answers every parked long-poll now, with what it has
// (nothing, as at its deadline), and closes it after the answer.
func (l *loop) answerParkedPolls() {
	for i := range l.conns.len() {
		c := l.conns.at(i)
		if c.state != stateLongPoll {
			continue
		}
		c.deadline = l.now
		c.after = CloseDrain
		l.answerLongPoll(i, -1)
	}
}

// closeDraining sends a stream its final retry frame and closes it
// gracefully (after its backlog, if it has one).
func (l *loop) closeDraining(r connRef) {
	c := l.conns.at(r.slot)
	if c.gen != r.gen || c.state != stateStreaming {
		return
	}
	ms := 0
	if j := l.drain.window / 4; j > 0 {
		ms = int(rand.Int64N(j + 1))
	}
	// The frame is the stream's own: a backlog holds frames by reference.
	if !l.enqueue(r.slot, sse.AppendRetry(make([]byte, 0, 24), ms)) {
		l.closeDoomed()
		return
	}
	l.flush(r.slot)
	if c.gen != r.gen || c.state != stateStreaming {
		return
	}
	if c.out.len() == 0 {
		l.linger(r.slot, CloseDrain)
		return
	}
	l.awaitDrain(r.slot, CloseDrain)
}

// refuseDraining answers a request that arrives during a drain: 503 with
// Retry-After, then the connection is closed.
func (l *loop) refuseDraining(slot int32, r *httpmin.Request) {
	l.appendRefusal(r, 503, "server is shutting down: try again (Retry-After)", "")
	l.respond(slot, l.out, CloseDrain)
}
