package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"
)

// result is one run's figures: the table on stdout and the --json file.
type result struct {
	Label     string    `json:"label,omitempty"`
	URL       string    `json:"url"`
	Channel   string    `json:"channel"`
	StartedAt time.Time `json:"started_at"`
	Procs     int       `json:"procs"`
	SrcAddrs  int       `json:"src_addrs"`
	Events    int       `json:"events"`
	SizeBytes int       `json:"size_bytes"`
	Interval  string    `json:"interval"`
	RatePerS  float64   `json:"rate_per_s"` // asked: 1 / interval
	Machine   machine   `json:"machine"`

	Conns          int            `json:"conns"`
	Connected      int            `json:"connected"`
	Failed         int            `json:"failed"`
	ConnectErrors  map[string]int `json:"connect_errors,omitempty"`
	FirstError     string         `json:"first_error,omitempty"`
	ConnectSeconds float64        `json:"connect_seconds"`
	ConnectRate    float64        `json:"connect_rate_per_s"`

	ServerMeasured         bool    `json:"server_measured"` // --server-pid given
	ServerProcs            int     `json:"server_procs"`    // processes summed: the pid and its descendants, when connected
	ServerProcsChanged     bool    `json:"server_procs_changed,omitempty"`
	BaselineRSSBytes       int64   `json:"baseline_rss_bytes"`
	ConnectedRSSBytes      int64   `json:"connected_rss_bytes"`
	RSSPerConnBytes        float64 `json:"rss_per_conn_bytes"`
	CPUSeconds             float64 `json:"server_cpu_seconds"`      // publish phase
	CPUSource              string  `json:"server_cpu_source"`       // schedstat or stat
	CPUStatSeconds         float64 `json:"server_cpu_stat_seconds"` // utime+stime, 10 ms resolution, for cross-checking
	CPUPerDeliveryUs       float64 `json:"server_cpu_per_delivery_us"`
	ClientCPUPerDeliveryUs float64 `json:"client_cpu_per_delivery_us"` // the workers', to show the client is not the bottleneck
	DeliveriesPerSec       float64 `json:"deliveries_per_s"`           // median over events of received / last-subscriber latency

	Floor                   *kernelFloor `json:"kernel_floor,omitempty"`
	CPUPerDeliveryOverFloor float64      `json:"cpu_per_delivery_over_floor,omitempty"`

	PublishedPerS   float64 `json:"published_per_s"`    // sent: the asked rate unless the publish connection's buffers filled
	PublishRTTP50Ms float64 `json:"publish_rtt_p50_ms"` // from sending a publish to its answer: a server that falls behind answers late
	PublishRTTMaxMs float64 `json:"publish_rtt_max_ms"`

	Expected        uint64         `json:"expected"` // events × connected
	Delivered       uint64         `json:"delivered"`
	Lost            uint64         `json:"lost"`
	Duplicates      uint64         `json:"duplicates"`
	OutOfOrder      uint64         `json:"out_of_order"`
	IDNotIncreasing uint64         `json:"id_not_increasing"`
	IDMismatch      uint64         `json:"id_mismatch"` // SSE id differs from the id the publish returned
	Foreign         uint64         `json:"foreign"`
	Malformed       uint64         `json:"malformed"`
	ClosedDuringRun int            `json:"closed_during_run"`
	CloseReasons    map[string]int `json:"close_reasons,omitempty"`

	PerEvent  []eventResult `json:"per_event"`
	All       eventResult   `json:"all"`         // every delivery of every event
	LastP50Ms float64       `json:"last_p50_ms"` // median over events of the time to the last subscriber

	Storm  *stormResult `json:"storm,omitempty"` // --storm: the reconnect storm (storm.go)
	Kernel kernelMem    `json:"kernel"`          // kernmem.go
	Idle   *idleCPU     `json:"idle,omitempty"`  // --idle

	OK       bool     `json:"ok"`
	Problems []string `json:"problems,omitempty"`
}

// eventResult is the latency from publish to arrival over the subscribers.
type eventResult struct {
	Seq      int     `json:"seq,omitempty"`
	ID       uint64  `json:"id,omitempty"`
	Received uint64  `json:"received"`
	FirstMs  float64 `json:"first_ms"`
	P50Ms    float64 `json:"p50_ms"`
	P99Ms    float64 `json:"p99_ms"`
	LastMs   float64 `json:"last_ms"`
}

func newResult(cfg *config) *result {
	r := &result{
		Label: cfg.label, URL: cfg.url.String(), Channel: cfg.channel, StartedAt: time.Now().UTC(),
		Procs: cfg.procs, SrcAddrs: len(cfg.srcAddrs), Events: cfg.events, SizeBytes: cfg.size,
		Interval: cfg.interval.String(), Conns: cfg.conns, ConnectErrors: map[string]int{},
		Machine: thisMachine(),
	}
	if cfg.interval > 0 {
		r.RatePerS = float64(time.Second) / float64(cfg.interval)
	}
	return r
}

func (r *result) setConnect(procs []*workerProc, took time.Duration) {
	for _, p := range procs {
		r.Connected += p.status.Connected
		r.Failed += p.status.Failed
		for k, n := range p.status.Errors {
			r.ConnectErrors[k] += n
		}
		if r.FirstError == "" {
			r.FirstError = p.status.FirstError
		}
	}
	r.ConnectSeconds = took.Seconds()
	r.ConnectRate = float64(r.Connected) / took.Seconds()
}

// setServer takes the samples baseline, connected, CPU start and CPU end.
func (r *result) setServer(measured bool, samples []procSample) {
	r.ServerMeasured = measured
	if !measured {
		return
	}
	baseline, connected, cpuStart, cpuEnd := samples[0], samples[1], samples[2], samples[3]
	r.ServerProcs = connected.Procs
	for _, s := range samples {
		r.ServerProcsChanged = r.ServerProcsChanged || s.Procs != connected.Procs
	}
	r.BaselineRSSBytes, r.ConnectedRSSBytes = baseline.RSSBytes, connected.RSSBytes
	if r.Connected > 0 {
		r.RSSPerConnBytes = float64(connected.RSSBytes-baseline.RSSBytes) / float64(r.Connected)
	}
	r.CPUSource = "stat"
	if cpuStart.HaveSched && cpuEnd.HaveSched {
		r.CPUSource = "schedstat"
	}
	r.CPUSeconds = float64(cpuEnd.cpuNs()-cpuStart.cpuNs()) / 1e9
	r.CPUStatSeconds = float64(cpuEnd.CPUTicksNs-cpuStart.CPUTicksNs) / 1e9
}

// setDeliveries merges the workers' tallies and checks them against what
// was published.
func (r *result) setDeliveries(sends []published, reports []*workerReport) {
	all := latencyHist{}
	var rates, lasts, rtts []float64
	for _, s := range sends {
		rtts = append(rtts, ms(s.RTTNs))
	}
	if len(sends) > 1 {
		r.PublishedPerS = float64(len(sends)-1) / (float64(sends[len(sends)-1].SentNs-sends[0].SentNs) / 1e9)
	}
	if len(rtts) > 0 {
		r.PublishRTTP50Ms, r.PublishRTTMaxMs = medianOf(rtts), slices.Max(rtts)
	}
	for i, s := range sends {
		e := eventResult{Seq: s.Seq, ID: s.ID}
		h := latencyHist{}
		var minNs, maxNs int64
		for _, w := range reports {
			t := w.Events[i]
			if t.Received == 0 {
				continue
			}
			if e.Received == 0 || t.MinNs < minNs {
				minNs = t.MinNs
			}
			maxNs = max(maxNs, t.MaxNs)
			e.Received += t.Received
			h.merge(t.Hist)
			r.IDMismatch += t.IDMismatch
			if t.ID != s.ID {
				r.IDMismatch += t.Received - t.IDMismatch
			}
		}
		e.FirstMs, e.LastMs = ms(minNs), ms(maxNs)
		// Bucket midpoints can fall outside the exact extremes.
		e.P50Ms = min(max(ms(h.quantile(0.5)), e.FirstMs), e.LastMs)
		e.P99Ms = min(max(ms(h.quantile(0.99)), e.FirstMs), e.LastMs)
		r.PerEvent = append(r.PerEvent, e)
		all.merge(h)
		if e.Received > 0 && maxNs > 0 {
			rates = append(rates, float64(e.Received)/(float64(maxNs)/1e9))
			lasts = append(lasts, e.LastMs)
		}
		if e.Received > 0 && (r.All.Received == 0 || e.FirstMs < r.All.FirstMs) {
			r.All.FirstMs = e.FirstMs
		}
		r.All.LastMs = max(r.All.LastMs, e.LastMs)
		r.All.Received += e.Received
	}
	r.All.P50Ms = min(max(ms(all.quantile(0.5)), r.All.FirstMs), r.All.LastMs)
	r.All.P99Ms = min(max(ms(all.quantile(0.99)), r.All.FirstMs), r.All.LastMs)
	if len(rates) > 0 {
		r.DeliveriesPerSec = medianOf(rates)
		r.LastP50Ms = medianOf(lasts)
	}
	r.CloseReasons = map[string]int{}
	var clientCPUNs int64
	for _, w := range reports {
		clientCPUNs += w.CPUNs
		r.Delivered += w.Delivered
		r.Lost += w.Lost
		r.Duplicates += w.Duplicates
		r.OutOfOrder += w.OutOfOrder
		r.IDNotIncreasing += w.IDNotIncreasing
		r.Foreign += w.Foreign
		r.Malformed += w.Malformed
		r.ClosedDuringRun += w.ClosedDuringRun
		for k, n := range w.CloseReasons {
			r.CloseReasons[k] += n
		}
	}
	r.Expected = uint64(r.Events) * uint64(r.Connected)
	if r.Delivered > 0 {
		r.ClientCPUPerDeliveryUs = float64(clientCPUNs) / 1e3 / float64(r.Delivered)
	}
	if r.ServerMeasured && r.Delivered > 0 {
		r.CPUPerDeliveryUs = r.CPUSeconds * 1e6 / float64(r.Delivered)
		if r.Floor != nil && r.Floor.WriteUs > 0 {
			r.CPUPerDeliveryOverFloor = r.CPUPerDeliveryUs / r.Floor.WriteUs
		}
	}
}

// medianOf is the median of v, which it sorts; 0 for none.
func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// judge decides OK: every connection streamed and got every event once,
// in order, with the id the publisher was given.
func (r *result) judge() {
	check := func(n uint64, what string) {
		if n > 0 {
			r.Problems = append(r.Problems, fmt.Sprintf("%d %s", n, what))
		}
	}
	check(uint64(r.Failed), "connections failed")
	check(r.Lost, "deliveries lost")
	check(r.Duplicates, "deliveries duplicated")
	check(r.OutOfOrder, "deliveries out of order")
	check(r.IDNotIncreasing, "deliveries whose id did not increase")
	check(r.IDMismatch, "deliveries whose id differs from the published one")
	check(r.Malformed, "deliveries this tool could not read")
	check(uint64(r.ClosedDuringRun), "connections closed during the run")
	r.OK = len(r.Problems) == 0
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

func (r *result) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func (r *result) writeTable(w io.Writer) {
	label := r.Label
	if label == "" {
		label = r.URL
	}
	fmt.Fprintf(w, "ssedge-load: %s, %d conns over %d workers and %d source addresses, %d events of %d B to %q\n",
		label, r.Conns, r.Procs, r.SrcAddrs, r.Events, r.SizeBytes, r.Channel)
	fmt.Fprintf(w, "connect      %d streaming, %d failed in %.2f s: %.0f conns/s\n", r.Connected, r.Failed, r.ConnectSeconds, r.ConnectRate)
	for _, k := range slices.Sorted(maps.Keys(r.ConnectErrors)) {
		fmt.Fprintf(w, "             %d x %s\n", r.ConnectErrors[k], k)
	}
	if r.ServerMeasured {
		changed := ""
		if r.ServerProcsChanged {
			changed = " (the count changed during the run)"
		}
		fmt.Fprintf(w, "server       %d process(es) measured: the pid and its descendants%s\n", r.ServerProcs, changed)
		fmt.Fprintf(w, "server RSS   baseline %.1f MiB, connected %.1f MiB: %.2f KiB/conn\n",
			float64(r.BaselineRSSBytes)/(1<<20), float64(r.ConnectedRSSBytes)/(1<<20), r.RSSPerConnBytes/1024)
		if r.Idle != nil {
			fmt.Fprintf(w, "server idle  %.1f%% of one core over %.0f s with every stream open and nothing published", r.Idle.PercentOfCore, r.Idle.Seconds)
			if r.Idle.HeartbeatsPerS > 0 {
				fmt.Fprintf(w, ": %.0f heartbeats/s, %.1f µs each", r.Idle.HeartbeatsPerS, r.Idle.CPUPerHeartbeatUs)
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "server CPU   %.3f s in the publish phase (%s; stat says %.2f s): %.2f µs/delivery\n",
			r.CPUSeconds, r.CPUSource, r.CPUStatSeconds, r.CPUPerDeliveryUs)
	} else {
		fmt.Fprintf(w, "server       not measured (no --server-pid)\n")
	}
	fmt.Fprintf(w, "kernel       slab +%.0f B/conn (both ends on loopback: %.0f B per socket; socket caches alone %.0f B per socket), TCP buffers +%.0f B/conn; MemAvailable %.2f GiB connected\n",
		r.Kernel.SlabPerConnBytes, r.Kernel.SlabPerConnBytes/2, r.Kernel.SockSlabPerConnBytes/2, r.Kernel.SockMemPerConn, float64(r.Kernel.Connected.MemAvailable)/(1<<30))
	if f := r.Floor; f != nil {
		fmt.Fprintf(w, "kernel floor %.2f µs per %d-byte loopback write to a sleeping reader (%d connections, %d writes); one socket hot %.2f µs; null syscall %.2f µs\n",
			f.WriteUs, f.WriteBytes, f.Pairs, f.Writes, f.HotWriteUs, f.NullSyscallUs)
		if r.CPUPerDeliveryOverFloor > 0 {
			fmt.Fprintf(w, "             server CPU per delivery / floor: %.2f\n", r.CPUPerDeliveryOverFloor)
		}
	}
	fmt.Fprintf(w, "publish      %d events at %.4g/s asked, %.4g/s sent (pipelined); answered after p50 %.2f ms, max %.2f ms\n",
		len(r.PerEvent), r.RatePerS, r.PublishedPerS, r.PublishRTTP50Ms, r.PublishRTTMaxMs)
	fmt.Fprintf(w, "client CPU   %.2f µs/delivery (the workers, from connected to report)\n", r.ClientCPUPerDeliveryUs)
	fmt.Fprintf(w, "deliveries   %d of %d: %d lost, %d duplicated, %d out of order, %d id errors; %.0f deliveries/s fan-out\n",
		r.Delivered, r.Expected, r.Lost, r.Duplicates, r.OutOfOrder, r.IDNotIncreasing+r.IDMismatch, r.DeliveriesPerSec)
	if r.Foreign > 0 || r.Malformed > 0 || r.ClosedDuringRun > 0 {
		fmt.Fprintf(w, "             %d foreign events ignored, %d malformed, %d connections closed during the run\n",
			r.Foreign, r.Malformed, r.ClosedDuringRun)
	}
	fmt.Fprintf(w, "\n%5s  %18s  %9s  %9s  %9s  %9s  %9s\n", "event", "id", "received", "first ms", "p50 ms", "p99 ms", "last ms")
	row := func(name string, e eventResult) {
		id := ""
		if e.ID != 0 {
			id = fmt.Sprint(e.ID)
		}
		fmt.Fprintf(w, "%5s  %18s  %9d  %9.2f  %9.2f  %9.2f  %9.2f\n", name, id, e.Received, e.FirstMs, e.P50Ms, e.P99Ms, e.LastMs)
	}
	for _, e := range r.PerEvent {
		row(fmt.Sprint(e.Seq), e)
	}
	row("all", r.All)
	fmt.Fprintf(w, "last subscriber, median over events: %.2f ms\n", r.LastP50Ms)
	if r.Storm != nil {
		r.Storm.writeTable(w)
	}
	if r.OK {
		fmt.Fprintln(w, "\nresult: OK")
	} else {
		fmt.Fprintf(w, "\nresult: FAILED: %s\n", strings.Join(r.Problems, "; "))
	}
	if r.FirstError != "" {
		fmt.Fprintf(w, "first connection error: %s\n", r.FirstError)
	}
}
