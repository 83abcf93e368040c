package pubsub

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func pub(t testing.TB, h *Hub, ch, data string) uint64 {
	t.Helper()
	id, err := h.Publish([]byte(ch), nil, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// replayAll collects what a resuming reader gets for ch after id.
func replayAll(h *Hub, ch string, after uint64) (ids []uint64, gap uint64) {
	below := h.LastID() + 1
	r := h.HistoryAfter(ch, after, below)
	gap = r.Evicted
	for r.Next != nil {
		ids = append(ids, r.Next.ID)
		r = h.HistoryAfter(ch, r.Next.ID, below)
	}
	return ids, gap
}

func TestHistoryCountBound(t *testing.T) {
	h := NewHub(Config{History: HistoryConfig{PerChannel: 5}})
	defer h.Close()
	var ids []uint64
	for i := 0; i < 12; i++ {
		ids = append(ids, pub(t, h, "a", "x"))
		pub(t, h, "b", "y")
	}
	got, gap := replayAll(h, "a", ids[0])
	if fmt.Sprint(got) != fmt.Sprint(ids[7:]) {
		t.Fatalf("retained %v, want %v", got, ids[7:])
	}
	if gap != ids[6] {
		t.Fatalf("gap mark %d, want %d (the newest evicted)", gap, ids[6])
	}
	// Resuming from inside the retained range: no gap, exact tail.
	got, gap = replayAll(h, "a", ids[8])
	if gap != 0 || fmt.Sprint(got) != fmt.Sprint(ids[9:]) {
		t.Fatalf("from %d: %v gap %d", ids[8], got, gap)
	}
	if st := h.HistoryStats(); st.Events != 10 || st.Channels != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestHistoryByteBudget(t *testing.T) {
	frame := len("id: 1795000000000000\ndata: \n\n")
	const data = 1000
	budget := int64(10 * (data + frame + eventOverhead))
	h := NewHub(Config{History: HistoryConfig{MaxBytes: budget}})
	defer h.Close()
	var first uint64
	for i := 0; i < 100; i++ {
		id := pub(t, h, fmt.Sprintf("ch%d", i%7), strings.Repeat("x", data))
		if i == 0 {
			first = id
		}
		if st := h.HistoryStats(); st.Bytes > budget {
			t.Fatalf("after %d publishes: %d bytes retained, budget %d", i+1, st.Bytes, budget)
		}
	}
	st := h.HistoryStats()
	if st.Events < 8 || st.Events > 10 {
		t.Fatalf("retained %d events under a 10-event budget", st.Events)
	}
	// The oldest went first: channel ch0's first event is gone, with a gap.
	if _, gap := replayAll(h, "ch0", first-1); gap < first {
		t.Fatalf("no gap for an evicted event (mark %d)", gap)
	}
}

func TestHistoryAge(t *testing.T) {
	h := NewHub(Config{History: HistoryConfig{MaxAge: 50 * time.Millisecond}})
	defer h.Close()
	id := pub(t, h, "old", "x")
	// Lets real time pass: the event must age past MaxAge.
	time.Sleep(100 * time.Millisecond)
	pub(t, h, "new", "y") // publishing applies the age bound
	if got, gap := replayAll(h, "old", id-1); len(got) != 0 || gap < id {
		t.Fatalf("aged event still retained: %v gap %d", got, gap)
	}
	id2 := pub(t, h, "idle", "z")
	// The janitor applies it without publishes.
	waitUntil(t, "the janitor to expire the idle channel", func() bool {
		got, _ := replayAll(h, "idle", id2-1)
		return len(got) == 0
	})
}

// A resume from before this process started is a gap: the previous
// process's events are gone.
func TestHistoryRestartGap(t *testing.T) {
	h := NewHub(Config{})
	defer h.Close()
	old := h.Seed() - 5 // an id a previous process issued
	if _, gap := replayAll(h, "never-published", old); gap == 0 {
		t.Fatal("no gap for a resume from before the restart")
	}
	id := pub(t, h, "c", "x")
	got, gap := replayAll(h, "c", old)
	if gap == 0 || len(got) != 1 || got[0] != id {
		t.Fatalf("got %v gap %d", got, gap)
	}
	// A resume from this process's own ids has no gap.
	if _, gap := replayAll(h, "c", h.Seed()); gap != 0 {
		t.Fatalf("spurious gap %d", gap)
	}
}

// Readers run lock-free beside publishers and always see ids in order.
func TestHistoryConcurrentReaders(t *testing.T) {
	h := NewHub(Config{History: HistoryConfig{PerChannel: 64}})
	defer h.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ids, _ := replayAll(h, "c", h.Seed())
				for i := 1; i < len(ids); i++ {
					if ids[i] <= ids[i-1] {
						t.Errorf("out of order: %v", ids)
						return
					}
				}
			}
		}()
	}
	var pw sync.WaitGroup
	for p := 0; p < 3; p++ {
		pw.Add(1)
		go func() {
			defer pw.Done()
			for i := 0; i < 3000; i++ {
				pub(t, h, "c", "x")
			}
		}()
	}
	pw.Wait()
	close(stop)
	wg.Wait()
}
