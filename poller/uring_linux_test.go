package poller_test

import (
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssedge/ssedge/poller"
)

// withURing makes the servers this test starts send through io_uring, or
// skips the test where the kernel refuses io_uring (the other tests cover
// send/sendmsg, the fallback).
func withURing(t *testing.T) {
	t.Helper()
	runtime.LockOSThread()
	ok := poller.URingWorks()
	runtime.UnlockOSThread()
	if !ok {
		t.Skip("io_uring is not available here (ENOSYS, EPERM or kernel.io_uring_disabled)")
	}
	old := poller.UseIOURing
	poller.UseIOURing = true
	t.Cleanup(func() { poller.UseIOURing = old })
}

// withoutURing makes the servers this test starts write with
// send/sendmsg, the fallback where io_uring is refused.
func withoutURing(t *testing.T) {
	old := poller.UseIOURing
	poller.UseIOURing = false
	t.Cleanup(func() { poller.UseIOURing = old })
}

// uringOpened waits until n loops have their rings open.
func uringOpened(t *testing.T, n int64) {
	t.Helper()
	waitFor(t, "io_uring rings open", func() bool { open, _, _, _ := poller.URingCounts(); return open >= n })
}

func TestURingManySubscribers(t *testing.T) {
	withURing(t)
	_, _, withdrawn, _ := poller.URingCounts()
	TestManySubscribers(t)
	if _, _, w, _ := poller.URingCounts(); w != withdrawn {
		t.Errorf("%d sends withdrawn from the ring; want every one taken", w-withdrawn)
	}
}

func TestURingSlowConsumerClosed(t *testing.T) {
	withURing(t)
	TestSlowConsumerClosed(t)
}

func TestSendmsgManySubscribers(t *testing.T) {
	withoutURing(t)
	TestManySubscribers(t)
}

func TestSendmsgSlowConsumerClosed(t *testing.T) {
	withoutURing(t)
	TestSlowConsumerClosed(t)
}

func TestSendmsgShortWrites(t *testing.T) {
	withoutURing(t)
	shortWrites(t, false)
}

// Through io_uring, subscribers whose sockets take only part of what a
// pass sends them (a burst of frames up to 30 kB against readers that
// pause) get every event once, in order: short sends and EAGAIN go to the
// backlog as they do with sendmsg.
func TestURingShortWrites(t *testing.T) {
	withURing(t)
	shortWrites(t, true)
}

// shortWrites is TestURingShortWrites, through the ring or not.
func shortWrites(t *testing.T, ring bool) {
	h := start(t, poller.Config{Loops: 1, MaxBacklogBytes: 256 << 20, MaxBacklogFrames: 1 << 20})
	if ring {
		uringOpened(t, 1)
	}
	_, _, withdrawn, short := poller.URingCounts()
	const n, events = 16, 600
	subs := make([]*sub, n)
	for i := range subs {
		subs[i] = h.subscribe("/events?channel=burst")
		if tc, ok := subs[i].c.(*net.TCPConn); ok {
			tc.SetReadBuffer(128 << 10)
		}
	}
	waitFor(t, "subscriptions", func() bool { return h.srv.Stats().Subscribers == n })
	payload := func(k int) string { return strings.Repeat(string(rune('a'+k%26)), 1+(k*7919)%30000) }
	ids := make([]uint64, events)
	got := make([][]uint64, n) // ids as each subscriber saw them
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := make(chan struct{})
	for i, s := range subs {
		wg.Add(1)
		go func(i int, s *sub) {
			defer wg.Done()
			<-start
			for k := 0; k < events; k++ {
				if k%50 == i%50 {
					time.Sleep(20 * time.Millisecond) // let the socket fill: short sends, EAGAIN
				}
				f, err := s.nextEvent(30 * time.Second)
				if err != nil {
					errs <- fmt.Errorf("subscriber %d, event %d: %v", i, k, err)
					return
				}
				if f.data != payload(k) {
					errs <- fmt.Errorf("subscriber %d, event %d (id %d): got %d bytes %.1q..., want %d bytes %.1q...", i, k, f.id, len(f.data), f.data, len(payload(k)), payload(k))
					return
				}
				got[i] = append(got[i], f.id)
			}
		}(i, s)
	}
	for k := range ids {
		id, err := h.hub.Publish([]byte("burst"), nil, []byte(payload(k)))
		if err != nil {
			t.Fatal(err)
		}
		ids[k] = id
		if k == 40 {
			close(start) // readers begin while the burst is still coming
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range got {
		for k := range got[i] {
			if got[i][k] != ids[k] {
				t.Fatalf("subscriber %d, event %d: id %d, want %d", i, k, got[i][k], ids[k])
			}
		}
	}
	st := h.srv.Stats()
	if st.Deliveries != n*events || st.SlowConsumers() != 0 {
		t.Errorf("deliveries %d, slow consumers %d; want %d, 0", st.Deliveries, st.SlowConsumers(), n*events)
	}
	if !ring {
		return
	}
	_, _, w, sh := poller.URingCounts()
	if w != withdrawn {
		t.Errorf("%d sends withdrawn from the ring; want every one taken", w-withdrawn)
	}
	if sh == short {
		t.Error("no send through the ring was short: the test did not test what it is for")
	}
	t.Logf("%d short sends through the ring", sh-short)
}
