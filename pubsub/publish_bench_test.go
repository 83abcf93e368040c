package pubsub

import (
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkPublish is the publish path as a publisher sees it: validate,
// format, claim under the history lock, retain, commit. One loop's cursor
// reads along (on its own goroutine) so the ring recycles as in a server.
func BenchmarkPublish(b *testing.B) {
	for _, bc := range []struct {
		name     string
		parallel bool
		rules    bool // per-channel history bounds set (one channel of the four has its own)
	}{{"serial", false, false}, {"parallel", true, false}, {"serial-rules", false, true}} {
		b.Run(bc.name, func(b *testing.B) {
			h := NewHub(Config{History: HistoryConfig{PerChannel: 100}})
			defer h.Close()
			if bc.rules {
				h.SetHistoryLimits(func(ch []byte) (int, time.Duration, bool) { return 50, 0, string(ch) == "a" })
			}
			var stop atomic.Bool
			c := h.Subscribe(func() {})
			done := make(chan struct{})
			go func() { // a loop: reads and releases slots until told to stop
				defer close(done)
				for !stop.Load() {
					for ev := c.Next(); ev != nil; ev = c.Next() {
					}
					c.Commit()
				}
			}()
			channels := [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("d")}
			data := []byte(`{"price":101.25,"symbol":"ACME"}`)
			b.ReportAllocs()
			b.ResetTimer()
			if bc.parallel {
				var n atomic.Uint64
				b.RunParallel(func(pb *testing.PB) {
					ch := channels[n.Add(1)%4]
					for pb.Next() {
						if _, err := h.Publish(ch, nil, data); err != nil {
							b.Error(err)
							return
						}
					}
				})
			} else {
				for i := 0; i < b.N; i++ {
					if _, err := h.Publish(channels[i%4], nil, data); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			stop.Store(true)
			<-done
		})
	}
}
