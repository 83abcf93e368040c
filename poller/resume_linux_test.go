package poller_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ssedge/ssedge/poller"
	"github.com/ssedge/ssedge/pubsub"
)

type gapData struct {
	Channel          string `json:"channel"`
	LastEventID      uint64 `json:"lastEventId"`
	FirstAvailableID uint64 `json:"firstAvailableId"`
	Reason           string `json:"reason"`
}

func parseGap(t *testing.T, f frame) gapData {
	t.Helper()
	if f.event != "ssedge.gap" {
		t.Fatalf("got %+v, want an ssedge.gap event", f)
	}
	var g gapData
	if err := json.Unmarshal([]byte(f.data), &g); err != nil {
		t.Fatalf("gap data %q: %v", f.data, err)
	}
	return g
}

// Reconnecting with Last-Event-ID replays exactly what was missed, across
// channels in id order, then continues live without a duplicate.
func TestResumeExact(t *testing.T) {
	h := start(t, poller.Config{})
	var ids []uint64
	for i := 0; i < 6; i++ {
		ids = append(ids, h.publish([]string{"a", "b", "c"}[i%3], "", fmt.Sprint(i)))
	}
	for _, hdr := range []string{fmt.Sprintf("Last-Event-ID: %d", ids[1]), ""} {
		target := "/events?channel=a&channel=b"
		if hdr == "" {
			target += fmt.Sprintf("&lastEventId=%d", ids[1])
		}
		s := h.subscribe(target, hdr)
		// ids[2] is channel c: not ours. a and b after ids[1]: 3, 4.
		for _, want := range []uint64{ids[3], ids[4]} {
			if f := s.event(t); f.id != want {
				t.Fatalf("%q: replay got %+v, want id %d", hdr, f, want)
			}
		}
	}
	// Live continues after the replay.
	s := h.subscribe("/events?channel=a", fmt.Sprintf("Last-Event-ID: %d", ids[5]))
	waitFor(t, "the resumed stream to go live", func() bool { st := h.srv.Stats(); return st.Subscribers == 3 && st.Replaying == 0 })
	live := h.publish("a", "", "live")
	if f := s.event(t); f.id != live {
		t.Fatalf("live after replay: %+v, want %d", f, live)
	}
}

// The header wins over the query parameter (an EventSource reconnecting
// keeps its URL but sends a newer header).
func TestResumeHeaderWins(t *testing.T) {
	h := start(t, poller.Config{})
	a := h.publish("a", "", "1")
	b := h.publish("a", "", "2")
	s := h.subscribe(fmt.Sprintf("/events?channel=a&lastEventId=%d", a-1), fmt.Sprintf("Last-Event-ID: %d", a))
	if f := s.event(t); f.id != b {
		t.Fatalf("got %+v, want %d", f, b)
	}
}

// Events evicted from history: the stream says so with ssedge.gap first.
func TestResumeGap(t *testing.T) {
	h := startHub(t, poller.Config{}, pubsub.Config{History: pubsub.HistoryConfig{PerChannel: 3}})
	var ids []uint64
	for i := 0; i < 10; i++ {
		ids = append(ids, h.publish("a", "", fmt.Sprint(i)))
	}
	s := h.subscribe("/events?channel=a", fmt.Sprintf("Last-Event-ID: %d", ids[0]))
	g := parseGap(t, s.event(t))
	if g != (gapData{"a", ids[0], ids[7], "evicted"}) {
		t.Fatalf("gap %+v", g)
	}
	for _, want := range ids[7:] {
		if f := s.event(t); f.id != want {
			t.Fatalf("after the gap got %+v, want %d", f, want)
		}
	}
	if st := h.srv.Stats(); st.Gaps != 1 {
		t.Fatalf("gaps counted %d", st.Gaps)
	}
}

// An id from before this server started, an id from the future, and a
// malformed id each get a clear answer.
func TestResumeOddIDs(t *testing.T) {
	h := start(t, poller.Config{})
	id := h.publish("a", "", "x")
	s := h.subscribe("/events?channel=a", fmt.Sprintf("Last-Event-ID: %d", h.hub.Seed()-100))
	if g := parseGap(t, s.event(t)); g.Reason != "restart" || g.FirstAvailableID != id {
		t.Fatalf("restart gap %+v", g)
	}
	if f := s.event(t); f.id != id {
		t.Fatalf("after the restart gap: %+v", f)
	}
	s = h.subscribe("/events?channel=a", fmt.Sprintf("Last-Event-ID: %d", id+1_000_000))
	if g := parseGap(t, s.event(t)); g.Reason != "future" {
		t.Fatalf("future gap %+v", g)
	}
	// Each gap is counted once, under its reason (the client read it, so
	// it was counted before).
	if st := h.srv.Stats(); st.GapsByReason[poller.GapRestart] != 1 || st.GapsByReason[poller.GapFuture] != 1 ||
		st.GapsByReason[poller.GapEvicted] != 0 || st.Gaps != 2 {
		t.Errorf("gaps by reason %v (total %d), want restart 1, future 1", st.GapsByReason, st.Gaps)
	}
	for _, bad := range []string{"abc", "-1", "9007199254740993", "1.5"} {
		got := h.rawRequest("GET /events?channel=a HTTP/1.1\r\nHost: x\r\nLast-Event-ID: " + bad + "\r\n\r\n")
		if !strings.HasPrefix(got, "HTTP/1.1 400 ") || !strings.Contains(got, "Last-Event-ID") {
			t.Errorf("Last-Event-ID %q: %q", bad, got)
		}
	}
}

// Events published while a long replay is being paced out arrive once, in
// order: no hole and no duplicate at the seam between replay and live.
func TestResumeSeam(t *testing.T) {
	h := startHub(t, poller.Config{MaxBacklogFrames: 32}, pubsub.Config{History: pubsub.HistoryConfig{PerChannel: 100000}})
	first := h.publish("s", "", "0")
	for i := 1; i < 3000; i++ {
		h.hub.Publish([]byte("s"), nil, []byte(fmt.Sprint(i)))
	}
	s := h.subscribe("/events?channel=s", fmt.Sprintf("Last-Event-ID: %d", first))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // keep publishing across the seam
		defer wg.Done()
		for i := 3000; i < 5000; i++ {
			h.hub.Publish([]byte("s"), nil, []byte(fmt.Sprint(i)))
		}
	}()
	for i := 1; i < 5000; i++ {
		f := s.event(t)
		if f.data != fmt.Sprint(i) {
			t.Fatalf("event %d: got %+v", i, f)
		}
	}
	wg.Wait()
	if st := h.srv.Stats(); st.Replayed == 0 || st.SlowConsumers() != 0 {
		t.Fatalf("replayed %d, slow consumers %d", st.Replayed, st.SlowConsumers())
	}
}

// A replay paced by a tiny backlog bound still finishes and goes live.
func TestResumeTinyBacklog(t *testing.T) {
	h := startHub(t, poller.Config{MaxBacklogFrames: 2}, pubsub.Config{})
	first := h.publish("t", "", "0")
	var ids []uint64
	for i := 1; i < 8; i++ {
		ids = append(ids, h.publish("t", "", fmt.Sprint(i)))
	}
	s := h.subscribe("/events?channel=t", fmt.Sprintf("Last-Event-ID: %d", first))
	for _, want := range ids {
		if f := s.event(t); f.id != want {
			t.Fatalf("got %+v, want %d", f, want)
		}
	}
	waitFor(t, "the replay to go live", func() bool { st := h.srv.Stats(); return st.Subscribers == 1 && st.Replaying == 0 })
	live := h.publish("t", "", "live")
	if f := s.event(t); f.id != live {
		t.Fatalf("live: %+v", f)
	}
}

// A worker of serve --procs that is behind the supervisor: a client
// holding an id this worker has not received yet (another worker
// delivered it) gets no "future" gap and no event twice; the stream and
// the poll wait for what comes after its id.
func TestResumeLaggingWorker(t *testing.T) {
	var upstream atomic.Uint64
	h := startHub(t, poller.Config{}, pubsub.Config{Upstream: upstream.Load})
	id := h.publish("a", "", "x")
	upstream.Store(id + 2) // the supervisor has issued id+1 and id+2 already
	s := h.subscribe("/events?channel=a", fmt.Sprintf("Last-Event-ID: %d", id+1))
	c := h.dial()
	br := bufio.NewReader(c)
	polled := make(chan pollAnswer, 1)
	go func() {
		a, _, _ := pollOn(t, c, br, fmt.Sprintf("/poll?channel=a&lastEventId=%d&timeout=10", id+1))
		polled <- a
	}()
	// Both wait: the stream in its replay (this loop is behind the
	// client's id), the poll parked.
	waitFor(t, "the stream and the poll to wait", func() bool {
		st := h.srv.Stats()
		return st.Replaying == 1 && st.LongPollsParked == 1
	})
	if got := h.publish("a", "", "id+1, which the client has"); got != id+1 {
		t.Fatalf("published %d, want %d", got, id+1)
	}
	h.publish("a", "", "id+2")
	if f := s.event(t); f.id != id+2 || f.event == "ssedge.gap" {
		t.Fatalf("stream after a lagging resume got %+v, want id %d", f, id+2)
	}
	a := <-polled
	if len(a.Gaps) != 0 || len(a.Events) != 1 || a.Events[0].ID != id+2 {
		t.Fatalf("poll after a lagging resume: %+v, want only id %d", a, id+2)
	}
	// Beyond what the supervisor issued, it is the future.
	s = h.subscribe("/events?channel=a", fmt.Sprintf("Last-Event-ID: %d", id+1000))
	if g := parseGap(t, s.event(t)); g.Reason != "future" {
		t.Fatalf("id above the supervisor's: %+v, want a future gap", g)
	}
}

// In cluster mode the hub may not be able to tell at once whether a
// client's id, ahead of this server, exists elsewhere (a look at the log
// is under way). The loop never waits for that answer: it keeps serving
// other streams, asks again on its next turns, and sends the future gap
// once the answer comes.
func TestResumeFutureAnsweredLater(t *testing.T) {
	var answer atomic.Int32 // 0: not known yet; 1: the id does not exist
	var asked atomic.Int32
	check := func(id uint64, since int64) (exists, known bool) {
		asked.Add(1)
		return false, answer.Load() == 1
	}
	h := startHub(t, poller.Config{Loops: 1}, pubsub.Config{UpstreamCheck: check})
	id := h.publish("a", "", "x")
	ahead := h.subscribe("/events?channel=a", fmt.Sprintf("Last-Event-ID: %d", id+1_000_000))
	other := h.subscribe("/events?channel=b")
	waitFor(t, "the loop to ask about the id more than once", func() bool { return asked.Load() > 1 })
	// The same loop serves the other stream meanwhile.
	b := h.publish("b", "", "y")
	if f := other.event(t); f.id != b {
		t.Fatalf("the other stream while the check is pending: %+v, want id %d", f, b)
	}
	answer.Store(1)
	if g := parseGap(t, ahead.event(t)); g.Reason != "future" {
		t.Fatalf("the ahead stream after the answer: %+v, want a future gap", g)
	}
	next := h.publish("a", "", "z")
	if f := ahead.event(t); f.id != next {
		t.Fatalf("after the future gap: %+v, want id %d", f, next)
	}
}
