package poller_test

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssedge/ssedge/poller"
)

// 2,000 subscribers across both loops each get every event once, in order.
func TestManySubscribers(t *testing.T) {
	const n, events = 2000, 20
	h := start(t, poller.Config{})
	subs := make([]*sub, n)
	for i := range subs {
		subs[i] = h.subscribe(fmt.Sprintf("/events?channel=all&channel=own%d", i))
	}
	waitFor(t, "all subscriptions", func() bool { return h.srv.Stats().Subscribers == n })
	ids := make([]uint64, events)
	for i := range ids {
		ids[i] = h.publish("all", "", fmt.Sprintf("event %d", i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, s := range subs {
		wg.Add(1)
		go func(i int, s *sub) {
			defer wg.Done()
			for k, id := range ids {
				f, err := s.nextEvent(20 * time.Second)
				if err != nil {
					errs <- fmt.Errorf("subscriber %d, event %d: %v", i, k, err)
					return
				}
				if f.id != id || f.data != fmt.Sprintf("event %d", k) {
					errs <- fmt.Errorf("subscriber %d got %+v, want id %d data %q", i, f, id, fmt.Sprintf("event %d", k))
					return
				}
			}
		}(i, s)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := h.srv.Stats(); st.Deliveries != n*events {
		t.Errorf("deliveries = %d, want %d", st.Deliveries, n*events)
	}
}

// A subscriber that stops reading is closed as a slow consumer; the loop
// does not freeze and the others keep receiving.
func TestSlowConsumerClosed(t *testing.T) {
	h := start(t, poller.Config{Loops: 1, MaxBacklogBytes: 64 << 10, MaxBacklogFrames: 100000})
	slow := h.subscribe("/events?channel=flood")
	if tc, ok := slow.c.(*net.TCPConn); ok {
		tc.SetReadBuffer(128 << 10) // above the loopback MSS, or TCP crawls on window probes
	}
	fast := h.subscribe("/events?channel=flood")
	waitFor(t, "subscriptions", func() bool { return h.srv.Stats().Subscribers == 2 })
	data := strings.Repeat("x", 4000)
	const events = 4000 // 16 MB: far more than the socket buffers plus the backlog bound
	read := make(chan int, events)
	done := make(chan error, 1)
	go func() {
		for i := 0; i < events; i++ {
			_, err := fast.nextEvent(10 * time.Second)
			if err != nil {
				done <- fmt.Errorf("fast subscriber at event %d: %v", i, err)
				return
			}
			read <- i
		}
		done <- nil
	}()
	// Publish at the pace of the fast reader (a window of 8 events, well
	// inside its backlog bound), so only the one that never reads falls
	// behind.
	caughtUp := -1
	for i := 0; i < events; i++ {
		for i-caughtUp > 8 {
			select {
			case caughtUp = <-read:
			case err := <-done:
				t.Fatal(err)
			}
		}
		if _, err := h.hub.Publish([]byte("flood"), nil, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "slow consumer closed", func() bool { return h.srv.Stats().SlowConsumers() == 1 })
	// The slow client sees the stream end once it drains what was sent.
	slow.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, slow.br); err != nil {
		t.Fatalf("slow subscriber: want EOF after close, got %v", err)
	}
	if st := h.srv.Stats(); st.Subscribers != 1 {
		t.Errorf("subscribers = %d, want 1", st.Subscribers)
	}
}

// A subscriber that stops reading shows in the backlog gauges once the
// kernel's buffers are full (the gauges follow each loop turn), and leaves
// them when it is closed.
func TestBacklogGauges(t *testing.T) {
	h := start(t, poller.Config{Loops: 1, Heartbeat: 200 * time.Millisecond, MaxBacklogBytes: 64 << 20, MaxBacklogFrames: 100000})
	stalled := h.subscribe("/events?channel=flood")
	waitFor(t, "the subscription", func() bool { return h.srv.Stats().Subscribers == 1 })
	data := strings.Repeat("x", 16000)
	for i := 0; i < 400; i++ { // 6.4 MB: more than the loopback socket buffers hold
		h.publish("flood", "", data)
	}
	waitFor(t, "one backlogged connection in the gauges", func() bool {
		st := h.srv.Stats()
		return st.Backlogged == 1 && st.BacklogBytes > 0
	})
	stalled.c.Close()
	waitFor(t, "the gauges back at 0 after the close", func() bool {
		st := h.srv.Stats()
		return st.Backlogged == 0 && st.BacklogBytes == 0
	})
}
