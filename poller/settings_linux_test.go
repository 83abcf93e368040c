package poller_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ssedge/ssedge/poller"
)

// Reload changes the limits and the retry advice for connections that
// come after it, while a stream opened before keeps its connection and
// its events.
func TestReloadSettings(t *testing.T) {
	h := start(t, poller.Config{MaxConns: 10, Retry: 2 * time.Second})
	old := h.subscribe("/events?channel=r")
	if f, err := old.next(5 * time.Second); err != nil || f.retry != 2000 {
		t.Fatalf("first frame before the reload: %+v %v", f, err)
	}
	st := h.srv.Settings()
	st.MaxConns, st.Retry = 2, 7*time.Second
	if err := h.srv.Reload(st); err != nil {
		t.Fatal(err)
	}
	if got := h.srv.Settings(); got.MaxConns != 2 || got.Retry != 7*time.Second || got.Heartbeat != poller.DefaultHeartbeat {
		t.Fatalf("settings after the reload: %+v", got)
	}
	fresh := h.subscribe("/events?channel=r")
	if f, err := fresh.next(5 * time.Second); err != nil || f.retry != 7000 {
		t.Fatalf("first frame after the reload: %+v %v", f, err)
	}
	got := h.rawRequest("GET /events?channel=r HTTP/1.1\r\nHost: x\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 503 ") || !strings.Contains(got, "limit (2)") {
		t.Fatalf("over the reloaded limit: %q", got)
	}
	id := h.publish("r", "", "after")
	for _, s := range []*sub{old, fresh} {
		if f := s.event(t); f.id != id {
			t.Fatalf("event %d, want %d", f.id, id)
		}
	}
	st.ClientIPHeader = "x-client"
	if err := h.srv.Reload(st); err == nil {
		t.Fatal("an invalid client address header was taken")
	}
	if h.srv.Settings().ClientIPHeader != poller.ClientIPAuto {
		t.Fatal("a refused reload changed the settings")
	}
}
