package tuning

import (
	"fmt"
	"time"

	"github.com/ssedge/ssedge/poller"
)

// The CPU model, from runs on the 2-core test VM (docs/BENCH.md, "1M
// streams"): what ssedge spends per heartbeat, per delivery of a
// broadcast, and per accepted connection. Memory is rarely what stops a
// box of idle streams; the heartbeat is (SYSCTL.md, "CPU").
const (
	// HeartbeatCPU is ssedge's CPU per heartbeat frame sent to an idle
	// stream, the kernel's loopback work charged to it included: server
	// CPU with nothing published / heartbeats per second. 11.4 µs at
	// 1,000,000 streams (30 s heartbeat, the wheel sending a step's
	// heartbeats as one io_uring batch; bench/scale.sh, docs/BENCH.md
	// "1M streams at the defaults"), where a million sockets no longer
	// fit the caches; 4.8-5.2 µs at 50,000-100,000 (bench/idle.sh). The
	// figure at scale is taken, rounded up: it is where the cores run out.
	// Without io_uring (SSEDGE_IO_URING=0, or a kernel that refuses it)
	// a heartbeat costs more: 18.4 µs at 1M, 6-8 µs at 30k-100k.
	HeartbeatCPU = 12 * time.Microsecond
	// DeliveryCPU is ssedge's CPU per delivery of one event to many
	// subscribers: 11.6 µs at 1,000,000 with io_uring sends (16.1 µs
	// with sendmsg), 9.9 to 11.1 µs at 200,000 (sendmsg), the client on
	// the same cores (bench/scale.sh); the figure at scale is taken.
	DeliveryCPU = 12 * time.Microsecond
	// ConnectCPU bounds ssedge's CPU per accepted stream (accept, request
	// parse, head write, joining the channel): 200,000 streams connected
	// in 13.3 s on two cores that also ran the client, at most 133 µs of
	// the box per connection for both ends; half of it is taken.
	ConnectCPU = 60 * time.Microsecond
	// DefaultHeartbeat is the interval assumed when the target gives
	// none: serve's own default.
	DefaultHeartbeat = poller.DefaultHeartbeat
	// cpuHeadroom is the share of the cores the idle cost may take
	// before a check warns: events, connects and the client need the rest.
	cpuHeadroom = 0.5
)

// CPU is the estimate for a Target: cores, not bytes.
type CPU struct {
	Cores          float64 `json:"cores"`            // usable: the CPUs Go may run on here (cgroup quota included)
	HeartbeatsPerS float64 `json:"heartbeats_per_s"` // Conns / heartbeat interval
	IdleCores      float64 `json:"idle_cores"`       // heartbeats x HeartbeatCPU
	FanoutSeconds  float64 `json:"fanout_seconds"`   // one event to every stream, spread over the loops
	ConnectSeconds float64 `json:"connect_seconds"`  // accepting every stream once (a reconnect storm), spread over the loops
}

func estimateCPU(t Target, cores int) CPU {
	hb := t.Heartbeat
	if hb <= 0 {
		hb = DefaultHeartbeat
	}
	n := float64(t.Conns)
	par := float64(min(cores, t.Procs*t.Loops))
	c := CPU{Cores: float64(cores), HeartbeatsPerS: n / hb.Seconds()}
	c.IdleCores = c.HeartbeatsPerS * HeartbeatCPU.Seconds()
	c.FanoutSeconds = n * DeliveryCPU.Seconds() / par
	c.ConnectSeconds = n * ConnectCPU.Seconds() / par
	return c
}

// cpu is the item that says when the box's cores, not its memory, stop
// the target: idle streams cost CPU for their heartbeats.
func (c *checker) cpu() Item {
	p := c.cpuEst
	hb := c.t.Heartbeat
	if hb <= 0 {
		hb = DefaultHeartbeat
	}
	why := fmt.Sprintf("idle streams cost CPU: %d streams / %s heartbeat = %.0f heartbeats/s x %s = %.2f core(s) with nothing published (%.0f%% of %g). One event to all takes about %.1f s of %d loop(s) (%s per delivery); accepting all of them again after a restart about %.0f s (%s each). Figures from this project's 2-core VM: docs/BENCH.md",
		c.t.Conns, hb, p.HeartbeatsPerS, HeartbeatCPU, p.IdleCores, 100*p.IdleCores/p.Cores, p.Cores, p.FanoutSeconds, min(int(p.Cores), c.t.Procs*c.t.Loops), DeliveryCPU, p.ConnectSeconds, ConnectCPU)
	it := Item{Name: "cpu", Current: fmt.Sprintf("%g core(s)", p.Cores), Needed: fmt.Sprintf("%.2f idle", p.IdleCores), Verdict: OK, Why: why}
	switch {
	case p.IdleCores >= 0.9*p.Cores:
		it.Verdict = Fail
		it.Fix = fmt.Sprintf("the cores cannot carry the heartbeats of %d streams: a longer heartbeat (--heartbeat %s would take %.2f cores; keep it under the proxies' read timeout, SYSCTL.md), more cores, or fewer streams per box",
			c.t.Conns, 4*hb, p.IdleCores/4)
	case p.IdleCores > cpuHeadroom*p.Cores:
		it.Verdict = Warn
		it.Fix = fmt.Sprintf("heartbeats alone take over half the cores, leaving little for events and connects: a longer heartbeat (--heartbeat %s: %.2f cores; keep it under the proxies' read timeout, SYSCTL.md) or more cores", 2*hb, p.IdleCores/2)
	}
	return it
}
