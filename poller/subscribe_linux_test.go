package poller_test

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ssedge/ssedge/poller"
)

// Two channels on one connection: the events of both arrive, in id order,
// as proper frames; a third channel's event does not.
func TestSubscribeTwoChannels(t *testing.T) {
	h := start(t, poller.Config{})
	s := h.subscribe("/events?channel=news&channel=sport")
	for _, want := range []string{"Cache-Control: no-cache\r\n", "X-Accel-Buffering: no\r\n"} {
		if !strings.Contains(s.head, want) {
			t.Errorf("head lacks %q: %q", want, s.head)
		}
	}
	waitFor(t, "subscription", func() bool { return h.srv.Stats().Subscribers == 1 })
	id1 := h.publish("news", "headline", "hello\nworld")
	h.publish("weather", "", "not for us")
	id2 := h.publish("sport", "", "goal!")
	if id2 <= id1 {
		t.Fatalf("ids not increasing: %d then %d", id1, id2)
	}
	got := []frame{s.event(t), s.event(t)}
	want := []frame{{id: id1, event: "headline", data: "hello\nworld"}, {id: id2, data: "goal!"}}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("frame %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// The raw bytes on the wire are exactly the SSE frames.
func TestFrameBytes(t *testing.T) {
	h := start(t, poller.Config{})
	s := h.subscribe("/events?channel=a")
	waitFor(t, "subscription", func() bool { return h.srv.Stats().Subscribers == 1 })
	id := h.publish("a", "greet", "x\r\ny\rz")
	want := fmt.Sprintf("retry: 3000\n\nid: %d\nevent: greet\ndata: x\ndata: y\ndata: z\n\n", id)
	s.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, len(want))
	if _, err := io.ReadFull(s.br, buf); err != nil {
		t.Fatal(err)
	}
	if string(buf) != want {
		t.Fatalf("wire bytes %q, want %q", buf, want)
	}
}

// Repeating a channel in one request subscribes once: no duplicates.
func TestDuplicateChannelOnce(t *testing.T) {
	h := start(t, poller.Config{})
	s := h.subscribe("/events?channel=dup&channel=dup&channel=other")
	waitFor(t, "subscription", func() bool { return h.srv.Stats().Subscribers == 1 })
	id1 := h.publish("dup", "", "one")
	id2 := h.publish("other", "", "two")
	if f := s.event(t); f.id != id1 {
		t.Fatalf("got %+v, want id %d", f, id1)
	}
	if f := s.event(t); f.id != id2 {
		t.Fatalf("got %+v, want id %d (a duplicate of %d?)", f, id2, id1)
	}
}

// HEAD answers the stream head and closes; OPTIONS answers a preflight and
// keeps the connection for the next request.
func TestHeadAndPreflight(t *testing.T) {
	h := start(t, poller.Config{})
	got := h.rawRequest("HEAD /events?channel=a HTTP/1.1\r\nHost: x\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n") || !strings.HasSuffix(got, "\r\n\r\n") {
		t.Fatalf("HEAD: %q", got)
	}
	c := h.dial()
	io.WriteString(c, "OPTIONS /events HTTP/1.1\r\nHost: x\r\nOrigin: https://a.example\r\n\r\nGET /events?channel=a HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	all := ""
	for !strings.Contains(all, "text/event-stream") {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("after %q: %v", all, err)
		}
		all += string(buf[:n])
	}
	if !strings.HasPrefix(all, "HTTP/1.1 ") || strings.Count(all, "HTTP/1.1 ") != 2 {
		t.Fatalf("want preflight answer then stream head, got %q", all)
	}
}
