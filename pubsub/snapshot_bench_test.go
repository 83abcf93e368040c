package pubsub

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// snapshotHub is a hub holding channels x perChannel events of 100 bytes.
func snapshotHub(b *testing.B, channels, perChannel int) *Hub {
	h := NewHub(Config{RingSize: 1 << 10, History: HistoryConfig{PerChannel: perChannel, MaxBytes: 1 << 40}})
	names := make([][]byte, channels)
	for c := range names {
		names[c] = []byte(fmt.Sprintf("channel-%d", c))
	}
	data := bytes.Repeat([]byte("x"), 100)
	for e := 0; e < channels*perChannel; e++ {
		if _, err := h.Publish(names[e%channels], nil, data); err != nil {
			b.Fatal(err)
		}
	}
	return h
}

// BenchmarkSnapshotWriteLoad is a restarted worker's start: write a
// history of 1,000 channels x 100 events (100-byte data), read it back and
// load it into a fresh hub.
func BenchmarkSnapshotWriteLoad(b *testing.B) {
	h := snapshotHub(b, 1000, 100)
	defer h.Close()
	var buf bytes.Buffer
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf.Reset()
		if _, err := h.WriteSnapshot(&buf); err != nil {
			b.Fatal(err)
		}
		s, err := ReadSnapshot(&buf, testSnapshotLimit)
		if err != nil {
			b.Fatal(err)
		}
		r := NewHub(Config{Seed: s.LastID(), History: HistoryConfig{PerChannel: 100, MaxBytes: 1 << 40}})
		if err := r.LoadSnapshot(s); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
	b.ReportMetric(float64(buf.Cap())/1e6, "MB-snapshot")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100000, "ns/event")
}

// BenchmarkSnapshotLockHeld is how long taking a snapshot holds the
// history lock (the publishers' lock): the copy of the event pointers
// and marks, for 100,000 and for 1,000,000 retained events. Writing
// happens after, outside the lock.
func BenchmarkSnapshotLockHeld(b *testing.B) {
	for _, n := range []struct{ channels, per int }{{1000, 100}, {10000, 100}} {
		b.Run(fmt.Sprintf("events=%d", n.channels*n.per), func(b *testing.B) {
			h := snapshotHub(b, n.channels, n.per)
			defer h.Close()
			b.ReportAllocs()
			b.ResetTimer()
			var worst time.Duration
			for i := 0; i < b.N; i++ {
				start := time.Now()
				h.Snapshot()
				worst = max(worst, time.Since(start))
			}
			b.ReportMetric(float64(worst.Microseconds()), "µs-worst")
		})
	}
}
