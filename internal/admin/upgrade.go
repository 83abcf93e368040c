package admin

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

var dUpgrades = desc("upgrades_total", "Binary upgrades (SIGUSR2) by result: ok (the new process took over; counted by it, carried over from the old one), failed (the new process exited, crashed or did not take over in time; the old one kept serving).", "result")

// Upgrades counts binary upgrades; safe for concurrent use. Register it
// as a collector.
type Upgrades struct {
	OK, Failed atomic.Uint64
}

// Describe is empty: the metric is unchecked, like the core collector's.
func (u *Upgrades) Describe(chan<- *prometheus.Desc) {}

// Collect reports both results.
func (u *Upgrades) Collect(ch chan<- prometheus.Metric) {
	counter(ch, dUpgrades, float64(u.OK.Load()), "ok")
	counter(ch, dUpgrades, float64(u.Failed.Load()), "failed")
}
