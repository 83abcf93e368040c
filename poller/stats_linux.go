package poller

import "sync/atomic"

// loopStats are one loop's counters: written by the loop, read by
// Server.Stats from any goroutine.
type loopStats struct {
	accepted          atomic.Uint64
	active            atomic.Int64
	subscribers       atomic.Int64
	replaying         atomic.Int64
	responding        atomic.Int64
	closed            [closeReasons]atomic.Uint64
	deliveries        atomic.Uint64
	writes            atomic.Uint64
	bytes             atomic.Uint64 // one add per write call, never per frame
	acceptErrors      atomic.Uint64
	requests          atomic.Uint64
	replayed          atomic.Uint64
	gaps              [gapReasons]atomic.Uint64
	heartbeats        atomic.Uint64 // one add per wheel step
	backlogged        atomic.Int64  // stored once per turn
	backlogBytes      atomic.Int64  // stored once per turn
	longPollsParked   atomic.Uint64
	longPollsAnswered atomic.Uint64
	upstreamFetches   atomic.Uint64
}

func (s *loopStats) addTo(st *Stats) {
	st.Accepted += s.accepted.Load()
	st.Active += s.active.Load()
	st.Subscribers += s.subscribers.Load()
	st.Replaying += s.replaying.Load()
	st.Responding += s.responding.Load()
	for i := range s.closed {
		st.Closed[i] += s.closed[i].Load()
	}
	st.Deliveries += s.deliveries.Load()
	st.Writes += s.writes.Load()
	st.Bytes += s.bytes.Load()
	st.AcceptErrors += s.acceptErrors.Load()
	st.Requests += s.requests.Load()
	st.Replayed += s.replayed.Load()
	for i := range s.gaps {
		n := s.gaps[i].Load()
		st.GapsByReason[i] += n
		st.Gaps += n
	}
	st.Heartbeats += s.heartbeats.Load()
	st.Backlogged += s.backlogged.Load()
	st.BacklogBytes += s.backlogBytes.Load()
	st.LongPollsParked += s.longPollsParked.Load()
	st.LongPollsAnswered += s.longPollsAnswered.Load()
	st.UpstreamFetches += s.upstreamFetches.Load()
}

// LoopStats returns each loop's counters, in loop order. Safe for
// concurrent use: it loads atomics the loops already write, and costs
// the loops nothing.
func (s *Server) LoopStats() []LoopStats {
	out := make([]LoopStats, len(s.loops))
	for i, l := range s.loops {
		l.stats.addTo(&out[i].Stats)
		if l.cursor != nil {
			out[i].RingLag = l.cursor.Lag()
		}
	}
	return out
}
