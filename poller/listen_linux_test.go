package poller_test

import (
	"os"
	"strings"
	"testing"

	"github.com/ssedge/ssedge/poller"
)

// A port another server listens on is refused, even when that server set
// SO_REUSEPORT (the kernel would otherwise split clients between the two).
func TestPortInUse(t *testing.T) {
	h := start(t, poller.Config{})
	_, err := poller.New(poller.Config{Hub: h.hub, Listen: []string{h.addr}, Loops: 1})
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("second server on %s: %v", h.addr, err)
	}
	// The first one still has every client.
	h.subscribe("/events?channel=x")
}

// Several listen addresses at once, one of them a unix socket (nginx's
// upstream without ephemeral ports): subscribers on each get the events.
func TestUnixAndTCPListeners(t *testing.T) {
	path := t.TempDir() + "/sub.sock"
	h := start(t, poller.Config{Listen: []string{"127.0.0.1:0", "unix:" + path, "127.0.0.1:0"}})
	if addrs := h.srv.Addrs(); len(addrs) != 3 || addrs[1].String() != path {
		t.Fatalf("addrs %v", addrs)
	}
	tcp := h.subscribe("/events?channel=both")
	var unixSubs []*sub
	for i := 0; i < 4; i++ { // spread over the loops
		s, err := h.subscribeOn("unix", path, "/events?channel=both")
		if err != nil {
			t.Fatal(err)
		}
		unixSubs = append(unixSubs, s)
	}
	waitFor(t, "subscriptions", func() bool { return h.srv.Stats().Subscribers == 5 })
	id := h.publish("both", "", "x")
	for _, s := range append(unixSubs, tcp) {
		if f := s.event(t); f.id != id {
			t.Fatalf("got %+v, want %d", f, id)
		}
	}
	h.srv.Close()
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("subscriber socket left after Close: %v", err)
	}
}
