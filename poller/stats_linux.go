package poller

import (
	"sync/atomic"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// loopStats are one loop's counters: written by the loop, read by
// Server.Stats from any goroutine.
type loopStats struct {
	accepted     atomic.Uint64
	active       atomic.Int64
	subscribers  atomic.Int64
	closed       [closeReasons]atomic.Uint64
	deliveries   atomic.Uint64
	writes       atomic.Uint64
	acceptErrors atomic.Uint64
	requests     atomic.Uint64
	replayed     atomic.Uint64
	gaps         atomic.Uint64
	pollsParked  atomic.Uint64
	expired      atomic.Uint64
}

func (s *loopStats) addTo(st *Stats) {
	st.Accepted += s.accepted.Load()
	st.Active += s.active.Load()
	st.Subscribers += s.subscribers.Load()
	for i := range s.closed {
		st.Closed[i] += s.closed[i].Load()
	}
	st.Deliveries += s.deliveries.Load()
	st.Writes += s.writes.Load()
	st.AcceptErrors += s.acceptErrors.Load()
	st.Requests += s.requests.Load()
	st.Replayed += s.replayed.Load()
	st.Gaps += s.gaps.Load()
	st.PollsParked += s.pollsParked.Load()
}

func errorField(errno unix.Errno) zap.Field { return zap.Error(errno) }

// acceptBackoff pauses accepting on ln after a descriptor or memory
// shortage: the loop keeps serving its connections and retries after a
// back-off doubling from 10 ms to 1 s. One log line per burst.
func (l *loop) acceptBackoff(ln *listener, errno unix.Errno) {
	l.stats.acceptErrors.Add(1)
	ln.burstErrs++
	if ln.backoff == 0 {
		ln.backoff = 10
		l.log.Warn("accept: out of resources, pausing accepts and backing off; existing connections are still served",
			zap.Error(errno), zap.Int64("open_connections", l.stats.active.Load()),
			zap.String("fix", "raise the open-files limit (LimitNOFILE=, ulimit -n) or fs.file-max; see SYSCTL.md"))
	} else if ln.backoff < 1000 {
		ln.backoff *= 2
	}
	ln.pausedUntil = l.now + ln.backoff
}

// acceptResumed ends a back-off burst.
func (l *loop) acceptResumed(ln *listener) {
	if ln.backoff == 0 {
		return
	}
	l.log.Info("accept resumed", zap.Uint64("errors_in_burst", ln.burstErrs))
	ln.backoff, ln.burstErrs = 0, 0
}

// logSlowConsumer logs a slow-consumer close, at most once a second per
// loop; the line counts the ones closed silently since the previous line
// (Stats.Closed has the exact total), so a mass stall cannot flood the log.
func (l *loop) logSlowConsumer(c *conn) {
	quiet, ok := l.slowLog.allow(l.now)
	if !ok {
		return
	}
	l.log.Warn("closed slow consumer: its unsent backlog passed the limit; it will resume with Last-Event-ID",
		zap.Int("backlog_bytes", c.out.bytes), zap.Int("backlog_frames", c.out.len()),
		zap.Int("limit_bytes", l.cfg.MaxBacklogBytes), zap.Int("limit_frames", l.cfg.MaxBacklogFrames),
		zap.Int("more_since_last_line", quiet))
}

// logRefusal logs a refused request (counted as CloseBadRequest), at most
// once a second per loop, so hostile clients cannot flood the log.
func (l *loop) logRefusal(slot int32, status int, reason string) {
	quiet, ok := l.refuseLog.allow(l.now)
	if !ok {
		return
	}
	l.log.Info("request refused", zap.Int("status", status), zap.String("reason", reason),
		zap.Stringer("client", l.conns.at(slot).who()), zap.Int("more_since_last_line", quiet))
}

// logLimit lets a kind of log line through at most once a second (loop
// time); the lines held back are counted and reported with the next one.
// Owned by the loop goroutine.
type logLimit struct {
	next  int64 // loop ms before which lines are held back
	quiet int
}

// allow reports whether a line may be logged now, and how many were held
// back since the last one.
func (g *logLimit) allow(now int64) (quiet int, ok bool) {
	if now < g.next {
		g.quiet++
		return 0, false
	}
	quiet, g.quiet, g.next = g.quiet, 0, now+1000
	return quiet, true
}
