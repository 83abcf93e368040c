package poller_test

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"

	"github.com/ssedge/ssedge/poller"
	"github.com/ssedge/ssedge/pubsub"
)

func pause(t *testing.T, h *harness) *poller.Handoff {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hd, err := h.srv.Pause(ctx, h.hub.LastID())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hd.Abort) // a test that fails while paused must not leave the loops waiting (a no-op after Commit or Abort)
	return hd
}

// Abort puts every listener and stream back: the streams go on from the
// same id and new connections are served.
func TestHandoffAbort(t *testing.T) {
	h := start(t, poller.Config{})
	s := h.subscribe("/events?channel=a")
	waitFor(t, "the subscriber", func() bool { return h.srv.Stats().Subscribers == 1 })
	first := h.publish("a", "", "one")
	if f := s.event(t); f.id != first {
		t.Fatalf("got id %d, want %d", f.id, first)
	}
	hd := pause(t, h)
	if len(hd.Conns) != 1 || hd.Conns[0].Kind != poller.HandoffStream || len(hd.Listeners) != 1 || len(hd.Listeners[0].FDs) != 2 {
		t.Fatalf("export: %d conns %+v, listeners %+v", len(hd.Conns), hd.Conns, hd.Listeners)
	}
	hd.Abort()
	second := h.publish("a", "", "two")
	if f := s.event(t); f.id != second {
		t.Fatalf("after the abort got id %d, want %d", f.id, second)
	}
	late := h.subscribe("/events?channel=b")
	waitFor(t, "the new subscriber", func() bool { return h.srv.Stats().Subscribers == 2 })
	third := h.publish("b", "", "three")
	if f := late.event(t); f.id != third {
		t.Fatalf("a new stream got id %d, want %d", f.id, third)
	}
}

// dupAll duplicates descriptors, as passing them to another process
// would: the old server closes its own on Commit.
func dupAll(t *testing.T, fds []int) []int {
	t.Helper()
	out := make([]int, len(fds))
	for i, fd := range fds {
		d, err := unix.Dup(fd)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = d
	}
	return out
}

// Import into a second server (as a new process would) and Commit the
// first: the same connections go on from the next id, with their
// channels, and the listeners serve new ones.
func TestHandoffImport(t *testing.T) {
	h := start(t, poller.Config{})
	a := h.subscribe("/events?channel=a")
	b := h.subscribe("/events?channel=b&channel=c")
	idle := h.dial() // between requests: handed over as reading
	waitFor(t, "the subscribers", func() bool { return h.srv.Stats().Subscribers == 2 })
	first := h.publish("a", "", "one")
	if f := a.event(t); f.id != first {
		t.Fatalf("got id %d, want %d", f.id, first)
	}
	hd := pause(t, h)
	srv2, hub2 := takeOver(t, h, hd, poller.Config{})
	if st := srv2.Stats(); st.Subscribers != 2 || st.Active != 3 {
		t.Fatalf("imported: %d subscribers, %d active; want 2 and 3", st.Subscribers, st.Active)
	}
	second, err := hub2.Publish([]byte("c"), nil, []byte("two"))
	if err != nil {
		t.Fatal(err)
	}
	if second != first+1 {
		t.Fatalf("the new hub's first id %d, want %d", second, first+1)
	}
	if f := b.event(t); f.id != second {
		t.Fatalf("the stream on b and c got id %d, want %d", f.id, second)
	}
	// The idle connection is served by the new server.
	idle.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := idle.Write([]byte("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 12)
	if _, err := idle.Read(buf); err != nil || string(buf) != "HTTP/1.1 404" {
		t.Fatalf("the idle connection's request got %q (%v), want a 404", buf, err)
	}
	// A new connection lands on the handed-over listeners.
	late := h.subscribe("/events?channel=a")
	waitFor(t, "the new subscriber", func() bool { return srv2.Stats().Subscribers == 3 })
	third, _ := hub2.Publish([]byte("a"), nil, []byte("three"))
	for _, s := range []*sub{a, late} {
		if f := s.event(t); f.id != third {
			t.Fatalf("got id %d, want %d", f.id, third)
		}
	}
}

// takeOver does what a new process does with a Handoff: a hub seeded at
// the old one's last id, a server on the listeners (duplicated, as
// passing them to another process would: the old server closes its own on
// Commit), the connections imported; then it commits the old server and
// starts the new one, which the harness checks and closes at the end.
func takeOver(t *testing.T, h *harness, hd *poller.Handoff, cfg poller.Config) (*poller.Server, *pubsub.Hub) {
	t.Helper()
	hub2 := pubsub.NewHub(pubsub.Config{Seed: h.hub.LastID()})
	t.Cleanup(hub2.Close)
	cfg.Hub, cfg.Loops, cfg.Log = hub2, 2, zaptest.NewLogger(t)
	for _, ln := range hd.Listeners {
		addr, err := net.ResolveTCPAddr("tcp", ln.Addr)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Inherited = append(cfg.Inherited, poller.Inherited{Addr: addr, FDs: dupAll(t, ln.FDs)})
	}
	conns := append([]poller.HandoffConn(nil), hd.Conns...)
	for i := range conns {
		conns[i].FD = dupAll(t, []int{conns[i].FD})[0]
	}
	srv2, err := poller.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv2.Import(conns); err != nil {
		srv2.Close()
		t.Fatal(err)
	}
	hd.Commit()
	srv2.Start()
	h.srv = srv2 // the harness's Close and counter checks apply to the new server
	return srv2, hub2
}

// A stream that has not read its events has a backlog: it moves as bytes
// and goes out first from the new server, then the new events follow,
// every id once and in order.
func TestHandoffBacklog(t *testing.T) {
	cfg := poller.Config{MaxBacklogBytes: 64 << 20, MaxBacklogFrames: 16384}
	h := start(t, cfg)
	s := h.subscribe("/events?channel=a")
	s.c.(*net.TCPConn).SetReadBuffer(256 << 10) // no autotuning: the server's backlog comes sooner (not below the loopback MSS, or TCP stalls)
	waitFor(t, "the subscriber", func() bool { return h.srv.Stats().Subscribers == 1 })
	data := strings.Repeat("x", 8<<10)
	var ids []uint64
	var hd *poller.Handoff
	// Publish until the kernel's buffers are full and the stream has a
	// backlog (how much they hold depends on the kernel's autotuning):
	// each look is a pause, and an abort when there is none yet.
	for round := 0; ; round++ {
		for range 100 {
			ids = append(ids, h.publish("a", "", data))
		}
		hd = pause(t, h)
		if len(hd.Conns) != 1 {
			t.Fatalf("%d connections exported, want 1", len(hd.Conns))
		}
		if len(hd.Conns[0].Out) > 0 {
			break
		}
		if round == 30 {
			t.Fatalf("no backlog after %d events of %d bytes", len(ids), len(data))
		}
		hd.Abort()
	}
	_, hub2 := takeOver(t, h, hd, cfg)
	last, err := hub2.Publish([]byte("a"), nil, []byte("after"))
	if err != nil {
		t.Fatal(err)
	}
	ids = append(ids, last)
	// Megabytes of frames: read the id lines straight off the wire (the
	// frame parser goes byte by byte).
	s.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for i, want := range ids {
		for {
			line, err := s.br.ReadSlice('\n')
			if err != nil && err != bufio.ErrBufferFull {
				t.Fatalf("event %d: %v", i, err)
			}
			if v, ok := bytes.CutPrefix(line, []byte("id: ")); ok {
				if id, _ := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64); id != want {
					t.Fatalf("event %d: id %d, want %d", i, id, want)
				}
				break
			}
		}
	}
}
