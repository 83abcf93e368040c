package tuning

import (
	"fmt"
	"runtime"
	"time"
)

// Defaults for Target fields left zero.
const (
	DefaultEventRate  = 1.0 // events per second each connection receives
	DefaultEventBytes = 512 // event data bytes
)

// Target is what the box must hold.
type Target struct {
	Conns      int     `json:"conns"`       // subscriber connections, all ssedge processes together
	Procs      int     `json:"procs"`       // ssedge processes sharing them (serve --procs); default 1
	Loops      int     `json:"loops"`       // event loops per process (one listener each); default: the CPUs divided among Procs
	EventRate  float64 `json:"event_rate"`  // events per second each connection receives, on average
	EventBytes int     `json:"event_bytes"` // data bytes per event
	// Heartbeat is serve --heartbeat: idle streams get a frame this often
	// (0: DefaultHeartbeat). It sets the idle CPU (cpu.go).
	Heartbeat time.Duration `json:"heartbeat_ns"`
}

func (t *Target) setDefaults() {
	if t.Procs <= 0 {
		t.Procs = 1
	}
	if t.Loops <= 0 {
		t.Loops = max(1, runtime.NumCPU()/t.Procs) // as serve --loops 0
	}
	if t.EventRate <= 0 {
		t.EventRate = DefaultEventRate
	}
	if t.EventBytes <= 0 {
		t.EventBytes = DefaultEventBytes
	}
	if t.Heartbeat <= 0 {
		t.Heartbeat = DefaultHeartbeat
	}
}

func (t Target) validate() error {
	switch {
	case t.Conns < 1 || t.Conns > 100_000_000:
		return fmt.Errorf("%w: conns %d: expected 1 to 100000000", ErrBadTarget, t.Conns)
	case t.Procs > t.Conns:
		return fmt.Errorf("%w: procs %d for %d connections: expected at most one process per connection", ErrBadTarget, t.Procs, t.Conns)
	case t.EventRate > 1e6:
		return fmt.Errorf("%w: event rate %g: expected at most 1000000 per second", ErrBadTarget, t.EventRate)
	case t.EventBytes > 64<<20:
		return fmt.Errorf("%w: event bytes %d: expected at most 64 MiB", ErrBadTarget, t.EventBytes)
	}
	return nil
}

// perProcess is the connections one ssedge process holds.
func (t Target) perProcess() int64 { return ceilDiv(int64(t.Conns), int64(t.Procs)) }

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }
