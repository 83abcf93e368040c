package poller_test

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ssedge/ssedge/poller"
)

// A request head split across many writes is reassembled.
func TestSplitRequest(t *testing.T) {
	h := start(t, poller.Config{})
	c := h.dial()
	req := "GET /events?channel=split HTTP/1.1\r\nHost: x\r\nUser-Agent: slow\r\n\r\n"
	for i := 0; i < len(req); i++ {
		c.Write([]byte{req[i]})
		time.Sleep(time.Millisecond) // lets real time pass, so the bytes tend to arrive in separate reads
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 17)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "HTTP/1.1 200 OK\r\n" {
		t.Fatalf("got %q, %v", buf, err)
	}
}

// Bad requests get the right status, a reason, and are closed; the
// server goes on serving.
func TestBadRequests(t *testing.T) {
	h := start(t, poller.Config{MaxChannels: 3})
	long := strings.Repeat("a", 9000)
	cases := []struct{ name, raw, status, reason string }{
		{"unknown path", "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", "404", "/events"},
		{"wrong method", "DELETE /events?channel=a HTTP/1.1\r\nHost: x\r\n\r\n", "405", "use GET"},
		{"unknown method", "BREW /events HTTP/1.1\r\nHost: x\r\n\r\n", "501", ""},
		{"no channel", "GET /events HTTP/1.1\r\nHost: x\r\n\r\n", "400", "channel"},
		{"bad channel", "GET /events?channel=a%20b HTTP/1.1\r\nHost: x\r\n\r\n", "400", "channel"},
		{"bad escape", "GET /events?channel=a%zz HTTP/1.1\r\nHost: x\r\n\r\n", "400", ""},
		{"too many channels", "GET /events?channel=a&channel=b&channel=c&channel=d HTTP/1.1\r\nHost: x\r\n\r\n", "400", "limit is 3"},
		{"body", "GET /events?channel=a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi", "400", "body"},
		{"no host", "GET /events?channel=a HTTP/1.1\r\n\r\n", "400", ""},
		{"obs-fold", "GET /events?channel=a HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", "400", ""},
		{"bare LF", "GET /events?channel=a HTTP/1.1\nHost: x\n\n", "400", ""},
		{"smuggling", "GET /events?channel=a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", "400", ""},
		{"long target", "GET /events?channel=" + long + " HTTP/1.1\r\nHost: x\r\n\r\n", "414", ""},
		{"huge header", "GET /events?channel=a HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat(long, 2) + "\r\n\r\n", "431", ""},
		{"http/2.0", "GET /events?channel=a HTTP/2.0\r\nHost: x\r\n\r\n", "505", ""},
		{"garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", "400", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := h.rawRequest(tc.raw)
			if !strings.HasPrefix(got, "HTTP/1.1 "+tc.status+" ") {
				t.Fatalf("got %q, want status %s", got, tc.status)
			}
			if !strings.Contains(got, "Connection: close\r\n") {
				t.Errorf("refusal does not say Connection: close: %q", got)
			}
			_, body, _ := strings.Cut(got, "\r\n\r\n")
			if strings.TrimSpace(body) == "" || !strings.Contains(body, tc.reason) {
				t.Errorf("reason %q does not mention %q", body, tc.reason)
			}
		})
	}
	s := h.subscribe("/events?channel=still")
	waitFor(t, "subscription", func() bool { return h.srv.Stats().Subscribers == 1 })
	id := h.publish("still", "", "alive")
	if f := s.event(t); f.id != id {
		t.Fatalf("after bad requests got %+v", f)
	}
}

// Pipelined requests behind a response the kernel could not take at once
// are answered after it, not dropped.
func TestPipelinedBehindBackloggedResponse(t *testing.T) {
	h := start(t, poller.Config{})
	c := h.dial()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetReadBuffer(128 << 10)
	}
	const n = 30000 // answers of several MB: more than the socket buffers hold
	req := strings.Repeat("OPTIONS /events HTTP/1.1\r\nHost: x\r\nOrigin: https://a.example\r\n\r\n", n) +
		"GET /events?channel=p HTTP/1.1\r\nHost: x\r\n\r\n"
	go io.WriteString(c, req)
	// Nothing is read until an answer waits in the server's backlog.
	waitFor(t, "an answer to back up", func() bool { return h.srv.Stats().Responding == 1 })
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	var all strings.Builder
	buf := make([]byte, 64<<10)
	for !strings.Contains(all.String(), "text/event-stream") {
		k, err := c.Read(buf)
		if err != nil {
			t.Fatalf("after %d answers: %v", strings.Count(all.String(), "HTTP/1.1 "), err)
		}
		all.Write(buf[:k])
	}
	if got := strings.Count(all.String(), "HTTP/1.1 "); got != n+1 {
		t.Fatalf("%d answers, want %d", got, n+1)
	}
}

// A refused request whose unread remainder is still arriving gets its
// answer: the server half-closes and drains instead of resetting.
func TestRefusalWithUnreadInput(t *testing.T) {
	h := start(t, poller.Config{})
	for i := 0; i < 5; i++ {
		c := h.dial()
		go io.WriteString(c, "GET /events?channel=a HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("b", 256<<10)+"\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, err := io.ReadAll(c)
		if !strings.HasPrefix(string(b), "HTTP/1.1 431 ") || err != nil {
			t.Fatalf("got %q, %v; want 431 and a clean close (FIN, not RST)", b, err)
		}
	}
	waitFor(t, "lingering connections closed", func() bool { return h.srv.Stats().Active == 0 })
}
