package poller

import (
	"github.com/ssedge/ssedge/httpmin"
	"github.com/ssedge/ssedge/sse"
)

// runTimers runs the loop's timers: connection deadlines, the heartbeat
// sweep and the accept back-off.
func (l *loop) runTimers() {
	for {
		if at, ok := l.deadlines.next(); !ok || at > l.now {
			break
		}
		d := l.deadlines.pop()
		c := l.conns.at(d.slot)
		if c.gen != d.gen || c.deadline != d.at {
			continue
		}
		switch c.state {
		case stateReading:
			l.out = httpmin.AppendError(l.out[:0], 408, "request head not received in time", false, "")
			l.respond(d.slot, l.out, CloseHeaderTimeout)
		case stateLongPoll:
			l.answerLongPoll(d.slot, -1)
		case stateStreaming:
			l.expire(d.slot)
		case stateLingering:
			l.close(d.slot, c.after)
		}
	}
	if l.now >= l.sweepAt {
		l.heartbeat()
		l.sweepAt = l.now + max(l.heartbeatMs()/4, 1)
	}
	for i := range l.lns {
		if ln := &l.lns[i]; ln.pausedUntil != 0 && ln.pausedUntil <= l.now {
			l.accept(i)
		}
	}
}

// heartbeat sends the shared comment frame to every stream silent for a
// heartbeat interval. A stream with a backlog is not silent: it is waiting
// for the client to read.
func (l *loop) heartbeat() {
	hb := uint32(l.heartbeatMs())
	now := uint32(l.now)
	var backlogged, backlogBytes int64 // for Stats: the sweep reads every entry anyway
	for i := range l.conns.len() {
		c := l.conns.at(i)
		if n := c.out.bytes; n > 0 {
			backlogged++
			backlogBytes += int64(n)
		}
		if c.state == stateStreaming && c.out.len() == 0 && now-c.wroteAt >= hb {
			l.send(i, sse.Heartbeat)
		}
	}
	l.stats.backlogged.Store(backlogged)
	l.stats.backlogBytes.Store(backlogBytes)
}
