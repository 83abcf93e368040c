package tuning

import (
	"fmt"
	"strings"
)

// Verdict says whether a setting lets the box hold the target.
type Verdict string

const (
	// OK: the setting is enough as it is.
	OK Verdict = "ok"
	// Warn: ssedge still holds the target, but worse than it could (SYNs
	// dropped in a reconnect storm, buffers shrunk under memory pressure,
	// dead peers held longer); the plan raises it.
	Warn Verdict = "warn"
	// Fail: the box cannot hold the target until this is changed (no
	// descriptors, no memory, conntrack drops packets, TCP refuses memory).
	Fail Verdict = "fail"
	// Unknown: the value could not be read (the reason is in Current).
	Unknown Verdict = "unknown"
)

// FDReserve is the descriptors an ssedge process needs besides its
// subscribers: per loop an epoll, an eventfd and a listener per address,
// the publish socket and its publishers, log files. 256 covers them with
// room.
const FDReserve = 256

// Item is one line of a check: a setting, what it is, what the target
// needs, and why.
type Item struct {
	Name    string  `json:"name"`          // sysctl key, or RLIMIT_NOFILE, or memory
	Current string  `json:"current"`       // as read (sysctl keys: as `sysctl -n` prints them)
	Needed  string  `json:"needed"`        // what the target needs
	Verdict Verdict `json:"verdict"`       // see the Verdict constants
	Why     string  `json:"why"`           // what the setting does and where the number comes from
	Fix     string  `json:"fix,omitempty"` // what to do when the verdict is not ok
	Set     string  `json:"set,omitempty"` // sysctl value the plan writes; empty: leave it as it is
	sysctl  bool
}

// Sysctl reports whether the item is a sysctl that Plan and Apply write.
func (it Item) Sysctl() bool { return it.sysctl }

// Report is the outcome of Check.
type Report struct {
	Target   Target `json:"target"`
	CPUs     int    `json:"cpus"`
	MemTotal int64  `json:"mem_total_bytes"`
	Memory   Memory `json:"memory"`
	CPU      CPU    `json:"cpu"`
	Items    []Item `json:"items"`
	Holds    bool   `json:"holds"` // no item failed: the box can hold the target
}

// Failed returns the items whose verdict is Fail.
func (r Report) Failed() []Item { return r.with(Fail) }

func (r Report) with(v Verdict) []Item {
	var out []Item
	for _, it := range r.Items {
		if it.Verdict == v {
			out = append(out, it)
		}
	}
	return out
}

// Changes returns the sysctl items the plan writes.
func (r Report) Changes() []Item {
	var out []Item
	for _, it := range r.Items {
		if it.sysctl && it.Set != "" {
			out = append(out, it)
		}
	}
	return out
}

// Check computes, for the target, every setting's verdict on the system
// described by s. It reads nothing itself: ReadSystem does.
func Check(s System, t Target) (Report, error) {
	t.setDefaults()
	if err := t.validate(); err != nil {
		return Report{}, err
	}
	if s.PageSize <= 0 {
		s.PageSize = 4096
	}
	if s.CPUs <= 0 {
		s.CPUs = 1
	}
	c := &checker{s: &s, t: t, m: estimateMemory(t, s.PageSize), cpuEst: estimateCPU(t, s.CPUs)}
	r := Report{Target: t, CPUs: s.CPUs, MemTotal: s.MemTotal, Memory: c.m, CPU: c.cpuEst}
	for _, f := range itemFuncs {
		r.Items = append(r.Items, f(c))
	}
	r.Holds = len(r.Failed()) == 0
	return r, nil
}

// checker carries the inputs of the item functions.
type checker struct {
	s      *System
	t      Target
	m      Memory
	cpuEst CPU
}

// unknown is the item for a value that could not be read.
func unknown(name string, err error, why string) Item {
	return Item{Name: name, Current: "unreadable: " + err.Error(), Needed: "-", Verdict: Unknown, Why: why,
		Fix: "make " + name + " readable (a container may hide /proc/sys), or check it on the host"}
}

// atLeast builds the item for a one-integer sysctl that needs at least
// need, failing below hard (0: never fails).
func (c *checker) atLeast(key string, hard, need int64, why, fix string) Item {
	need = max(need, hard)
	cur, err := c.s.int1(key)
	if err != nil {
		return unknown(key, err, why)
	}
	raw, _ := c.s.raw(key)
	it := Item{Name: key, Current: raw, Needed: fmt.Sprintf(">= %d", need), Verdict: OK, Why: why, sysctl: true}
	switch {
	case cur < hard:
		it.Verdict = Fail
	case cur < need:
		it.Verdict = Warn
	}
	if it.Verdict != OK {
		it.Set = fmt.Sprint(need)
		it.Fix = fmt.Sprintf("sysctl -w %s=%d", key, need) + fix
	}
	return it
}

// atMost builds the item for a one-integer sysctl that should not exceed
// limit (a Warn above it).
func (c *checker) atMost(key string, limit int64, why string) Item {
	cur, err := c.s.int1(key)
	if err != nil {
		return unknown(key, err, why)
	}
	raw, _ := c.s.raw(key)
	it := Item{Name: key, Current: raw, Needed: fmt.Sprintf("<= %d", limit), Verdict: OK, Why: why, sysctl: true}
	if cur > limit {
		it.Verdict, it.Set, it.Fix = Warn, fmt.Sprint(limit), fmt.Sprintf("sysctl -w %s=%d", key, limit)
	}
	return it
}

func joinInts(v []int64) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, " ")
}

// gib formats bytes as GiB or MiB for the why texts.
func gib(b int64) string {
	if b >= 1<<30 {
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}
