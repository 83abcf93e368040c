//go:build !race

package poller_test

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ssedge/ssedge/poller"
	"github.com/ssedge/ssedge/pubsub"
)

// fanout sets up n subscribers of channel "c" on one hand-driven loop and
// returns the peers' descriptors (the "clients").
func fanout(tb testing.TB, n int) (*pubsub.Hub, *poller.Driver, []int) {
	tb.Helper()
	hub := pubsub.NewHub(pubsub.Config{RingSize: 1 << 16})
	srv, err := poller.New(poller.Config{Hub: hub, Loops: 1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Close() })
	d := srv.Drive(0)
	peers := make([]int, n)
	for i := range peers {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			tb.Fatal(err)
		}
		unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_SNDBUF, 1<<20)
		d.Subscribe(fds[0], "channel=c")
		peers[i] = fds[1]
		// The loop never runs (no Start), so Close does not close the
		// connections it adopted: close both ends here.
		tb.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	}
	drain(peers)
	return hub, d, peers
}

var drainBuf = make([]byte, 64<<10)

func drain(peers []int) {
	for _, fd := range peers {
		for {
			if n, err := unix.Read(fd, drainBuf); n <= 0 || err != nil {
				break
			}
		}
	}
}

// onRing makes d send through io_uring until the test ends. The caller
// stays on its thread (runtime.LockOSThread): the ring's only submitter.
// A benchmark skips where the kernel refuses the ring; a test, which
// checked that io_uring works first (withURing), fails.
func onRing(tb testing.TB, d *poller.Driver) {
	tb.Helper()
	if !d.OpenRing() {
		if _, bench := tb.(*testing.B); bench {
			tb.Skip("io_uring refused")
		}
		tb.Fatal("io_uring refused")
	}
	tb.Cleanup(d.CloseRing)
}

// through names the send path in a failure message.
func through(ring bool) string {
	if ring {
		return " through io_uring"
	}
	return ""
}

// Delivering an event allocates nothing per subscriber: publishing plus
// delivering to 200 subscribers allocates what publishing alone does.
func TestDeliverAllocs(t *testing.T) { checkDeliverAllocs(t, false) }

func checkDeliverAllocs(t *testing.T, ring bool) {
	hub, d, peers := fanout(t, 200)
	if ring {
		onRing(t, d)
	}
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
	step(ch)() // grow the loop's scratch slices once
	alone := testing.AllocsPerRun(200, step(other))
	withSubs := testing.AllocsPerRun(200, step(ch))
	if withSubs != alone {
		t.Fatalf("publish+deliver to 200 subscribers%s: %v allocs; publish alone: %v", through(ring), withSubs, alone)
	}
}

// BenchmarkFanout reports the loop's cost per delivery: one event to n
// subscribers, each a socket, one writev each.
func BenchmarkFanout(b *testing.B) { benchFanout(b, false) }

func benchFanout(b *testing.B, ring bool) {
	for _, n := range []int{100, 1000} {
		b.Run(itoa(n), func(b *testing.B) {
			if ring {
				runtime.LockOSThread() // this goroutine's: b.Run runs each in its own
				defer runtime.UnlockOSThread()
			}
			hub, d, peers := fanout(b, n)
			if ring {
				onRing(b, d)
			}
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

func itoa(n int) string {
	s := ""
	for {
		s = string(rune('0'+n%10)) + s
		if n /= 10; n == 0 {
			return s
		}
	}
}

// A heartbeat step allocates nothing: the wheel's lists live in the
// connection table, and the frame is shared.
func TestHeartbeatAllocs(t *testing.T) { checkHeartbeatAllocs(t, 200, false) }

func checkHeartbeatAllocs(t *testing.T, n int, ring bool) {
	_, d, peers := fanout(t, n)
	if ring {
		onRing(t, d)
	}
	now := int64(0)
	step := func() {
		now += poller.DefaultHeartbeat.Milliseconds() * 2 // every stream due
		d.SetClock(now)
		d.Timers()
		drain(peers)
	}
	step()
	if a := testing.AllocsPerRun(50, step); a != 0 {
		t.Fatalf("heartbeats to %d streams%s: %v allocs, want 0", n, through(ring), a)
	}
}

// BenchmarkHeartbeatWheel reports the wheel's cost per connection per
// interval: "idle" streams each get a heartbeat (one send each, the
// kernel's work included); "busy" ones were written by an event since
// their last visit and are only filed again (the bookkeeping alone, which
// a sweep paid four times per interval for every connection).
func BenchmarkHeartbeatWheel(b *testing.B) {
	for _, busy := range []bool{false, true} {
		name := "idle"
		if busy {
			name = "busy"
		}
		b.Run(name, func(b *testing.B) { benchWheel(b, busy, false) })
	}
}

func benchWheel(b *testing.B, busy, ring bool) {
	const n = 2000
	hub, d, peers := fanout(b, n)
	if ring {
		onRing(b, d)
	}
	stepMs := (poller.DefaultHeartbeat.Milliseconds() + poller.WheelSteps - 1) / poller.WheelSteps
	now := int64(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// One interval and a step: each stream is visited once.
		for t := 0; t <= poller.WheelSteps; t++ {
			b.StopTimer()
			if busy { // written since its last visit: never due
				hub.Publish([]byte("c"), nil, []byte("x"))
				d.Deliver()
			}
			drain(peers)
			now += stepMs
			d.SetClock(now)
			b.StartTimer()
			d.Timers()
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/conn-interval")
}
