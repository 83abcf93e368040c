package poller_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssedge/ssedge/poller"
	"github.com/ssedge/ssedge/pubsub"
	"github.com/ssedge/ssedge/sse"
)

// testLog is a durable log for the hub's Config.UpstreamFetch: it holds
// every event the test published, and answers a fetch on its own
// goroutine once hold is closed, as pubsub/cluster does from JetStream.
type testLog struct {
	mu      sync.Mutex
	events  map[string][]*pubsub.Event
	hold    chan struct{}
	started atomic.Int32
	fail    error // set before hold is closed: every fetch fails with it
}

func newTestLog() *testLog {
	return &testLog{events: make(map[string][]*pubsub.Event), hold: make(chan struct{})}
}

func (lg *testLog) add(channel string, id uint64, data string) {
	lg.mu.Lock()
	defer lg.mu.Unlock()
	ev := &pubsub.Event{ID: id, Channel: channel, Frame: sse.AppendEvent(nil, id, nil, []byte(data))}
	lg.events[channel] = append(lg.events[channel], ev)
}

func (lg *testLog) fetch(f *pubsub.UpstreamFetch, maxEvents, _ int) {
	lg.started.Add(1)
	go func() {
		<-lg.hold
		defer f.Finish()
		if lg.fail != nil {
			f.Err = lg.fail
			return
		}
		lg.mu.Lock()
		defer lg.mu.Unlock()
		per := max(maxEvents/len(f.Ranges), 1)
		for _, r := range f.Ranges {
			f.Covered = max(f.Covered, r.UpTo)
		}
		for _, r := range f.Ranges {
			n := 0
			for _, ev := range lg.events[r.Channel] {
				if ev.ID <= r.After || ev.ID > r.UpTo {
					continue
				}
				if n == per {
					f.Covered = min(f.Covered, ev.ID-1)
					break
				}
				f.Events = append(f.Events, ev)
				n++
			}
		}
		f.Events = slices.DeleteFunc(f.Events, func(ev *pubsub.Event) bool { return ev.ID > f.Covered })
		slices.SortFunc(f.Events, func(a, b *pubsub.Event) int { return int(a.ID - b.ID) })
		f.Loss = make([]pubsub.UpstreamLoss, len(f.Ranges))
	}()
}

// publish publishes on h and records the event in the log.
func (lg *testLog) publish(h *harness, channel, data string) uint64 {
	id := h.publish(channel, "", data)
	lg.add(channel, id, data)
	return id
}

// A resume whose events fell out of memory (2 a channel here) reads them
// from the log: while that read is under way the same loop serves other
// streams; then the client gets every event after its id exactly once,
// in id order across its channels, in several chunks (the backlog bound
// is small), and then live.
func TestResumeFromLogWhileLoopServes(t *testing.T) {
	lg := newTestLog()
	h := startHub(t, poller.Config{Loops: 1, MaxBacklogFrames: 4},
		pubsub.Config{History: pubsub.HistoryConfig{PerChannel: 2}, UpstreamFetch: lg.fetch})
	var want []uint64
	first := lg.publish(h, "a", "first")
	for i := range 12 {
		ch := []string{"a", "c", "z"}[i%3]
		id := lg.publish(h, ch, fmt.Sprint(i))
		if ch != "z" {
			want = append(want, id)
		}
	}
	resuming := h.subscribe("/events?channel=a&channel=c", fmt.Sprintf("Last-Event-ID: %d", first))
	waitFor(t, "a fetch from the log to start", func() bool { return lg.started.Load() > 0 })
	other := h.subscribe("/events?channel=b")
	b := h.publish("b", "", "meanwhile")
	if f := other.event(t); f.id != b {
		t.Fatalf("the other stream while the fetch is under way: %+v, want id %d", f, b)
	}
	close(lg.hold)
	for _, w := range want {
		if f := resuming.event(t); f.id != w {
			t.Fatalf("resume from the log: %+v, want id %d (all: %v)", f, w, want)
		}
	}
	live := lg.publish(h, "c", "live")
	if f := resuming.event(t); f.id != live {
		t.Fatalf("live after the resume: %+v, want id %d", f, live)
	}
	if n := h.srv.Stats().UpstreamFetches; n < 2 {
		t.Fatalf("%d fetches from the log, want several chunks", n)
	}
}

// A long-poll whose events fell out of memory is parked while the log is
// read (the loop serves other streams meanwhile) and answered from it;
// polling on from each answer's lastEventId gets every event once.
func TestPollFromLog(t *testing.T) {
	lg := newTestLog()
	h := startHub(t, poller.Config{Loops: 1},
		pubsub.Config{History: pubsub.HistoryConfig{PerChannel: 2}, UpstreamFetch: lg.fetch})
	first := lg.publish(h, "p", "first")
	var want []uint64
	for i := range 8 {
		want = append(want, lg.publish(h, "p", fmt.Sprint(i)))
	}
	type answer struct {
		a   pollAnswer
		err error
	}
	done := make(chan answer, 1)
	go func() {
		a, err := getPoll(h.addr, fmt.Sprintf("channel=p&lastEventId=%d&timeout=5", first))
		done <- answer{a, err}
	}()
	waitFor(t, "a fetch from the log to start", func() bool { return lg.started.Load() > 0 })
	other := h.subscribe("/events?channel=b")
	b := h.publish("b", "", "meanwhile")
	if f := other.event(t); f.id != b {
		t.Fatalf("the other stream while the poll's fetch is under way: %+v, want id %d", f, b)
	}
	close(lg.hold)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	var got []uint64
	last := r.a.LastEventID
	for _, e := range r.a.Events {
		got = append(got, e.ID)
	}
	for i := 0; len(got) < len(want); i++ {
		if i == 10 {
			t.Fatalf("polled %v, want %v", got, want)
		}
		a, err := getPoll(h.addr, fmt.Sprintf("channel=p&lastEventId=%d&timeout=5", last))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range a.Events {
			got = append(got, e.ID)
		}
		last = a.LastEventID
	}
	if !slices.Equal(got, want) {
		t.Fatalf("polled %v, want %v", got, want)
	}
}

// A read from the log that fails closes the resuming stream (the client
// reconnects and resumes from its id: nothing is skipped) and answers a
// long-poll 503.
func TestResumeFromLogFails(t *testing.T) {
	lg := newTestLog()
	lg.fail = errors.New("cluster: NATS connection closed")
	close(lg.hold)
	h := startHub(t, poller.Config{Loops: 1},
		pubsub.Config{History: pubsub.HistoryConfig{PerChannel: 2}, UpstreamFetch: lg.fetch})
	first := lg.publish(h, "f", "first")
	for i := range 4 {
		lg.publish(h, "f", fmt.Sprint(i))
	}
	s := h.subscribe("/events?channel=f", fmt.Sprintf("Last-Event-ID: %d", first))
	if f, err := s.nextEvent(10 * time.Second); !errors.Is(err, io.EOF) {
		t.Fatalf("resume whose read failed: %+v, %v; want the stream closed", f, err)
	}
	waitFor(t, "the close counted", func() bool { return h.srv.Stats().Closed[poller.CloseUnavailable] == 1 })
	status, body := getPollStatus(t, h.addr, fmt.Sprintf("channel=f&lastEventId=%d&timeout=5", first))
	if status != 503 || !strings.Contains(body, "poll again") {
		t.Fatalf("long-poll whose read failed: %d %q, want 503 saying to poll again", status, body)
	}
}

// getPoll long-polls the server at addr (safe from any goroutine).
func getPoll(addr, query string) (pollAnswer, error) {
	c := &http.Client{Timeout: 20 * time.Second}
	resp, err := c.Get("http://" + addr + "/poll?" + query)
	if err != nil {
		return pollAnswer{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var a pollAnswer
	if resp.StatusCode != 200 {
		return a, fmt.Errorf("poll %s: %d %q", query, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return a, fmt.Errorf("poll %s: %q: %w", query, b, err)
	}
	return a, nil
}

func getPollStatus(t *testing.T, addr, query string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 20 * time.Second}
	resp, err := c.Get("http://" + addr + "/poll?" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
