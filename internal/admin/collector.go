package admin

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ssedge/ssedge/poller"
	"github.com/ssedge/ssedge/pubsub"
	"github.com/ssedge/ssedge/pubsub/ingest"
)

// Sources are the parts of a process whose counters /metrics and /stats
// show; nil ones are left out (a supervisor has no Poller, a worker no
// Ingest, only a supervisor has Relay).
type Sources struct {
	Poller *poller.Server
	Ingest *ingest.Server
	Hub    *pubsub.Hub
	Relay  func() []RelayQueue // the relay's queue per worker, now (its metrics come from Workers, labelled by worker)
}

// RelayQueue is one worker's relay queue (see pubsub.Relay.Queue).
type RelayQueue struct {
	Worker  string `json:"worker"`
	Batches int    `json:"batches"`
	Bytes   int    `json:"bytes"`
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(Prefix+name, help, labels, nil)
}

var (
	dConnections = desc("connections", "Connections open now, by state: streaming (live SSE streams), replaying (resuming streams catching up from history), responding (an answer waits for the client to read it), other (reading a request head, or a long-poll waiting for an event).", "state")
	dAccepted    = desc("connections_accepted_total", "Connections accepted on the subscriber listeners.")
	dClosed      = desc("connections_closed_total", "Connections closed, by reason.", "reason")
	dSlow        = desc("slow_consumers_total", "Subscribers closed because their backlog passed --max-backlog-bytes or --max-backlog-frames (the same as connections_closed_total{reason=\"slow consumer\"}).")
	dRequests    = desc("requests_total", "Request heads parsed on the subscriber listeners.")
	dDeliveries  = desc("deliveries_total", "Event frames handed to the kernel or queued for a subscriber (one per event per subscriber).")
	dWrites      = desc("writes_total", "send/sendmsg system calls on subscriber connections.")
	dBytes       = desc("written_bytes_total", "Bytes those system calls handed to the kernel.")
	dHeartbeats  = desc("heartbeats_total", "Heartbeat comments sent to streams silent for --heartbeat (each is one write, also counted in writes_total).")
	dAcceptErrs  = desc("accept_errors_total", "Accept failures for want of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM); the listener backs off meanwhile.")
	dReplayed    = desc("replayed_events_total", "History events sent to resuming subscribers (Last-Event-ID).")
	dGaps        = desc("gaps_total", "ssedge.gap events sent (and gaps in long-poll answers), by reason: evicted (history no longer holds them), restart (an id from before this server started), future (an id above every id issued).", "reason")
	dBacklogged  = desc("backlogged_connections", "Connections with unsent bytes queued in the server (the kernel did not take them), as of each loop's last turn.")
	dBacklogB    = desc("backlog_bytes", "Unsent bytes queued in the server for those connections (shared frames, counted per connection), as of each loop's last turn.")
	dPollsParked = desc("long_polls_parked_total", "Long-poll requests that waited for an event.")
	dPollsAnswer = desc("long_polls_answered_total", "Long-poll answers sent (at once, on an event, or at the deadline).")
	dRingLag     = desc("ring_lag_events", "Events published that this loop has not yet read; publishers wait when the slowest loop is a whole ring behind.", "loop")
	dRingSize    = desc("ring_size_events", "Slots of the broadcast ring between publishers and loops (--ring-size).")
	dRingUsed    = desc("ring_in_flight_events", "Ring slots not yet released by the slowest reader.")
	dHistEvents  = desc("history_events", "Events retained for resume and long-poll.")
	dHistBytes   = desc("history_bytes", "Bytes the history accounts for (frames plus index), against --history-memory.")
	dHistChans   = desc("history_channels", "Channels with retained events.")
	dHistEvicted = desc("history_evictions_total", "Events dropped from history by the per-channel count, the age or the memory bound.")
	dPublishes   = desc("publishes_total", "Publish requests on the publish socket, by protocol (http, line) and outcome (ok, invalid, too_large, forbidden, closing).", "protocol", "outcome")
	dPublishTime = desc("publish_duration_seconds", "Time an accepted publish spends in the hub (long when the ring is full and publishers wait for the slowest loop).", "protocol")
	dRelayBatch  = desc("relay_queue_batches", "Batches of events queued for a worker, not yet written to it (--procs).", "worker")
	dRelayBytes  = desc("relay_queue_bytes", "Bytes queued for a worker, not yet written to it (--procs).", "worker")
)

// coreCollector reads Sources at scrape time.
type coreCollector struct{ src Sources }

// NewCoreCollector returns the collector of ssedge's own counters.
func NewCoreCollector(src Sources) prometheus.Collector { return coreCollector{src} }

// Describe sends nothing: the collector is unchecked, since which
// families exist depends on the Sources.
func (coreCollector) Describe(chan<- *prometheus.Desc) {}

func (c coreCollector) Collect(ch chan<- prometheus.Metric) {
	if p := c.src.Poller; p != nil {
		collectPoller(ch, p.Stats(), p.LoopStats())
	}
	if in := c.src.Ingest; in != nil {
		collectPublishes(ch, in.PublishStats())
	}
	if h := c.src.Hub; h != nil {
		r := h.RingStats()
		gauge(ch, dRingSize, float64(r.Size))
		gauge(ch, dRingUsed, float64(r.InFlight))
		hs := h.HistoryStats()
		gauge(ch, dHistEvents, float64(hs.Events))
		gauge(ch, dHistBytes, float64(hs.Bytes))
		gauge(ch, dHistChans, float64(hs.Channels))
		counter(ch, dHistEvicted, float64(hs.Evictions))
	}
}

func collectPoller(ch chan<- prometheus.Metric, st poller.Stats, loops []poller.LoopStats) {
	// The counters are loaded one at a time, so a snapshot may be off by
	// a connection in flight; clamp rather than show a negative count.
	streaming := max(st.Subscribers-st.Replaying, 0)
	other := max(st.Active-st.Subscribers-st.Responding, 0)
	gauge(ch, dConnections, float64(streaming), "streaming")
	gauge(ch, dConnections, float64(st.Replaying), "replaying")
	gauge(ch, dConnections, float64(st.Responding), "responding")
	gauge(ch, dConnections, float64(other), "other")
	counter(ch, dAccepted, float64(st.Accepted))
	for r := range st.Closed {
		if poller.CloseReason(r) == poller.CloseNone {
			continue
		}
		counter(ch, dClosed, float64(st.Closed[r]), poller.CloseReason(r).String())
	}
	counter(ch, dSlow, float64(st.SlowConsumers()))
	counter(ch, dRequests, float64(st.Requests))
	counter(ch, dDeliveries, float64(st.Deliveries))
	counter(ch, dWrites, float64(st.Writes))
	counter(ch, dBytes, float64(st.Bytes))
	counter(ch, dHeartbeats, float64(st.Heartbeats))
	counter(ch, dAcceptErrs, float64(st.AcceptErrors))
	counter(ch, dReplayed, float64(st.Replayed))
	for r, n := range st.GapsByReason {
		counter(ch, dGaps, float64(n), poller.GapReason(r).String())
	}
	gauge(ch, dBacklogged, float64(st.Backlogged))
	gauge(ch, dBacklogB, float64(st.BacklogBytes))
	counter(ch, dPollsParked, float64(st.LongPollsParked))
	counter(ch, dPollsAnswer, float64(st.LongPollsAnswered))
	for i, l := range loops {
		gauge(ch, dRingLag, float64(l.RingLag), strconv.Itoa(i))
	}
}

func collectPublishes(ch chan<- prometheus.Metric, st ingest.PublishStats) {
	for p := range st.Requests {
		proto := ingest.Protocol(p).String()
		for o, n := range st.Requests[p] {
			counter(ch, dPublishes, float64(n), proto, ingest.Outcome(o).String())
		}
		lat := st.Latency[p]
		buckets := make(map[float64]uint64, len(ingest.LatencyBounds))
		var cum uint64
		for i, b := range ingest.LatencyBounds {
			cum += lat.Buckets[i]
			buckets[b.Seconds()] = cum
		}
		ch <- prometheus.MustNewConstHistogram(dPublishTime, lat.Count, lat.Sum.Seconds(), buckets, proto)
	}
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}
