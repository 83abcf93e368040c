package poller

import (
	"net/netip"
	"time"
)

// Driver runs a loop of a server that was not started, by hand, from the
// test goroutine: a seam for allocation tests and benchmarks.
type Driver struct{ l *loop }

// Drive returns a driver for loop i. The server must not be started.
func (s *Server) Drive(i int) *Driver { return &Driver{s.loops[i]} }

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

// ConnLimit is connLimit: the connection limit derived for MaxConns 0.
var ConnLimit = connLimit

// SetUpstreamGiveUp changes how long the loops wait for a read from the
// cluster's log before they give up on it (upstreamGiveUpMs by default).
func (s *Server) SetUpstreamGiveUp(d time.Duration) { s.upstreamGiveUpMs.Store(d.Milliseconds()) }
