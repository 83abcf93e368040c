//go:build !race

package poller_test

import (
	"runtime"
	"testing"
)

func TestURingSequenceNoSilentLoss(t *testing.T) {
	withURing(t)
	TestSequenceNoSilentLoss(t)
}

// Delivering through the ring allocates nothing per subscriber either.
func TestURingDeliverAllocs(t *testing.T) {
	withURing(t)
	runtime.LockOSThread() // the ring's only submitter
	defer runtime.UnlockOSThread()
	hub, d, peers := fanout(t, 200)
	if !d.OpenRing() {
		t.Fatal("io_uring refused")
	}
	defer d.CloseRing()
	data, ch, other := []byte("payload"), []byte("c"), []byte("d")
	step := func(channel []byte) func() {
		return func() {
			if _, err := hub.Publish(channel, nil, data); err != nil {
				t.Fatal(err)
			}
			d.Deliver()
			drain(peers)
		}
	}
	step(ch)()
	alone := testing.AllocsPerRun(200, step(other))
	withSubs := testing.AllocsPerRun(200, step(ch))
	if withSubs != alone {
		t.Fatalf("publish+deliver to 200 subscribers through io_uring: %v allocs; publish alone: %v", withSubs, alone)
	}
}

// BenchmarkFanoutURing is BenchmarkFanout with the pass's sends batched
// through io_uring.
func BenchmarkFanoutURing(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, n := range []int{100, 1000} {
		b.Run(itoa(n), func(b *testing.B) {
			hub, d, peers := fanout(b, n)
			if !d.OpenRing() {
				b.Skip("io_uring refused")
			}
			defer d.CloseRing()
			data := make([]byte, 100)
			for i := range data {
				data[i] = 'x'
			}
			ch := []byte("c")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				hub.Publish(ch, nil, data)
				d.Deliver()
				b.StopTimer()
				drain(peers)
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
		})
	}
}
