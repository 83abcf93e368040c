package poller_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ssedge/ssedge/internal/ssetest"
	"github.com/ssedge/ssedge/poller"
)

// hostileHeaderTimeout is the server's request-head deadline in the
// hostile suite: short, so slowloris and idle connections end quickly.
const hostileHeaderTimeout = 500 * time.Millisecond

// TestHostileClients runs hostile and broken clients over real sockets
// against one server. A witness subscriber is connected throughout and
// gets an event between every two cases; at the end it must have every
// one of them, in order, and a fresh subscriber on three channels must get
// 100 events, all, in order. The refusals must show in Stats.
func TestHostileClients(t *testing.T) {
	h := start(t, poller.Config{HeaderTimeout: hostileHeaderTimeout, MaxBacklogBytes: 256 << 10})
	witness := h.subscribe("/events?channel=witness")
	waitFor(t, "witness subscribed", func() bool { return h.srv.Stats().Subscribers == 1 })
	frames := make(chan frame, 1024)
	witnessErr := make(chan error, 1)
	go func() {
		for {
			f, err := witness.next(time.Minute)
			if err != nil {
				witnessErr <- err
				close(frames)
				return
			}
			if f.event == "ssedge.expired" {
				witnessErr <- fmt.Errorf("server ended the stream with %+v (no token was involved)", f)
				close(frames)
				return
			}
			if !f.control() {
				frames <- f
			}
		}
	}()
	var witnessed []uint64
	mark := func(name string) {
		id := h.publish("witness", "", "after "+name)
		witnessed = append(witnessed, id)
	}
	settle := func(name string) {
		select {
		case err := <-witnessErr:
			t.Fatalf("after %s: the witness subscriber lost its stream: %v", name, err)
		default:
		}
		// Every connection a case opened is gone before the next starts:
		// the server freed what the hostile clients held.
		ssetest.WaitFor(t, 15*time.Second, "the connections of "+name+" to close (only the witness left)",
			func() bool { return h.srv.Stats().Active == 1 })
		mark(name)
	}

	cases := []struct {
		name string
		run  func(*testing.T, *harness)
	}{
		{"smuggling", hostileSmuggling},
		{"slowloris", hostileSlowloris},
		{"never reads", hostileNeverReads},
		{"thousand from one address", hostileThousand},
		{"oversized", hostileOversized},
		{"random bytes", hostileRandomBytes},
		{"half-open", hostileHalfOpen},
	}
	for _, c := range cases {
		began := time.Now()
		t.Run(c.name, func(t *testing.T) { c.run(t, h) })
		settle(c.name)
		t.Logf("%s: %v", c.name, time.Since(began).Round(time.Millisecond))
	}

	// A normal subscriber on three channels gets 100 events, in order.
	s := h.subscribe("/events?channel=n1&channel=n2&channel=n3")
	waitFor(t, "normal subscriber", func() bool { return h.srv.Stats().Subscribers == 2 })
	ids := make([]uint64, 100)
	for i := range ids {
		ids[i] = h.publish(fmt.Sprintf("n%d", i%3+1), "", fmt.Sprintf("normal %d", i))
	}
	for i, id := range ids {
		if f := s.event(t); f.id != id || f.data != fmt.Sprintf("normal %d", i) {
			t.Fatalf("normal subscriber, event %d: got %+v, want id %d", i, f, id)
		}
	}
	for i, id := range witnessed {
		select {
		case f, ok := <-frames:
			if !ok {
				t.Fatalf("witness lost its stream after %d of %d events: %v", i, len(witnessed), <-witnessErr)
			}
			if f.id != id {
				t.Fatalf("witness event %d: got %+v, want id %d", i, f, id)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("witness got %d of %d events", i, len(witnessed))
		}
	}

	st := h.srv.Stats()
	t.Logf("stats: accepted %d, closed by reason %v, slow consumers %d", st.Accepted, st.Closed, st.SlowConsumers())
	if st.Closed[poller.CloseBadRequest] == 0 || st.Closed[poller.CloseHeaderTimeout] == 0 || st.SlowConsumers() == 0 {
		t.Errorf("refusals not counted: bad request %d, header timeout %d, slow consumer %d",
			st.Closed[poller.CloseBadRequest], st.Closed[poller.CloseHeaderTimeout], st.SlowConsumers())
	}
}

// hostileExchange sends raw (from a goroutine, as the server may answer
// before it has read it all) and returns what the server answers until it
// closes. err is nil for a clean close (FIN); a timeout means the server
// neither answered nor closed.
func hostileExchange(h *harness, raw string) (string, error) {
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	go io.WriteString(c, raw)
	b, err := io.ReadAll(c)
	return string(b), err
}

var statusLine = regexp.MustCompile(`HTTP/1\.[01] [1-5][0-9][0-9] `)

// refused checks that an answer is one 4xx/5xx response followed by a
// close. With mayReset, a connection reset is accepted too (the client was
// still sending megabytes when the server gave up draining them), but the
// answer, if any arrived, must still be a refusal.
func refused(t *testing.T, what, got string, err error, mayReset bool) {
	t.Helper()
	if err != nil && !(mayReset && errors.Is(err, syscall.ECONNRESET)) {
		t.Errorf("%s: %v after %.120q; want a refusal and a close", what, err, got)
		return
	}
	if got == "" && mayReset {
		return
	}
	if !strings.HasPrefix(got, "HTTP/1.1 4") && !strings.HasPrefix(got, "HTTP/1.1 5") {
		t.Errorf("%s: got %.120q, want a 4xx or 5xx answer", what, got)
	}
	if n := len(statusLine.FindAllString(got, -1)); n != 1 {
		t.Errorf("%s: %d responses in %.300q, want exactly one (a smuggled request answered?)", what, n, got)
	}
}

// Ambiguous framing that proxies and servers may read differently is
// refused and the connection closed; the request hidden in the body is
// never answered.
func hostileSmuggling(t *testing.T, h *harness) {
	const hidden = "GET /events?channel=smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	before := h.srv.Stats().Closed[poller.CloseBadRequest]
	cases := []struct{ name, raw string }{
		{"CL+TE", "GET /events?channel=a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + hidden},
		{"TE+CL", "GET /events?channel=a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + hidden},
		{"duplicate Content-Length", "GET /events?channel=a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 51\r\n\r\n" + hidden},
		{"TE chunked, identity", "GET /events?channel=a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" + hidden},
		{"TE identity", "GET /events?channel=a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n" + hidden},
		{"obs-fold", "GET /events?channel=a HTTP/1.1\r\nHost: x\r\nX-A: a\r\n Transfer-Encoding: chunked\r\n\r\n" + hidden},
		{"bare CR", "GET /events?channel=a HTTP/1.1\r\nHost: x\rTransfer-Encoding: chunked\r\n\r\n" + hidden},
		{"bare LF", "GET /events?channel=a HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\n" + hidden},
		{"NUL in header", "GET /events?channel=a HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n" + hidden},
		{"space before colon", "GET /events?channel=a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n" + hidden},
		{"absolute-form target", "GET http://evil.example/events?channel=a HTTP/1.1\r\nHost: x\r\n\r\n" + hidden},
		{"HTTP/0.9", "GET /events\r\n" + hidden},
	}
	for _, c := range cases {
		got, err := hostileExchange(h, c.raw)
		refused(t, c.name, got, err, false)
	}
	if n := h.srv.Stats().Closed[poller.CloseBadRequest] - before; n == 0 {
		t.Errorf("no bad requests counted for %d smuggling forms", len(cases))
	}
}

// Fifty clients trickle a head one byte every 100 ms; each is answered 408
// (or closed) once the head deadline passes, and a normal subscriber is
// served meanwhile.
func hostileSlowloris(t *testing.T, h *harness) {
	const n = 50
	before := h.srv.Stats().Closed[poller.CloseHeaderTimeout]
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			done := make(chan struct{})
			go func() {
				head := "GET /events?channel=slow HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("s", 1000)
				tick := time.NewTicker(100 * time.Millisecond)
				defer tick.Stop()
				for k := 0; k < len(head); k++ {
					if _, err := c.Write([]byte{head[k]}); err != nil {
						return
					}
					select {
					case <-done:
						return
					case <-tick.C:
					}
				}
			}()
			defer close(done)
			began := time.Now()
			c.SetReadDeadline(began.Add(10 * time.Second))
			b, err := io.ReadAll(c)
			switch {
			case time.Since(began) > 5*time.Second:
				errs <- fmt.Errorf("slowloris client held %v with a %v head deadline", time.Since(began), hostileHeaderTimeout)
			case err != nil && !errors.Is(err, syscall.ECONNRESET):
				errs <- fmt.Errorf("slowloris client: %v after %q", err, b)
			case len(b) > 0 && !strings.HasPrefix(string(b), "HTTP/1.1 408 "):
				errs <- fmt.Errorf("slowloris client got %.120q, want 408", b)
			}
		}()
	}
	// Meanwhile a normal subscriber connects and gets an event.
	s, err := h.trySubscribe("/events?channel=during-slowloris")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "subscriber during slowloris", func() bool { return h.srv.Stats().Subscribers >= 2 })
	id, err := h.hub.Publish([]byte("during-slowloris"), nil, []byte("hi"))
	if err != nil {
		t.Fatal(err)
	}
	if f := s.event(t); f.id != id {
		t.Errorf("subscriber during slowloris got %+v, want id %d", f, id)
	}
	s.c.Close()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitFor(t, "every slowloris client counted as a header timeout", func() bool {
		return h.srv.Stats().Closed[poller.CloseHeaderTimeout]-before >= n
	})
}

// Everything too large is refused with a status and closed: a 1 MB
// request line, 100,000 header fields, a 20 MB header, 1,000 channels, a
// 10 MB channel name.
func hostileOversized(t *testing.T, h *harness) {
	var many strings.Builder
	many.WriteString("GET /events?channel=a HTTP/1.1\r\nHost: x\r\n")
	for i := 0; i < 100000; i++ {
		many.WriteString("X: y\r\n")
	}
	many.WriteString("\r\n")
	channels := make([]string, 1000)
	for i := range channels {
		channels[i] = fmt.Sprintf("channel=c%d", i)
	}
	cases := []struct {
		name string
		raw  string
	}{
		{"1 MB request line", "GET /events?channel=a&x=" + strings.Repeat("x", 1<<20) + " HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"100,000 headers", many.String()},
		{"20 MB header", "GET /events?channel=a HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 20<<20) + "\r\n\r\n"},
		{"1,000 channels", "GET /events?" + strings.Join(channels, "&") + " HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"10 MB channel name", "GET /events?channel=" + strings.Repeat("n", 10<<20) + " HTTP/1.1\r\nHost: x\r\n\r\n"},
	}
	for _, c := range cases {
		got, err := hostileExchange(h, c.raw)
		refused(t, c.name, got, err, true)
	}
	// As many channels as fit the request-line limit: the channel cap
	// itself refuses them.
	short := make([]string, 700)
	for i := range short {
		short[i] = fmt.Sprintf("channel=%c%c", 'a'+i%26, 'a'+i/26%26)
	}
	got, err := hostileExchange(h, "GET /events?"+strings.Join(short, "&")+" HTTP/1.1\r\nHost: x\r\n\r\n")
	refused(t, "700 channels in a line under the limit", got, err, false)
	if !strings.HasPrefix(got, "HTTP/1.1 400 ") {
		t.Errorf("700 channels: got %.120q, want 400 (too many channels)", got)
	}
}
