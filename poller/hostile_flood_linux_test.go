package poller_test

// Hostile clients that flood: with bytes, connections and events. Run by
// TestHostileClients (hostile_linux_test.go).

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A subscriber that never reads while 20 MB go to its channel is closed
// as a slow consumer; the loop never freezes: a reading subscriber on the
// same channel gets every event, in order.
func hostileNeverReads(t *testing.T, h *harness) {
	const size, events = 4000, 5000 // 20 MB
	before := h.srv.Stats().SlowConsumers()
	stuck, err := h.trySubscribe("/events?channel=flood")
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.c.Close()
	fast, err := h.trySubscribe("/events?channel=flood")
	if err != nil {
		t.Fatal(err)
	}
	defer fast.c.Close()
	waitFor(t, "flood subscribers", func() bool { return h.srv.Stats().Subscribers >= 3 })
	data := strings.Repeat("f", size)
	read := make(chan uint64, events)
	done := make(chan error, 1)
	go func() {
		for i := 0; i < events; i++ {
			f, err := fast.nextEvent(10 * time.Second)
			if err != nil {
				done <- fmt.Errorf("reading subscriber at event %d: %v", i, err)
				return
			}
			if len(f.data) != size {
				done <- fmt.Errorf("reading subscriber, event %d: %d bytes of data", i, len(f.data))
				return
			}
			read <- f.id
		}
		done <- nil
	}()
	// Publish at the reader's pace (a window of 8 events, far inside its
	// backlog bound), so only the client that never reads falls behind.
	ids := make([]uint64, 0, events)
	got := 0
	for i := 0; i < events; i++ {
		for len(ids)-got >= 8 {
			select {
			case id := <-read:
				if id != ids[got] {
					t.Fatalf("reading subscriber got id %d, want %d", id, ids[got])
				}
				got++
			case err := <-done:
				t.Fatal(err)
			}
		}
		id, err := h.hub.Publish([]byte("flood"), nil, []byte(data))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for ; got < events; got++ {
		if id := <-read; id != ids[got] {
			t.Fatalf("reading subscriber got id %d, want %d", id, ids[got])
		}
	}
	waitFor(t, "slow consumer closed", func() bool { return h.srv.Stats().SlowConsumers() > before })
	// Its stream ends: what the kernel buffered, then EOF or a reset.
	stuck.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, stuck.br); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("slow consumer's stream did not end: %v", err)
	}
}

// A thousand connections from one address at once: half send nothing (the
// head deadline answers them 408), half subscribe and hold their streams.
// Each is served or cleanly refused, and the server stays responsive.
func hostileThousand(t *testing.T, h *harness) {
	const n = 1000
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		defer c.Close()
		conns[i] = c
		if i%2 == 1 {
			io.WriteString(c, "GET /events?channel=crowd HTTP/1.1\r\nHost: x\r\n\r\n")
		}
	}
	// Responsive while they are held.
	s, err := h.trySubscribe("/events?channel=beside-crowd")
	if err != nil {
		t.Fatal(err)
	}
	defer s.c.Close()
	// Its 200 head is written once it has joined its channel, so what is
	// published now reaches it.
	id, err := h.hub.Publish([]byte("beside-crowd"), nil, []byte("hi"))
	if err != nil {
		t.Fatal(err)
	}
	if f := s.event(t); f.id != id {
		t.Fatalf("subscriber beside the crowd got %+v, want id %d", f, id)
	}
	// Wait until each streaming client's head is in (or it was refused),
	// then one event must reach every client that was served.
	heads := make([]string, n)
	var wg sync.WaitGroup
	for i := 1; i < n; i += 2 {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c := conns[i]
			c.SetReadDeadline(time.Now().Add(15 * time.Second))
			buf := make([]byte, 0, 512)
			tmp := make([]byte, 512)
			for !strings.Contains(string(buf), "\r\n\r\n") {
				k, err := c.Read(tmp)
				buf = append(buf, tmp[:k]...)
				if err != nil {
					break
				}
			}
			heads[i] = string(buf)
		}(i)
	}
	wg.Wait()
	served := 0
	for i := 1; i < n; i += 2 {
		switch {
		case strings.HasPrefix(heads[i], "HTTP/1.1 200 "):
			served++
		case strings.HasPrefix(heads[i], "HTTP/1.1 429 "), strings.HasPrefix(heads[i], "HTTP/1.1 503 "):
		default:
			t.Errorf("streaming client %d: head %.120q, want 200 or a clean refusal (429, 503)", i, heads[i])
		}
	}
	crowd, err := h.hub.Publish([]byte("crowd"), nil, []byte("to all"))
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c := conns[i]
			c.SetReadDeadline(time.Now().Add(15 * time.Second))
			if i%2 == 1 {
				if !strings.HasPrefix(heads[i], "HTTP/1.1 200 ") {
					return
				}
				_, rest, _ := strings.Cut(heads[i], "\r\n\r\n")
				want := fmt.Sprintf("id: %d\n", crowd)
				b := []byte(rest)
				tmp := make([]byte, 512)
				for !strings.Contains(string(b), want) {
					k, err := c.Read(tmp)
					b = append(b, tmp[:k]...)
					if err != nil {
						errs <- fmt.Errorf("streaming client %d: %v before event %d (got %.200q)", i, err, crowd, b)
						return
					}
				}
				return
			}
			b, err := io.ReadAll(c)
			if err != nil && !errors.Is(err, syscall.ECONNRESET) || len(b) > 0 && !strings.HasPrefix(string(b), "HTTP/1.1 408 ") {
				errs <- fmt.Errorf("idle client %d: got %.120q, %v; want 408 and a close", i, b, err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("streaming clients served: %d of %d", served, n/2)
	for _, c := range conns {
		c.Close()
	}
}

// Two hundred clients each send 4 KB of (seeded) random bytes; half read
// what comes back, half close at once.
func hostileRandomBytes(t *testing.T, h *harness) {
	const n, size, parallel = 200, 4096, 20
	rng := rand.New(rand.NewPCG(6, 2026))
	payloads := make([][]byte, n)
	for i := range payloads {
		payloads[i] = make([]byte, size)
		for k := range payloads[i] {
			payloads[i][k] = byte(rng.Uint32())
		}
	}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			c, err := net.Dial("tcp", h.addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(15 * time.Second))
			if _, err := c.Write(payloads[i]); err != nil || i%2 == 0 {
				return
			}
			c.(*net.TCPConn).CloseWrite()
			b, err := io.ReadAll(c)
			if err != nil && !errors.Is(err, syscall.ECONNRESET) || len(b) > 0 && !strings.HasPrefix(string(b), "HTTP/1.1 4") && !strings.HasPrefix(string(b), "HTTP/1.1 5") {
				errs <- fmt.Errorf("random client %d: got %.120q, %v; want a refusal or a close", i, b, err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Clients that connect and close at once, and clients that send half a
// request and reset (SO_LINGER 0), leave nothing behind.
func hostileHalfOpen(t *testing.T, h *harness) {
	for i := 0; i < 200; i++ {
		c, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			io.WriteString(c, "GET /events?channel=half HTTP/1.1\r\nHo")
			c.(*net.TCPConn).SetLinger(0)
		}
		c.Close()
	}
	// A full subscriber that then resets its stream.
	s, err := h.trySubscribe("/events?channel=half")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "half-open subscriber", func() bool { return h.srv.Stats().Subscribers >= 2 })
	s.c.(*net.TCPConn).SetLinger(0)
	s.c.Close()
	if _, err := h.hub.Publish([]byte("half"), nil, []byte("to a reset peer")); err != nil {
		t.Fatal(err)
	}
}
