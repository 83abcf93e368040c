package poller_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ssedge/ssedge/poller"
)

// An idle stream gets heartbeat comments.
func TestHeartbeat(t *testing.T) {
	h := start(t, poller.Config{Heartbeat: 100 * time.Millisecond, Retry: 1500 * time.Millisecond})
	s := h.subscribe("/events?channel=quiet")
	if f, err := s.next(2 * time.Second); err != nil || f.retry != 1500 {
		t.Fatalf("first frame %+v (%v), want retry: 1500", f, err)
	}
	for i := 0; i < 3; i++ {
		f, err := s.next(2 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if !f.comment {
			t.Fatalf("got %+v, want a heartbeat comment", f)
		}
	}
}

// A client that sends part of a head and stalls gets 408 and is closed.
func TestHeaderTimeout(t *testing.T) {
	h := start(t, poller.Config{HeaderTimeout: 200 * time.Millisecond})
	got := h.rawRequest("GET /events?channel=a HTTP/1.1\r\nHost: x\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 408 ") {
		t.Fatalf("got %q, want 408", got)
	}
	waitFor(t, "timeout counted", func() bool { return h.srv.Stats().Closed[poller.CloseHeaderTimeout] == 1 })
}
