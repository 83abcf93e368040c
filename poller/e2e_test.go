package poller_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
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

// 2,000 subscribers across both loops each get every event once, in order.
func TestManySubscribers(t *testing.T) {
	const n, events = 2000, 20
	h := start(t, poller.Config{})
	subs := make([]*sub, n)
	for i := range subs {
		subs[i] = h.subscribe(fmt.Sprintf("/events?channel=all&channel=own%d", i))
	}
	waitFor(t, "all subscriptions", func() bool { return h.srv.Stats().Subscribers == n })
	ids := make([]uint64, events)
	for i := range ids {
		ids[i] = h.publish("all", "", fmt.Sprintf("event %d", i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, s := range subs {
		wg.Add(1)
		go func(i int, s *sub) {
			defer wg.Done()
			for k, id := range ids {
				f, err := s.nextEvent(20 * time.Second)
				if err != nil {
					errs <- fmt.Errorf("subscriber %d, event %d: %v", i, k, err)
					return
				}
				if f.id != id || f.data != fmt.Sprintf("event %d", k) {
					errs <- fmt.Errorf("subscriber %d got %+v, want id %d data %q", i, f, id, fmt.Sprintf("event %d", k))
					return
				}
			}
		}(i, s)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := h.srv.Stats(); st.Deliveries != n*events {
		t.Errorf("deliveries = %d, want %d", st.Deliveries, n*events)
	}
}

// A subscriber that stops reading is closed as a slow consumer; the loop
// does not freeze and the others keep receiving.
func TestSlowConsumerClosed(t *testing.T) {
	h := start(t, poller.Config{Loops: 1, MaxBacklogBytes: 64 << 10, MaxBacklogFrames: 100000})
	slow := h.subscribe("/events?channel=flood")
	if tc, ok := slow.c.(*net.TCPConn); ok {
		tc.SetReadBuffer(128 << 10) // above the loopback MSS, or TCP crawls on window probes
	}
	fast := h.subscribe("/events?channel=flood")
	waitFor(t, "subscriptions", func() bool { return h.srv.Stats().Subscribers == 2 })
	data := strings.Repeat("x", 4000)
	const events = 4000 // 16 MB: far more than the socket buffers plus the backlog bound
	read := make(chan int, events)
	done := make(chan error, 1)
	go func() {
		for i := 0; i < events; i++ {
			_, err := fast.nextEvent(10 * time.Second)
			if err != nil {
				done <- fmt.Errorf("fast subscriber at event %d: %v", i, err)
				return
			}
			read <- i
		}
		done <- nil
	}()
	// Publish at the pace of the fast reader (a window of 8 events, well
	// inside its backlog bound), so only the one that never reads falls
	// behind.
	caughtUp := -1
	for i := 0; i < events; i++ {
		for i-caughtUp > 8 {
			select {
			case caughtUp = <-read:
			case err := <-done:
				t.Fatal(err)
			}
		}
		if _, err := h.hub.Publish([]byte("flood"), nil, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "slow consumer closed", func() bool { return h.srv.Stats().SlowConsumers() == 1 })
	// The slow client sees the stream end once it drains what was sent.
	slow.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, slow.br); err != nil {
		t.Fatalf("slow subscriber: want EOF after close, got %v", err)
	}
	if st := h.srv.Stats(); st.Subscribers != 1 {
		t.Errorf("subscribers = %d, want 1", st.Subscribers)
	}
}

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

// A request head split across many writes is reassembled.
func TestSplitRequest(t *testing.T) {
	h := start(t, poller.Config{})
	c := h.dial()
	req := "GET /events?channel=split HTTP/1.1\r\nHost: x\r\nUser-Agent: slow\r\n\r\n"
	for i := 0; i < len(req); i++ {
		c.Write([]byte{req[i]})
		time.Sleep(time.Millisecond)
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
	time.Sleep(300 * time.Millisecond) // let the answers back up
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
