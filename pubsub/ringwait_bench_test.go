//go:build linux

package pubsub

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// BenchmarkFullRingWaiters measures what publishers cost while they wait
// for room on a full ring that no loop drains: the process's CPU time per
// second of wall time (cpu-ms/s), for 1 and 200 waiting publishers. The
// loops that would make the room share those cores.
func BenchmarkFullRingWaiters(b *testing.B) {
	for _, n := range []int{1, 200} {
		b.Run(fmt.Sprintf("waiters=%d", n), func(b *testing.B) {
			h := NewHub(Config{RingSize: 4})
			c := h.Subscribe(func() {})
			for i := 0; i < 4; i++ {
				if _, err := h.Publish([]byte("c"), nil, []byte("x")); err != nil {
					b.Fatal(err)
				}
			}
			for i := 0; i < n; i++ {
				go h.Publish([]byte("c"), nil, []byte("late"))
			}
			for h.ring.waiting.Load() < int32(n) {
				time.Sleep(time.Millisecond) // poll interval while the waiters arrive
			}
			b.ResetTimer()
			cpu0, wall0 := cpuTime(b), time.Now()
			for i := 0; i < b.N; i++ {
				time.Sleep(time.Millisecond) // the waiters run meanwhile: what they cost is the measure
			}
			cpu, wall := cpuTime(b)-cpu0, time.Since(wall0)
			b.StopTimer()
			b.ReportMetric(float64(cpu.Milliseconds())/wall.Seconds(), "cpu-ms/s")
			h.Close() // the waiters fail with ErrClosed and end
			h.Unsubscribe(c)
		})
	}
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
