package poller_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ssedge/ssedge/poller"
)

// --max-conns: past the limit a connection gets 503 with Retry-After; a
// freed slot admits the next one. Refusals are counted.
func TestMaxConns(t *testing.T) {
	h := start(t, poller.Config{MaxConns: 3})
	var subs []*sub
	for i := 0; i < 3; i++ {
		subs = append(subs, h.subscribe("/events?channel=m"))
	}
	got := h.rawRequest("GET /events?channel=m HTTP/1.1\r\nHost: x\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 503 ") || !strings.Contains(got, "Retry-After: 5\r\n") || !strings.Contains(got, "limit (3)") {
		t.Fatalf("over the limit: %q", got)
	}
	subs[0].c.Close()
	waitFor(t, "the slot to free", func() bool { return h.srv.Stats().Active == 2 })
	h.subscribe("/events?channel=m")
	if n := h.srv.Stats().Closed[poller.CloseOverLimit]; n != 1 {
		t.Fatalf("over-limit refusals counted %d", n)
	}
}

// --max-conns-per-ip counts client addresses (here from a trusted
// proxy's X-Real-IP): the third stream from one address gets 429, another
// address is still served, and closing one frees its place.
func TestMaxConnsPerIP(t *testing.T) {
	h := start(t, poller.Config{MaxConnsPerIP: 2})
	a1 := h.subscribe("/events?channel=i", "X-Real-IP: 198.51.100.1")
	h.subscribe("/events?channel=i", "X-Real-IP: 198.51.100.1")
	got := h.rawRequest("GET /events?channel=i HTTP/1.1\r\nHost: x\r\nX-Real-IP: 198.51.100.1\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 429 ") || !strings.Contains(got, "198.51.100.1") {
		t.Fatalf("third from one address: %q", got)
	}
	h.subscribe("/events?channel=i", "X-Real-IP: 198.51.100.2")
	a1.c.Close()
	waitFor(t, "the address's place to free", func() bool { return h.srv.Stats().Subscribers == 2 })
	h.subscribe("/events?channel=i", "X-Real-IP: 198.51.100.1")
}

// A proxy's keep-alive connection carries many clients: each request is
// counted under its own client, and an answered poll gives its place back.
func TestPerIPKeepAlivePolls(t *testing.T) {
	h := start(t, poller.Config{MaxConnsPerIP: 1})
	c := h.dial()
	br := bufio.NewReader(c)
	for _, ip := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.1"} {
		fmt.Fprintf(c, "GET /poll?channel=k&timeout=0 HTTP/1.1\r\nHost: x\r\nX-Real-IP: %s\r\n\r\n", ip)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("poll as %s: %v %v", ip, resp, err)
		}
		io.Copy(io.Discard, resp.Body)
	}
	h.subscribe("/events?channel=k", "X-Real-IP: 198.51.100.1")
	h.subscribe("/events?channel=k", "X-Real-IP: 198.51.100.2")
}

// With MaxConns 0 the limit is what the open-files limit leaves after the
// descriptors open at start and a reserve: 128, or a quarter of what is
// left when the limit is small; at least 1; none when RLIMIT_NOFILE is
// unlimited.
func TestDerivedConnLimit(t *testing.T) {
	cases := []struct {
		nofile, open   uint64
		limit, reserve int
	}{
		{1 << 20, 30, 1<<20 - 30 - 128, 128},
		{1024, 20, 1004 - 128, 128},
		{64, 16, 36, 12},
		{20, 16, 3, 1},
		{16, 16, 1, 1},
		{10, 16, 1, 1},
		{^uint64(0), 16, 0, 0},
	}
	for _, c := range cases {
		limit, reserve := poller.ConnLimit(c.nofile, c.open)
		if limit != c.limit || reserve != c.reserve {
			t.Errorf("nofile %d, open %d: limit %d reserve %d, want %d and %d", c.nofile, c.open, limit, reserve, c.limit, c.reserve)
		}
	}
}
