package poller

import (
	"fmt"
	"net/netip"
	"time"
)

// Driver runs a loop of a server that was not started, by hand, from the
// test goroutine: a seam for allocation tests and benchmarks.
type Driver struct{ l *loop }

// Drive returns a driver for loop i. The server must not be started.
func (s *Server) Drive(i int) *Driver {
	l := s.loops[i]
	l.startWheel()
	return &Driver{l}
}

// Subscribe adopts fd as a connection and feeds it a subscribe request
// for channels, as if the client had sent it.
func (d *Driver) Subscribe(fd int, query string) {
	d.l.open(fd, netip.Addr{}, false)
	slot := d.l.conns.len() - 1
	if n := len(d.l.free); n > 0 {
		panic("Driver.Subscribe expects a fresh table")
	}
	d.l.process(slot, []byte("GET /events?"+query+" HTTP/1.1\r\nHost: t\r\n\r\n"))
}

// Deliver drains the ring once and writes to the subscribers.
func (d *Driver) Deliver() { d.l.deliver() }

// Flush runs the work cut short by per-turn caps.
func (d *Driver) Flush() { d.l.runAgain() }

// SetClock sets the loop's clock (ms since it started) for what runs
// next: writes stamp it, timers compare against it.
func (d *Driver) SetClock(ms int64) { d.l.now = ms }

// Timers runs the loop's timers (the heartbeat wheel among them).
func (d *Driver) Timers() { d.l.runTimers() }

// Close closes the connection the n-th Subscribe adopted.
func (d *Driver) Close(n int) { d.l.close(int32(n), ClosePeer) }

// CheckWheel reports an error unless every open connection is on the
// heartbeat wheel exactly once, in a bucket whose list links back and
// forth consistently.
func (d *Driver) CheckWheel() error {
	l := d.l
	seen := make(map[int32]bool)
	for b, s := range l.wheel.head {
		prev := int32(-1)
		for ; s >= 0; s = l.conns.at(s).hbNext {
			c := l.conns.at(s)
			switch {
			case seen[s]:
				return fmt.Errorf("slot %d twice on the wheel (bucket %d)", s, b)
			case c.state == stateFree:
				return fmt.Errorf("closed slot %d on the wheel (bucket %d)", s, b)
			case int(c.hbBucket) != b+1 || c.hbPrev != prev:
				return fmt.Errorf("slot %d in bucket %d: hbBucket %d, hbPrev %d, want %d, %d", s, b, c.hbBucket, c.hbPrev, b+1, prev)
			}
			seen[s] = true
			prev = s
		}
	}
	for s := range l.conns.len() {
		if l.conns.at(s).state != stateFree && !seen[s] {
			return fmt.Errorf("open slot %d is not on the wheel", s)
		}
	}
	return nil
}

// WheelSteps is the heartbeat wheel's steps per interval: a stream is
// silent at most Heartbeat/WheelSteps (rounded up to a ms) past it.
const WheelSteps = wheelSteps

// ConnLimit is connLimit: the connection limit derived for MaxConns 0.
var ConnLimit = connLimit

// SetUpstreamGiveUp changes how long the loops wait for a read from the
// cluster's log before they give up on it (upstreamGiveUpMs by default).
func (s *Server) SetUpstreamGiveUp(d time.Duration) { s.upstreamGiveUpMs.Store(d.Milliseconds()) }

// SetHeartbeatFrame makes the wheel send f instead of sse.Heartbeat: a
// frame larger than a small socket buffer makes heartbeats short writes.
func (d *Driver) SetHeartbeatFrame(f []byte) { d.l.hbFrame = f }

// Backlog is the unsent bytes of the connection the n-th Subscribe adopted.
func (d *Driver) Backlog(n int) int { return d.l.conns.at(int32(n)).out.bytes }

// Open reports whether the connection the n-th Subscribe adopted is open.
func (d *Driver) Open(n int) bool { return d.l.conns.at(int32(n)).state != stateFree }

// FlushBacklogs writes every open connection's backlog once, as an
// EPOLLOUT edge on each would.
func (d *Driver) FlushBacklogs() {
	l := d.l
	for s := range l.conns.len() {
		if c := l.conns.at(s); c.state != stateFree && c.out.len() > 0 {
			l.flush(s)
		}
	}
}
