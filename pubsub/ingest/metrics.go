package ingest

import (
	"strings"
	"sync/atomic"
	"time"

	"github.com/ssedge/ssedge/pubsub"
)

// Protocol is how a publisher spoke: for PublishStats.
type Protocol int

const (
	ProtoHTTP Protocol = iota // POST /publish
	ProtoLine                 // PUB <channel> [<event>] <bytes>
	protocols
)

func (p Protocol) String() string {
	if p == ProtoLine {
		return "line"
	}
	return "http"
}

// Outcome is what became of a publish request: for PublishStats.
type Outcome int

const (
	OutcomeOK        Outcome = iota // published
	OutcomeInvalid                  // malformed request, unknown endpoint or method, no channel
	OutcomeTooLarge                 // data over --max-event-bytes
	OutcomeForbidden                // the peer's uid/gid may not publish
	OutcomeClosing                  // the server is shutting down
	outcomes
)

var outcomeNames = [outcomes]string{"ok", "invalid", "too_large", "forbidden", "closing"}

func (o Outcome) String() string { return outcomeNames[o] }

// LatencyBounds are the upper bounds of the publish latency histogram's
// buckets: the time Hub.Publish takes, which is short unless the ring is
// full and the publisher waits for the slowest loop.
var LatencyBounds = [...]time.Duration{
	10 * time.Microsecond, 25 * time.Microsecond, 50 * time.Microsecond, 100 * time.Microsecond,
	250 * time.Microsecond, 500 * time.Microsecond, time.Millisecond, 2500 * time.Microsecond,
	5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond, 100 * time.Millisecond, time.Second,
}

// Latency is a histogram of publish latencies.
type Latency struct {
	Buckets [len(LatencyBounds) + 1]uint64 // per bucket, not cumulative; the last is above every bound
	Count   uint64
	Sum     time.Duration
}

// PublishStats counts publish requests by protocol and outcome, with the
// latency of the accepted ones.
type PublishStats struct {
	Requests [protocols][outcomes]uint64
	Latency  [protocols]Latency
}

// publishCounters are written by the connection goroutines (atomic) and
// read by PublishStats from any goroutine. The publish path pays one
// time.Now pair and three atomic adds; the subscriber path pays nothing.
type publishCounters struct {
	requests [protocols][outcomes]atomic.Uint64
	buckets  [protocols][len(LatencyBounds) + 1]atomic.Uint64
	sum      [protocols]atomic.Int64 // nanoseconds
}

func (pc *publishCounters) observe(p Protocol, d time.Duration) {
	i := 0
	for i < len(LatencyBounds) && d > LatencyBounds[i] {
		i++
	}
	pc.buckets[p][i].Add(1)
	pc.sum[p].Add(int64(d))
	pc.requests[p][OutcomeOK].Add(1)
}

// PublishStats returns the publish counters. Safe from any goroutine.
func (s *Server) PublishStats() PublishStats {
	var st PublishStats
	pc := &s.counts
	for p := range protocols {
		for o := range outcomes {
			st.Requests[p][o] = pc.requests[p][o].Load()
		}
		for i := range st.Latency[p].Buckets {
			n := pc.buckets[p][i].Load()
			st.Latency[p].Buckets[i] = n
			st.Latency[p].Count += n
		}
		st.Latency[p].Sum = time.Duration(pc.sum[p].Load())
	}
	return st
}

// countRefusal counts a refusal answered on c, classed from its HTTP
// status (0 for the line protocol) and reason.
func (s *Server) countRefusal(c *conn, status int, reason string) {
	p, o := protoOf(c), OutcomeInvalid
	switch {
	case c.denied != "" || status == 403 || strings.HasPrefix(reason, ErrNotAllowed.Error()):
		o = OutcomeForbidden
	case status == 413 || strings.HasPrefix(reason, pubsub.ErrEventTooLarge.Error()):
		o = OutcomeTooLarge
	case status == 503 || strings.HasPrefix(reason, pubsub.ErrClosed.Error()):
		o = OutcomeClosing
	}
	s.counts.requests[p][o].Add(1)
}

// protoOf names c's protocol.
func protoOf(c *conn) Protocol {
	if c.proto == 'l' {
		return ProtoLine
	}
	return ProtoHTTP
}
