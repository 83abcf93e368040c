package poller_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ssedge/ssedge/poller"
)

// drained is what one stream saw of a drain, from the client's side.
type drained struct {
	ids    []uint64 // events, in order
	retry  int      // the retry of the last frame before the end; -1 if the last frame was no retry advice
	closed time.Time
	err    error // how the stream ended, if not with EOF
}

// readToEnd reads s until it ends (at most within d).
func readToEnd(s *sub, d time.Duration) drained {
	var got drained
	got.retry = -1
	deadline := time.Now().Add(d)
	for {
		f, err := s.st.NextBy(deadline)
		if err != nil {
			got.closed = time.Now()
			if !errors.Is(err, io.EOF) {
				got.err = err
			}
			return got
		}
		switch {
		case f.Dispatched:
			var id uint64
			fmt.Sscan(f.ID, &id)
			got.ids = append(got.ids, id)
			got.retry = -1
		case f.Retry >= 0:
			got.retry = f.Retry
		}
	}
}

// A drain over real sockets: every stream gets every event published
// before the drain, then a retry frame, then EOF; the closes are spread
// over the window and the retries differ; a parked long-poll is answered
// at once; a new connection is refused or answered 503, never left
// hanging.
func TestDrainSpreadsCloses(t *testing.T) {
	const streams, events = 300, 20
	const window = 2 * time.Second
	h := start(t, poller.Config{})
	subs := make([]*sub, streams)
	for i := range subs {
		subs[i] = h.subscribe("/events?channel=d")
	}
	waitFor(t, "every stream subscribed", func() bool { return h.srv.Stats().Subscribers == streams })

	poll := h.dial()
	fmt.Fprintf(poll, "GET /poll?channel=quiet&timeout=30 HTTP/1.1\r\nHost: x\r\n\r\n")
	waitFor(t, "the long-poll parked", func() bool { return h.srv.Stats().LongPollsParked == 1 })

	idle := h.dial() // connected before the drain; its request comes during it
	waitFor(t, "the idle connection accepted", func() bool { return h.srv.Stats().Active == streams+2 })

	var want []uint64
	for i := range events {
		want = append(want, h.publish("d", "", fmt.Sprint("event ", i)))
	}
	// The publish socket first, as ssedge serve does: what it took is
	// final, and the drain delivers all of it.
	h.in.Close(context.Background())

	results := make([]drained, streams)
	var wg sync.WaitGroup
	for i, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = readToEnd(s, window+10*time.Second)
		}()
	}
	type pollResult struct {
		head string
		at   time.Time
	}
	polled := make(chan pollResult, 1)
	go func() {
		poll.SetReadDeadline(time.Now().Add(20 * time.Second))
		line, _ := bufio.NewReader(poll).ReadString('\n')
		polled <- pollResult{line, time.Now()}
	}()

	begin := time.Now()
	done := make(chan poller.DrainResult, 1)
	go func() { done <- h.srv.Drain(context.Background(), window) }()

	// The answer shows the drain has begun.
	p := <-polled
	if !strings.HasPrefix(p.head, "HTTP/1.1 200 ") {
		t.Errorf("parked long-poll answered %q, want 200", p.head)
	} else if d := p.at.Sub(begin); d > window/2 {
		t.Errorf("parked long-poll answered %v after the drain began, want at once", d)
	}

	// A client that comes during the drain is refused or answered 503.
	ssetest503 := func() string {
		c, err := net.DialTimeout("tcp", h.addr, 5*time.Second)
		if err != nil {
			return "refused"
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET /events?channel=d HTTP/1.1\r\nHost: x\r\n\r\n")
		b, err := io.ReadAll(c)
		switch {
		case len(b) == 0 && err == nil:
			return "refused" // accepted from the queue, then the socket closed: EOF, no hang
		case len(b) == 0 && errors.Is(err, syscall.ECONNRESET):
			return "refused: reset" // queued when its listener closed
		case len(b) == 0:
			return "hang or error: " + err.Error()
		}
		return string(b)
	}
	ssetest503()
	io.WriteString(idle, "GET /events?channel=d HTTP/1.1\r\nHost: x\r\n\r\n")
	idle.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, _ := io.ReadAll(idle); !strings.HasPrefix(string(b), "HTTP/1.1 503 ") || !strings.Contains(string(b), "\r\nRetry-After: ") {
		t.Errorf("a request during the drain got %q, want 503 with Retry-After", b)
	}
	if got := ssetest503(); !strings.HasPrefix(got, "refused") && !strings.HasPrefix(got, "HTTP/1.1 503 ") {
		t.Errorf("a connection during the drain got %q, want refused or 503", got)
	} else if strings.HasPrefix(got, "HTTP/1.1 503 ") && !strings.Contains(got, "Retry-After: ") {
		t.Errorf("503 during the drain without Retry-After: %q", got)
	}

	var res poller.DrainResult
	select {
	case res = <-done:
	case <-time.After(window + 10*time.Second):
		t.Fatal("Drain did not return")
	}
	wg.Wait()
	if res.Cut || res.Closed < streams || res.Streams != streams {
		t.Errorf("Drain = %+v, want %d streams closed, not cut", res, streams)
	}
	if res.Elapsed < window*9/10 {
		t.Errorf("Drain took %v, want about the window %v", res.Elapsed, window)
	}

	var buckets [4]int
	retries := map[int]bool{}
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("stream %d: %v", i, r.err)
		}
		if fmt.Sprint(r.ids) != fmt.Sprint(want) {
			t.Fatalf("stream %d got events %v, want %v", i, r.ids, want)
		}
		if r.retry < 0 || r.retry > int(window/4/time.Millisecond) {
			t.Fatalf("stream %d: last frame before EOF is no retry in [0, window/4] (retry %d)", i, r.retry)
		}
		retries[r.retry] = true
		b := int(r.closed.Sub(begin) * 4 / window)
		buckets[min(max(b, 0), 3)]++
	}
	t.Logf("closes per quarter of the window: %v; %d distinct retry values", buckets, len(retries))
	for i, n := range buckets {
		if n > 2*streams/4 {
			t.Errorf("quarter %d of the window holds %d of %d closes (more than twice the average): %v", i, n, streams, buckets)
		}
	}
	if len(retries) < streams/4 {
		t.Errorf("only %d distinct retry values among %d streams", len(retries), streams)
	}
	if got := h.srv.Stats().Closed[poller.CloseDrain]; got < streams {
		t.Errorf("Stats.Closed[CloseDrain] = %d, want at least %d", got, streams)
	}
}

// A cancelled drain (a second SIGTERM) returns at once and leaves the rest
// to Close.
func TestDrainCut(t *testing.T) {
	h := start(t, poller.Config{})
	s := h.subscribe("/events?channel=d")
	waitFor(t, "subscribed", func() bool { return h.srv.Stats().Subscribers == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan poller.DrainResult, 1)
	begin := time.Now()
	go func() { done <- h.srv.Drain(ctx, time.Minute) }()
	cancel()
	res := <-done
	if !res.Cut || time.Since(begin) > 10*time.Second {
		t.Fatalf("Drain after cancel = %+v, want cut short at once", res)
	}
	h.srv.Close()
	if r := readToEnd(s, 5*time.Second); r.err != nil {
		t.Fatalf("stream after Close: %v", r.err)
	}
}

// A shared unix listener is closed once every loop has let go of it, and
// its file removed; a stream on it drains like the others.
func TestDrainUnixListener(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub.sock")
	h := start(t, poller.Config{Listen: []string{"unix:" + path}})
	s, err := h.subscribeOn("unix", path, "/events?channel=d")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "subscribed", func() bool { return h.srv.Stats().Subscribers == 1 })
	res := h.srv.Drain(context.Background(), 200*time.Millisecond)
	if res.Cut || res.Closed != 1 {
		t.Fatalf("Drain = %+v, want one close, not cut", res)
	}
	if e := readToEnd(s, 5*time.Second); e.err != nil || e.retry < 0 {
		t.Fatalf("stream: retry %d, end %v; want a retry frame, then EOF", e.retry, e.err)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("unix socket file after the drain: %v, want it removed", err)
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		t.Error("the unix listener still accepts after the drain")
	}
}
