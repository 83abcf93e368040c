package pubsub

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A worker that attaches while events flow starts with the supervisor's
// history up to the relay's position and takes the stream from the next
// id: once the publishers stop, every resume on it, from any id since the
// supervisor started, answers as on the supervisor (no hole, no
// duplicate at the seam), and its restart boundary is the supervisor's.
func TestRelayWorkerStartsWarm(t *testing.T) {
	cfg := Config{History: HistoryConfig{PerChannel: 50}}
	parent := NewHub(cfg)
	defer parent.Close()
	var relayed atomic.Uint64 // the highest id the relay has read
	relay := NewRelay(parent, 5*time.Second, relayed.Store)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go relay.Run(ctx)
	from := parent.LastID() + 1
	channels := []string{"a", "b", "c", "d", "e"}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := parent.Publish([]byte(channels[(g+i)%len(channels)]), nil, []byte(fmt.Sprintf("g%d-%d", g, i))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	// Attach while the publishers run (how far they got is up to the
	// scheduler; either way the seam must be exact).
	// The relay, not only the hub, must be past them: the seam is where
	// the relay's cursor is when it starts the worker.
	waitUntil(t, "the first events", func() bool { return relayed.Load() >= from+99 })
	p, w := socketPair(t)
	relay.Attach(p, func(err error) { t.Errorf("worker dropped: %v", err) })
	f := followWith(t, w, cfg)
	// Publishing goes on across the seam until the worker has some.
	f.drain(t, 300)
	close(stop)
	wg.Wait()
	last := parent.LastID()
	f.drain(t, int(last-f.seed)-300)
	if f.seed < from+99 {
		t.Fatalf("the worker's snapshot ends at %d, before the 100th event %d", f.seed, from+99)
	}
	sameResumes(t, parent, f.hub, channels, from, last)
}
