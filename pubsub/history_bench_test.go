package pubsub

import (
	"fmt"
	"runtime"
	"testing"
)

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkHistoryPerEvent reports the real heap cost of one retained
// event (frame plus index) next to its frame size: 100,000 events of 100
// bytes of data over 1,000 channels, all retained.
func BenchmarkHistoryPerEvent(b *testing.B) {
	const events, channels = 100000, 1000
	data := make([]byte, 100)
	for i := 0; i < b.N; i++ {
		before := heapInUse()
		h := NewHub(Config{RingSize: 1 << 10, History: HistoryConfig{PerChannel: events, MaxBytes: 1 << 40}})
		names := make([][]byte, channels)
		for c := range names {
			names[c] = []byte(fmt.Sprintf("channel-%d", c))
		}
		for e := 0; e < events; e++ {
			h.Publish(names[e%channels], nil, data)
		}
		after := heapInUse()
		st := h.HistoryStats()
		frame := len(h.ring.slots[0].ev.Frame)
		b.ReportMetric(float64(after-before)/float64(st.Events), "heap-bytes/event")
		b.ReportMetric(float64(frame), "frame-bytes")
		b.ReportMetric(float64(st.Bytes)/float64(st.Events), "accounted-bytes/event")
		h.Close()
		runtime.KeepAlive(h)
	}
}

// BenchmarkHistoryBudgetFlood publishes 64 MiB of events into a 16 MiB
// history budget and reports the heap the history holds afterwards: the
// budget, not the flood, bounds it.
func BenchmarkHistoryBudgetFlood(b *testing.B) {
	const budget = 16 << 20
	data := make([]byte, 1000)
	for i := 0; i < b.N; i++ {
		before := heapInUse()
		h := NewHub(Config{RingSize: 1 << 10, History: HistoryConfig{PerChannel: 1 << 20, MaxBytes: budget}})
		for e := 0; e < 64<<10; e++ {
			h.Publish([]byte(fmt.Sprintf("c%d", e%100)), nil, data)
		}
		after := heapInUse()
		st := h.HistoryStats()
		b.ReportMetric(float64(after-before)/(1<<20), "heap-MiB")
		b.ReportMetric(float64(st.Bytes)/(1<<20), "accounted-MiB")
		b.ReportMetric(float64(budget)/(1<<20), "budget-MiB")
		h.Close()
		runtime.KeepAlive(h)
	}
}
