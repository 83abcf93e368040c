package poller

import (
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// Log lines that hostile or broken clients could cause by the thousand
// (refused requests, slow consumers) go through a logLimit: at most one a
// second per loop, with a count of the ones held back. Over-limit refusals
// (503, 429) have one limiter for the whole server, Server.limLog (see
// overLimit).

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

// logUpstreamGiveUp logs that a read from the cluster's log did not
// finish in time (what is the client's: a stream, or a poll), at most once
// a second per loop: a broker that hangs would otherwise log every resume.
func (l *loop) logUpstreamGiveUp(what string) {
	quiet, ok := l.upLog.allow(l.now)
	if !ok {
		return
	}
	l.log.Warn("gave up on a read from the cluster's stream: it did not finish; the client resumes or polls again from its id",
		zap.String("client", what), zap.Int64("waited_ms", l.srv.upstreamGiveUpMs.Load()), zap.Int("more_since_last_line", quiet))
}

func errorField(errno unix.Errno) zap.Field { return zap.Error(errno) }
