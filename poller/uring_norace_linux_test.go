//go:build !race

package poller_test

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ssedge/ssedge/poller"
)

func TestURingSequenceNoSilentLoss(t *testing.T) {
	withURing(t)
	TestSequenceNoSilentLoss(t)
}

func TestSendmsgSequenceNoSilentLoss(t *testing.T) {
	withoutURing(t)
	TestSequenceNoSilentLoss(t)
}

// Sends the kernel refuses to take from the ring (here: submitted from a
// thread that is not the ring's single issuer) are withdrawn and written
// with sendmsg: each subscriber still gets every frame once, in order.
func TestURingWithdrawn(t *testing.T) {
	withURing(t)
	hub, d, peers := fanout(t, 50)
	if !d.OpenRingElsewhere() {
		t.Skip("the kernel did not take IORING_SETUP_SINGLE_ISSUER: no way to make it refuse a submission")
	}
	defer d.CloseRing()
	_, _, before, _ := poller.URingCounts()
	var want []byte
	for k := range 3 {
		data := []byte(fmt.Sprintf("payload-%d", k))
		id, err := hub.Publish([]byte("c"), nil, data)
		if err != nil {
			t.Fatal(err)
		}
		want = fmt.Appendf(want, "id: %d\ndata: %s\n\n", id, data)
		if k != 1 {
			d.Deliver() // one pass of one frame, one of two: send and sendmsg
		}
	}
	if _, _, after, _ := poller.URingCounts(); after-before != 2*int64(len(peers)) {
		t.Errorf("%d sends withdrawn, want %d", after-before, 2*len(peers))
	}
	buf := make([]byte, 4096)
	for i, fd := range peers {
		n, err := unix.Read(fd, buf)
		if err != nil || !bytes.Equal(buf[:n], want) {
			t.Fatalf("peer %d read %q (%v), want %q", i, buf[:max(n, 0)], err, want)
		}
	}
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

// Heartbeats through the ring allocate nothing either: 300 streams, more
// than one batch of SQEs in a step.
func TestURingHeartbeatAllocs(t *testing.T) {
	withURing(t)
	runtime.LockOSThread() // the ring's only submitter
	defer runtime.UnlockOSThread()
	_, d, peers := fanout(t, 300)
	if !d.OpenRing() {
		t.Fatal("io_uring refused")
	}
	defer d.CloseRing()
	now := int64(0)
	step := func() {
		now += poller.DefaultHeartbeat.Milliseconds() * 2 // every stream due
		d.SetClock(now)
		d.Timers()
		drain(peers)
	}
	step()
	if a := testing.AllocsPerRun(50, step); a != 0 {
		t.Fatalf("heartbeats to 300 streams through io_uring: %v allocs, want 0", a)
	}
}

// BenchmarkHeartbeatWheelURing is BenchmarkHeartbeatWheel's "idle" case
// with the heartbeats of a step batched through io_uring.
func BenchmarkHeartbeatWheelURing(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const n = 2000
	_, d, peers := fanout(b, n)
	if !d.OpenRing() {
		b.Skip("io_uring refused")
	}
	defer d.CloseRing()
	stepMs := (poller.DefaultHeartbeat.Milliseconds() + poller.WheelSteps - 1) / poller.WheelSteps
	now := int64(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for t := 0; t <= poller.WheelSteps; t++ {
			b.StopTimer()
			drain(peers)
			now += stepMs
			d.SetClock(now)
			b.StartTimer()
			d.Timers()
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/conn-interval")
}
