package poller_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssedge/ssedge/poller"
	"github.com/ssedge/ssedge/pubsub"
	"github.com/ssedge/ssedge/sse"
)

type pollAnswer struct {
	Events []struct {
		ID      uint64  `json:"id"`
		Channel string  `json:"channel"`
		Event   *string `json:"event"`
		Data    string  `json:"data"`
	} `json:"events"`
	Gaps        []gapData `json:"gaps"`
	LastEventID uint64    `json:"lastEventId"`
}

// pollOn sends one GET on c and reads the JSON answer.
func pollOn(t *testing.T, c net.Conn, br *bufio.Reader, target string) (pollAnswer, http.Header, time.Duration) {
	t.Helper()
	begin := time.Now()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\n\r\n", target)
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("poll %s: %v", target, err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("poll %s: %s %q", target, resp.Status, body)
	}
	var a pollAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("poll %s: %q: %v", target, body, err)
	}
	return a, resp.Header, time.Since(begin)
}

func TestPollImmediateWaitingTimeoutKeepAlive(t *testing.T) {
	h := start(t, poller.Config{})
	id0 := h.publish("a", "", "zero")
	id1 := h.publish("a", "greet", "one\ntwo")
	h.publish("b", "", "other channel")
	id2 := h.publish("a", "", "two")
	c := h.dial()
	br := bufio.NewReader(c)

	// Immediate: what history holds after id0.
	a, _, _ := pollOn(t, c, br, fmt.Sprintf("/poll?channel=a&lastEventId=%d", id0))
	if len(a.Events) != 2 || a.Events[0].ID != id1 || a.Events[0].Data != "one\ntwo" || *a.Events[0].Event != "greet" ||
		a.Events[1].ID != id2 || a.LastEventID < id2 {
		t.Fatalf("immediate answer %+v", a)
	}

	// Waiting, on the same connection: answered as soon as an event comes.
	done := make(chan pollAnswer, 1)
	go func() {
		a, _, _ := pollOn(t, c, br, fmt.Sprintf("/poll?channel=a&lastEventId=%d", a.LastEventID))
		done <- a
	}()
	waitFor(t, "the poll to park", func() bool { return h.srv.Stats().LongPollsParked == 1 })
	id3 := h.publish("a", "", "three")
	select {
	case a = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("parked poll not answered")
	}
	if len(a.Events) != 1 || a.Events[0].ID != id3 || a.LastEventID != id3 {
		t.Fatalf("waiting answer %+v", a)
	}

	// Timeout: an empty answer whose lastEventId loses nothing.
	a, _, took := pollOn(t, c, br, fmt.Sprintf("/poll?channel=a&lastEventId=%d&timeout=0.3", id3))
	if len(a.Events) != 0 || a.LastEventID < id3 || took < 250*time.Millisecond {
		t.Fatalf("timeout answer %+v after %v", a, took)
	}
	id4 := h.publish("a", "", "four")
	a, _, _ = pollOn(t, c, br, fmt.Sprintf("/poll?channel=a&lastEventId=%d&timeout=0", a.LastEventID))
	if len(a.Events) != 1 || a.Events[0].ID != id4 {
		t.Fatalf("after a timeout, the next poll got %+v", a)
	}
}

func TestPollGapAndBadRequests(t *testing.T) {
	h := startHub(t, poller.Config{}, pubsub.Config{History: pubsub.HistoryConfig{PerChannel: 2}})
	var ids []uint64
	for i := 0; i < 5; i++ {
		ids = append(ids, h.publish("g", "", fmt.Sprint(i)))
	}
	c := h.dial()
	a, _, _ := pollOn(t, c, bufio.NewReader(c), fmt.Sprintf("/poll?channel=g&lastEventId=%d", ids[0]))
	if len(a.Gaps) != 1 || a.Gaps[0] != (gapData{"g", ids[0], ids[3], "evicted"}) || len(a.Events) != 2 {
		t.Fatalf("gap answer %+v", a)
	}
	for _, target := range []string{"/poll?channel=g&timeout=soon", "/poll?channel=g&timeout=-1", "/poll", "/poll?channel=g&lastEventId=x"} {
		got := h.rawRequest("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n")
		if len(got) < 12 || got[:12] != "HTTP/1.1 400" {
			t.Errorf("%s: %q", target, got)
		}
	}
}

// An answer cut at the event bound, on channels one of which lost events,
// resumes exactly: polling on from its lastEventId loses nothing.
func TestPollTruncatedWithGap(t *testing.T) {
	h := startHub(t, poller.Config{}, pubsub.Config{History: pubsub.HistoryConfig{PerChannel: 1500}})
	var b []uint64
	for i := 0; i < 1200; i++ {
		id, _ := h.hub.Publish([]byte("b"), nil, []byte("x"))
		b = append(b, id)
	}
	for i := 0; i < 1600; i++ { // a loses its first 100
		h.hub.Publish([]byte("a"), nil, []byte("y"))
	}
	c := h.dial()
	br := bufio.NewReader(c)
	got := map[uint64]bool{}
	last := h.hub.Seed()
	for round := 0; round < 5; round++ {
		a, _, _ := pollOn(t, c, br, fmt.Sprintf("/poll?channel=a&channel=b&lastEventId=%d&timeout=0", last))
		for _, e := range a.Events {
			if got[e.ID] {
				t.Fatalf("event %d answered twice", e.ID)
			}
			got[e.ID] = true
		}
		last = a.LastEventID
	}
	for _, id := range b {
		if !got[id] {
			t.Fatalf("event %d of channel b never answered (no gap covers it)", id)
		}
	}
}

// A parked poll whose client hangs up is closed at once, not at its deadline.
func TestPollClientLeaves(t *testing.T) {
	h := start(t, poller.Config{})
	c := h.dial()
	io.WriteString(c, "GET /poll?channel=z&timeout=50 HTTP/1.1\r\nHost: x\r\n\r\n")
	waitFor(t, "the poll to park", func() bool { return h.srv.Stats().LongPollsParked == 1 })
	c.Close()
	waitFor(t, "the parked poll to be closed", func() bool { return h.srv.Stats().Active == 0 })
}

// Refusals of a cross-origin request carry the CORS headers, so a page
// (a fetch-based long-poll) can read why; other origins still get none.
func TestRefusalCORS(t *testing.T) {
	cors, err := sse.NewCORS([]string{"https://app.example"}, false)
	if err != nil {
		t.Fatal(err)
	}
	h := start(t, poller.Config{CORS: cors})
	cases := []struct{ name, req, status string }{
		{"bad channel", "GET /poll?channel=a*b HTTP/1.1\r\nHost: x\r\nOrigin: ORIGIN\r\n\r\n", "400"},
		{"bad timeout", "GET /poll?channel=a&timeout=soon HTTP/1.1\r\nHost: x\r\nOrigin: ORIGIN\r\n\r\n", "400"},
		{"bad id", "GET /events?channel=a HTTP/1.1\r\nHost: x\r\nLast-Event-ID: x\r\nOrigin: ORIGIN\r\n\r\n", "400"},
		{"no endpoint", "GET /nope HTTP/1.1\r\nHost: x\r\nOrigin: ORIGIN\r\n\r\n", "404"},
		{"method", "POST /poll?channel=a HTTP/1.1\r\nHost: x\r\nOrigin: ORIGIN\r\nContent-Length: 0\r\n\r\n", "405"},
	}
	for _, c := range cases {
		for _, origin := range []string{"https://app.example", "https://evil.example"} {
			got := h.rawRequest(strings.Replace(c.req, "ORIGIN", origin, 1))
			allowed := strings.Contains(got, "\r\nAccess-Control-Allow-Origin: https://app.example\r\n")
			if !strings.HasPrefix(got, "HTTP/1.1 "+c.status+" ") || allowed != (origin == "https://app.example") || !strings.Contains(got, "\r\nVary: Origin\r\n") {
				t.Errorf("%s from %s: %q", c.name, origin, got)
			}
		}
	}
	// Over the per-address limit: 429 with Retry-After and the CORS headers.
	h = start(t, poller.Config{CORS: cors, MaxConnsPerIP: 1})
	h.subscribe("/events?channel=a")
	got := h.rawRequest("GET /events?channel=a HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 429 ") || !strings.Contains(got, "\r\nAccess-Control-Allow-Origin: https://app.example\r\n") || !strings.Contains(got, "\r\nRetry-After: 5\r\n") {
		t.Errorf("429: %q", got)
	}
}

// A poll whose id cannot be told from a future one when it comes (cluster
// mode, a look at the log under way) is parked, not answered with a false
// gap; at its deadline, the look having ended, a future id gets its gap.
func TestPollFutureAnsweredAtDeadline(t *testing.T) {
	var answer atomic.Int32 // 0: not known yet; 1: the id does not exist
	check := func(id uint64, since int64) (exists, known bool) { return false, answer.Load() == 1 }
	h := startHub(t, poller.Config{Loops: 1}, pubsub.Config{UpstreamCheck: check})
	id := h.publish("a", "", "x")
	c := h.dial()
	br := bufio.NewReader(c)
	done := make(chan pollAnswer, 1)
	go func() {
		a, _, _ := pollOn(t, c, br, fmt.Sprintf("/poll?channel=a&lastEventId=%d&timeout=1", id+1_000_000))
		done <- a
	}()
	waitFor(t, "the poll to park", func() bool {
		select {
		case a := <-done:
			t.Fatalf("answered at once: %+v", a)
		default:
		}
		return h.srv.Stats().LongPollsParked == 1
	})
	answer.Store(1)
	a := <-done
	if len(a.Gaps) != 1 || a.Gaps[0].Reason != "future" || a.LastEventID != id {
		t.Fatalf("answer at the deadline: %+v, want one future gap and lastEventId %d", a, id)
	}
}
