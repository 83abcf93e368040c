package poller

import "github.com/ssedge/ssedge/httpmin"

// runTimers runs the loop's timers: connection deadlines, the heartbeat
// wheel (heartbeat_linux.go) and the accept back-off, and publishes the
// backlog gauges.
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
	l.runWheel()
	l.stats.backlogged.Store(l.backlogged)
	l.stats.backlogBytes.Store(l.backlogBytes)
	for i := range l.lns {
		if ln := &l.lns[i]; ln.pausedUntil != 0 && ln.pausedUntil <= l.now {
			l.accept(i)
		}
	}
}
