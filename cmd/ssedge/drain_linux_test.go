package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ending is what one client saw of the server's stop.
type ending struct {
	ids    []uint64
	retry  int // retry of the last frame before EOF; -1 if it was no retry advice
	closed time.Time
	err    error // how the stream ended, if not with EOF
}

func (s *stream) readToEnd(d time.Duration) ending {
	e := ending{retry: -1}
	deadline := time.Now().Add(d)
	for {
		f, err := s.st.NextBy(deadline)
		if err != nil {
			e.closed = time.Now()
			if !errors.Is(err, io.EOF) {
				e.err = err
			}
			return e
		}
		switch {
		case f.Dispatched:
			id, _ := strconv.ParseUint(f.ID, 10, 64)
			e.ids = append(e.ids, id)
			e.retry = -1
		case f.Retry >= 0:
			e.retry = f.Retry
		}
	}
}

// readAllToEnd reads every stream to its end, concurrently.
func readAllToEnd(streams []*stream, d time.Duration) []ending {
	out := make([]ending, len(streams))
	var wg sync.WaitGroup
	for i, st := range streams {
		wg.Add(1)
		go func() { defer wg.Done(); out[i] = st.readToEnd(d) }()
	}
	wg.Wait()
	return out
}

// newcomer connects during a drain: it must be refused or answered 503,
// never left hanging.
func newcomer(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return // refused: the listeners are closed
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /events?channel=news HTTP/1.1\r\nHost: x\r\n\r\n")
	b, err := io.ReadAll(c)
	if err != nil && len(b) == 0 && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("a connection during the drain: %v, want refused or 503", err)
	}
	if len(b) > 0 && !strings.HasPrefix(string(b), "HTTP/1.1 503 ") {
		t.Errorf("a connection during the drain got %q, want refused or 503", b)
	}
}

// SIGTERM drains: every stream gets every event published before it, then
// a retry frame, then EOF, the closes spread over the window; the process
// exits 0. The same with --procs 3, where no worker is restarted.
func TestServeDrain(t *testing.T) {
	const n = 150
	const window = 2 * time.Second
	for _, procs := range []string{"1", "3"} {
		t.Run("procs="+procs, func(t *testing.T) {
			s := startServer(t, "--procs", procs, "--loops", "1", "--drain-window", window.String())
			var streams []*stream
			for range n {
				streams = append(streams, openStream(t, s.listen, "/events?channel=news"))
			}
			s.waitSubscribed(t, n)
			var want []uint64
			for i := range 3 {
				want = append(want, publishID(t, s.socket, "news", fmt.Sprint("event ", i)))
			}
			begin := time.Now()
			s.cmd.Process.Signal(syscall.SIGTERM)
			exited := make(chan error, 1)
			go func() { exited <- s.cmd.Wait() }()
			s.logs.Wait(t, 10*time.Second, 1, `"msg":"draining`)
			newcomer(t, s.listen)
			ends := readAllToEnd(streams, window+15*time.Second)
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("exit after the drain: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("the server did not exit after the drain")
			}
			var quarters [4]int
			retries := map[int]bool{}
			for i, e := range ends {
				if e.err != nil || fmt.Sprint(e.ids) != fmt.Sprint(want) || e.retry < 0 {
					t.Fatalf("stream %d: ids %v (want %v), last retry %d, end %v", i, e.ids, want, e.retry, e.err)
				}
				retries[e.retry] = true
				q := int(e.closed.Sub(begin) * 4 / window)
				quarters[min(max(q, 0), 3)]++
			}
			t.Logf("closes per quarter of the %v window: %v; %d distinct retry values", window, quarters, len(retries))
			for i, c := range quarters {
				if c > 2*n/4 {
					t.Errorf("quarter %d holds %d of %d closes, more than twice the average: %v", i, c, n, quarters)
				}
			}
			if len(retries) < n/4 {
				t.Errorf("%d distinct retry values among %d streams", len(retries), n)
			}
			if got := s.logs.Count("worker died"); got != 0 {
				t.Errorf("%d workers restarted during the drain", got)
			}
		})
	}
}

// --drain-window 0 closes at once; a second SIGTERM during a drain does
// too. Both exit 0.
func TestServeDrainAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		twice bool
	}{
		{"window=0", []string{"--drain-window", "0"}, false},
		{"second signal", []string{"--drain-window", "1m"}, true},
		{"second signal procs=3", []string{"--drain-window", "1m", "--procs", "3", "--loops", "1"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, tc.args...)
			var streams []*stream
			for range 6 {
				streams = append(streams, openStream(t, s.listen, "/events?channel=news"))
			}
			s.waitSubscribed(t, len(streams))
			s.cmd.Process.Signal(syscall.SIGTERM)
			if tc.twice {
				s.logs.Wait(t, 10*time.Second, 1, `"msg":"draining`)
				s.cmd.Process.Signal(syscall.SIGTERM)
			}
			begin := time.Now()
			for i, e := range readAllToEnd(streams, 10*time.Second) {
				if e.err != nil {
					t.Fatalf("stream %d: %v", i, e.err)
				}
			}
			if d := time.Since(begin); d > 5*time.Second {
				t.Errorf("streams closed after %v, want at once", d)
			}
			if err := s.cmd.Wait(); err != nil {
				t.Fatalf("exit: %v", err)
			}
			if d := time.Since(begin); d > 8*time.Second {
				t.Errorf("exited %v after the signal, want at once", d)
			}
		})
	}
}
