package poller_test

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
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

// Import refuses a hand-off it cannot place (a negative loop, an unknown
// kind) with an error, never a panic, and takes nothing.
func TestImportRefusesBadConns(t *testing.T) {
	hub := pubsub.NewHub(pubsub.Config{})
	defer hub.Close()
	srv, err := poller.New(poller.Config{Listen: []string{"127.0.0.1:0"}, Loops: 2, Hub: hub, Log: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	for _, hc := range []poller.HandoffConn{
		{FD: fds[0], Loop: -1, Kind: poller.HandoffStream, Channels: []string{"a"}},
		{FD: fds[0], Loop: 0, Kind: 0},
		{FD: fds[0], Loop: 1, Kind: 9},
		{FD: -1, Loop: 1, Kind: poller.HandoffReading},
	} {
		if err := srv.Import([]poller.HandoffConn{hc}); err == nil {
			t.Errorf("Import took %+v", hc)
		}
	}
	if n := srv.Stats().Active; n != 0 {
		t.Fatalf("%d connections taken, want 0", n)
	}
}

// A unix listener's lock moves with it: a server given it (Inherited.Lock)
// holds it once the old one commits, so no third server can take the
// path, and removes the file when it stops; one that never started (a new
// process that gave up) leaves the file, still the old server's, alone.
func TestHandoffUnixLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub.sock")
	h := start(t, poller.Config{Listen: []string{"unix:" + path}})
	locked := func() bool {
		f, err := os.OpenFile(path+".lock", os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == unix.EWOULDBLOCK
	}
	inherit := func(hd *poller.Handoff) poller.Config {
		ln := hd.Listeners[0]
		if !ln.HasLock || ln.Lock < 0 || ln.Network != "unix" {
			t.Fatalf("the unix listener travels without its lock: %+v", ln)
		}
		lock := dupAll(t, []int{ln.Lock})[0]
		return poller.Config{Inherited: []poller.Inherited{{Addr: &net.UnixAddr{Name: ln.Addr, Net: "unix"},
			FDs: dupAll(t, ln.FDs), Lock: os.NewFile(uintptr(lock), "lock")}}}
	}

	hd := pause(t, h)
	cfg := inherit(hd)
	hub2 := pubsub.NewHub(pubsub.Config{Seed: h.hub.LastID()})
	defer hub2.Close()
	cfg.Hub, cfg.Loops, cfg.Log = hub2, 2, zaptest.NewLogger(t)
	gaveUp, err := poller.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	gaveUp.Close()
	hd.Abort()
	if _, err := os.Stat(path); err != nil || !locked() {
		t.Fatalf("a server that never started took the file with it (%v) or the lock (held: %v)", err, locked())
	}

	hd = pause(t, h)
	cfg = inherit(hd)
	hub3 := pubsub.NewHub(pubsub.Config{Seed: h.hub.LastID()})
	defer hub3.Close()
	cfg.Hub, cfg.Loops, cfg.Log = hub3, 2, zaptest.NewLogger(t)
	srv2, err := poller.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hd.Commit()
	srv2.Start()
	h.srv = srv2 // the harness closes it (again) and checks it at the end
	if !locked() {
		t.Fatal("after the commit nobody holds the lock")
	}
	srv2.Close()
	if _, err := os.Stat(path); err == nil || locked() {
		t.Fatalf("the new server left the file (%v) or the lock (held: %v) behind", err, locked())
	}
}

// A Pause right after an Abort (a second upgrade at once) is not lost:
// a loop still finishing the aborted attempt takes the new request too.
func TestHandoffPauseAgainAtOnce(t *testing.T) {
	h := start(t, poller.Config{})
	for range 5 {
		pause(t, h).Abort()
	}
	first := h.publish("a", "", "still serving")
	if first == 0 {
		t.Fatal("no id")
	}
}

// A client that hangs up while its stream is paused is noticed by
// whichever server goes on, with no event published, and so is one that
// hangs up after: the connections stay on the old epoll through the pause
// (Abort finds the first hang-up there, and only a registration that
// survived reports the second), and a new server's registration reports
// what is pending (Import does not read an idle stream by itself).
func TestHandoffHangUpWhilePaused(t *testing.T) {
	for _, commit := range []bool{false, true} {
		t.Run(map[bool]string{false: "abort", true: "import"}[commit], func(t *testing.T) {
			h := start(t, poller.Config{})
			h.subscribe("/events?channel=a") // stays
			during := h.subscribe("/events?channel=a")
			after := h.subscribe("/events?channel=a")
			waitFor(t, "the subscribers", func() bool { return h.srv.Stats().Subscribers == 3 })
			hd := pause(t, h)
			during.c.Close()
			time.Sleep(50 * time.Millisecond) // the FIN is in the socket before anyone looks
			srv := h.srv
			if commit {
				srv, _ = takeOver(t, h, hd, poller.Config{})
			} else {
				hd.Abort()
			}
			waitFor(t, "the stream hung up during the pause closed", func() bool { return srv.Stats().Subscribers == 2 })
			after.c.Close()
			waitFor(t, "the stream hung up after closed", func() bool { return srv.Stats().Subscribers == 1 })
			waitFor(t, "one connection left", func() bool { return srv.Stats().Active == 1 }) // a close's counters are not one atomic step
		})
	}
}
