package admin

import (
	"github.com/ssedge/ssedge/poller"
	"github.com/ssedge/ssedge/pubsub/ingest"
)

// CountsJSON is one loop's counters, or their total, as /stats shows them.
type CountsJSON struct {
	Accepted          uint64            `json:"accepted"`
	Open              int64             `json:"open"`
	Subscribers       int64             `json:"subscribers"`
	Replaying         int64             `json:"replaying"`
	Responding        int64             `json:"responding"`
	Closed            map[string]uint64 `json:"closed"`
	Requests          uint64            `json:"requests"`
	Deliveries        uint64            `json:"deliveries"`
	Writes            uint64            `json:"writes"`
	Bytes             uint64            `json:"bytes"`
	Heartbeats        uint64            `json:"heartbeats"`
	AcceptErrors      uint64            `json:"accept_errors"`
	Replayed          uint64            `json:"replayed"`
	Gaps              uint64            `json:"gaps"`
	LongPollsParked   uint64            `json:"long_polls_parked"`
	LongPollsAnswered uint64            `json:"long_polls_answered"`
	RingLag           *uint64           `json:"ring_lag,omitempty"` // per loop only
}

func countsOf(st poller.Stats) CountsJSON {
	c := CountsJSON{Accepted: st.Accepted, Open: st.Active, Subscribers: st.Subscribers, Replaying: st.Replaying,
		Responding: st.Responding, Closed: make(map[string]uint64), Requests: st.Requests, Deliveries: st.Deliveries,
		Writes: st.Writes, Bytes: st.Bytes, Heartbeats: st.Heartbeats, AcceptErrors: st.AcceptErrors, Replayed: st.Replayed, Gaps: st.Gaps,
		LongPollsParked: st.LongPollsParked, LongPollsAnswered: st.LongPollsAnswered}
	for r, n := range st.Closed {
		if poller.CloseReason(r) != poller.CloseNone {
			c.Closed[poller.CloseReason(r).String()] = n
		}
	}
	return c
}

// RingJSON is pubsub.RingStats in /stats.
type RingJSON struct {
	Size     int    `json:"size"`
	InFlight uint64 `json:"in_flight"`
}

// HistoryJSON is pubsub.HistoryStats in /stats.
type HistoryJSON struct {
	Events    int    `json:"events"`
	Bytes     int64  `json:"bytes"`
	Channels  int    `json:"channels"`
	Evictions uint64 `json:"evictions"`
}

// StatsJSON is /stats for one process.
type StatsJSON struct {
	Loops     []CountsJSON      `json:"loops,omitempty"`
	Total     *CountsJSON       `json:"total,omitempty"`
	Publishes map[string]uint64 `json:"publishes,omitempty"` // "protocol/outcome"
	Ring      *RingJSON         `json:"ring,omitempty"`
	History   *HistoryJSON      `json:"history,omitempty"`
	Relay     []RelayQueue      `json:"relay,omitempty"`
	Workers   map[string]any    `json:"workers,omitempty"` // the supervisor's view: each worker's /stats
	Errors    map[string]string `json:"errors,omitempty"`  // workers that did not answer
}

// StatsOf snapshots src for /stats.
func StatsOf(src Sources) StatsJSON {
	var out StatsJSON
	if p := src.Poller; p != nil {
		for _, l := range p.LoopStats() {
			c := countsOf(l.Stats)
			lag := l.RingLag
			c.RingLag = &lag
			out.Loops = append(out.Loops, c)
		}
		t := countsOf(p.Stats())
		out.Total = &t
	}
	if in := src.Ingest; in != nil {
		ps := in.PublishStats()
		out.Publishes = make(map[string]uint64)
		for p := range ps.Requests {
			for o, n := range ps.Requests[p] {
				out.Publishes[ingest.Protocol(p).String()+"/"+ingest.Outcome(o).String()] = n
			}
		}
	}
	if h := src.Hub; h != nil {
		r, hs := h.RingStats(), h.HistoryStats()
		out.Ring = &RingJSON{Size: r.Size, InFlight: r.InFlight}
		out.History = &HistoryJSON{Events: hs.Events, Bytes: hs.Bytes, Channels: hs.Channels, Evictions: hs.Evictions}
	}
	if src.Relay != nil {
		out.Relay = src.Relay()
	}
	return out
}
