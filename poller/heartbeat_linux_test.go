package poller_test

import (
	"bytes"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ssedge/ssedge/poller"
	"github.com/ssedge/ssedge/pubsub"
)

// wheelLoop is a hand-driven loop (no goroutine, its clock set by the
// test) with one subscriber per query, each on a socketpair; it returns
// the clients' ends.
func wheelLoop(t *testing.T, hb time.Duration, queries ...string) (*pubsub.Hub, *poller.Server, *poller.Driver, []int) {
	t.Helper()
	hub := pubsub.NewHub(pubsub.Config{})
	srv, err := poller.New(poller.Config{Hub: hub, Loops: 1, Heartbeat: hb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(); hub.Close() })
	d := srv.Drive(0)
	peers := make([]int, len(queries))
	for i, q := range queries {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		d.Subscribe(fds[0], q)
		peers[i] = fds[1]
		// The loop never runs, so Close does not close what it adopted.
		t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	}
	for _, fd := range peers {
		heartbeatsIn(t, fd) // the response heads
	}
	return hub, srv, d, peers
}

// heartbeatsIn reads what the client end has and counts the heartbeat
// comments in it (an event frame here never holds ":\n\n").
func heartbeatsIn(t *testing.T, fd int) int {
	t.Helper()
	var buf [4096]byte
	n := 0
	for {
		k, err := unix.Read(fd, buf[:])
		if k <= 0 || err != nil {
			return n
		}
		n += bytes.Count(buf[:k], []byte(":\n\n"))
	}
}

// On the loop's own clock: a silent stream gets a heartbeat once it has
// been silent for the interval, never before and at most one step of the
// wheel (Heartbeat/WheelSteps) later; a stream that events keep writing
// gets none until the interval has passed since its last event.
func TestHeartbeatWheelTiming(t *testing.T) { heartbeatWheelTiming(t, viaSend) }

// The same through the ring, and through a ring whose every submission
// is refused (each heartbeat withdrawn and written with send(2)).
func TestURingHeartbeatWheelTiming(t *testing.T)    { heartbeatWheelTiming(t, viaRing) }
func TestURingHeartbeatWheelWithdrawn(t *testing.T) { heartbeatWheelTiming(t, viaRingElsewhere) }

// How a hand-driven loop's wheel sends: send(2), the ring, or a ring the
// kernel refuses every submission from (SINGLE_ISSUER, another thread).
type ringMode int

const (
	viaSend ringMode = iota
	viaRing
	viaRingElsewhere
)

// useRing gives d's loop a ring as mode says, or skips the test where the
// kernel does not allow it; for viaRing it locks the calling goroutine to
// its thread, the ring's only submitter, for the rest of the test.
func useRing(t *testing.T, d *poller.Driver, mode ringMode) {
	t.Helper()
	switch mode {
	case viaRing:
		withURing(t)
		runtime.LockOSThread()
		t.Cleanup(runtime.UnlockOSThread)
		if !d.OpenRing() {
			t.Fatal("io_uring refused")
		}
	case viaRingElsewhere:
		withURing(t)
		if !d.OpenRingElsewhere() {
			t.Skip("the kernel did not take IORING_SETUP_SINGLE_ISSUER: no way to make it refuse a submission")
		}
	default:
		return
	}
	t.Cleanup(d.CloseRing) // before the socket pairs close (cleanups run last first)
}

// withdrawnSince checks, for a ring that refuses every submission, that
// each of the heartbeats was withdrawn from it (so all went through it).
func withdrawnSince(t *testing.T, mode ringMode, before int64, heartbeats uint64) {
	t.Helper()
	if mode != viaRingElsewhere {
		return
	}
	if _, _, w, _ := poller.URingCounts(); w-before < int64(heartbeats) {
		t.Errorf("%d sends withdrawn from the ring, want at least the %d heartbeats", w-before, heartbeats)
	}
}

func heartbeatWheelTiming(t *testing.T, mode ringMode) {
	const hb = 1600 // ms: a whole number of steps for 4, 8 or 16 steps
	const late = hb / poller.WheelSteps
	hub, srv, d, peers := wheelLoop(t, hb*time.Millisecond, "channel=quiet", "channel=busy")
	useRing(t, d, mode)
	_, _, withdrawn, _ := poller.URingCounts()
	quiet, busy := peers[0], peers[1]
	events := map[int64]bool{1000: true, 2500: true} // when "busy" gets one; the heads went out at 0
	var quietAt, busyAt []int64
	for ms := int64(0); ms <= 6000; ms++ {
		d.SetClock(ms)
		if events[ms] {
			if _, err := hub.Publish([]byte("busy"), nil, []byte("x")); err != nil {
				t.Fatal(err)
			}
			d.Deliver()
		}
		d.Timers()
		for i := heartbeatsIn(t, quiet); i > 0; i-- {
			quietAt = append(quietAt, ms)
		}
		for i := heartbeatsIn(t, busy); i > 0; i-- {
			busyAt = append(busyAt, ms)
		}
	}
	// quiet: silent since 0, so at [1600, 1700], then each an interval
	// (and at most a step) after the one before.
	if len(quietAt) < 3 {
		t.Fatalf("quiet stream got heartbeats at %v ms, want 3 or more in 6 s at a 1.6 s interval", quietAt)
	}
	last := int64(0)
	for _, at := range quietAt {
		if gap := at - last; gap < hb || gap > hb+late {
			t.Errorf("quiet stream: heartbeat at %d ms, %d ms after its last write; want %d to %d (all at %v)", at, gap, hb, hb+late, quietAt)
		}
		last = at
	}
	// busy: written at 0, 1000 and 2500: the first heartbeat comes an
	// interval after the last event, none before.
	if len(busyAt) == 0 || busyAt[0] < 2500+hb || busyAt[0] > 2500+hb+late {
		t.Errorf("busy stream got heartbeats at %v ms; want the first at %d to %d", busyAt, 2500+hb, 2500+hb+late)
	}
	if got, want := srv.Stats().Heartbeats, uint64(len(quietAt)+len(busyAt)); got != want {
		t.Errorf("Stats.Heartbeats = %d, want %d (what the clients read)", got, want)
	}
	withdrawnSince(t, mode, withdrawn, srv.Stats().Heartbeats)
	if err := d.CheckWheel(); err != nil {
		t.Fatal(err)
	}
}

// Connections closing between and during steps, busy and silent ones
// mixed, leave the wheel's lists whole: every open connection on it
// once, no closed one.
func TestHeartbeatWheelCloses(t *testing.T)      { heartbeatWheelCloses(t, viaSend) }
func TestURingHeartbeatWheelCloses(t *testing.T) { heartbeatWheelCloses(t, viaRing) }

func heartbeatWheelCloses(t *testing.T, mode ringMode) {
	const n = 300
	queries := make([]string, n)
	for i := range queries {
		queries[i] = "channel=quiet"
		if i%3 == 0 {
			queries[i] = "channel=busy"
		}
	}
	hub, _, d, peers := wheelLoop(t, 160*time.Millisecond, queries...)
	useRing(t, d, mode)
	closed := make([]bool, n)
	got := make([]int, n) // heartbeats each client read
	for ms := int64(0); ms <= 2000; ms++ {
		d.SetClock(ms)
		if ms%37 == 0 {
			hub.Publish([]byte("busy"), nil, []byte("x"))
			d.Deliver()
		}
		if ms%13 == 0 {
			i := int(ms*7) % n
			if !closed[i] {
				d.Close(i)
				closed[i] = true
			}
		}
		d.Timers()
		if ms%20 == 0 {
			for i, fd := range peers {
				got[i] += heartbeatsIn(t, fd)
			}
			if err := d.CheckWheel(); err != nil {
				t.Fatalf("at %d ms: %v", ms, err)
			}
		}
	}
	// 2 s at 160 ms: each quiet stream left open had about 11; the busy
	// ones, written every 37 ms, none.
	for i := range peers {
		switch {
		case closed[i]:
		case i%3 == 0 && got[i] != 0:
			t.Errorf("busy stream %d got %d heartbeats, want 0", i, got[i])
		case i%3 != 0 && got[i] < 10:
			t.Errorf("quiet stream %d got %d heartbeats in 2 s at 160 ms, want 10 or more", i, got[i])
		}
	}
}

// Stats.Bytes is what the clients were sent, exactly: the response head
// (written by send) and an event (written by writev), each counted once.
func TestStatsBytesExact(t *testing.T) {
	h := start(t, poller.Config{Loops: 1, Heartbeat: time.Hour})
	c := h.dial()
	io.WriteString(c, "GET /events?channel=b HTTP/1.1\r\nHost: x\r\n\r\n")
	var got []byte
	read := func(until string) {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 4096)
		for !strings.Contains(string(got), until) {
			n, err := c.Read(buf)
			if err != nil {
				t.Fatalf("reading until %q: %v (got %q)", until, err, got)
			}
			got = append(got, buf[:n]...)
		}
	}
	read("\r\n\r\n")
	waitFor(t, "the subscription", func() bool { return h.srv.Stats().Subscribers == 1 })
	h.publish("b", "", "payload")
	read("data: payload\n\n")
	// The client has it all, so the loop's writes returned; their counts
	// follow at once.
	waitFor(t, "Stats.Bytes to reach what the client read", func() bool { return h.srv.Stats().Bytes >= uint64(len(got)) })
	if st := h.srv.Stats(); st.Bytes != uint64(len(got)) {
		t.Fatalf("Stats.Bytes = %d after %d writes; the client read %d bytes: %q", st.Bytes, st.Writes, len(got), got)
	}
	// Nothing more is on its way: a short read deadline lets a stray
	// byte show.
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond)) // only lets time pass
	if n, _ := c.Read(make([]byte, 1)); n != 0 {
		t.Fatalf("read %d more bytes after the event", n)
	}
}

// Heartbeats on real streams are counted: the counter is at least what
// the client read, and the silent stream reads nothing but comments.
func TestHeartbeatCounted(t *testing.T) {
	h := start(t, poller.Config{Heartbeat: 100 * time.Millisecond})
	s := h.subscribe("/events?channel=quiet")
	comments := 0
	for comments < 3 {
		f, err := s.next(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if f.comment {
			comments++
		} else if f.retry == 0 {
			t.Fatalf("got %+v on a silent stream, want heartbeat comments", f)
		}
	}
	waitFor(t, "Stats.Heartbeats to count them", func() bool { return h.srv.Stats().Heartbeats >= 3 })
}

// A reload that shortens the heartbeat takes effect on streams already
// open, within a few of the new intervals rather than the old one.
func TestHeartbeatReload(t *testing.T) {
	h := start(t, poller.Config{Heartbeat: time.Hour})
	s := h.subscribe("/events?channel=quiet")
	st := h.srv.Settings()
	st.Heartbeat = 100 * time.Millisecond
	if err := h.srv.Reload(st); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := s.next(10 * time.Second)
		if err != nil {
			t.Fatalf("no heartbeat after the reload: %v", err)
		}
		if f.comment {
			return
		}
	}
}

// Each heartbeat's result is handled as a send(2)'s: the bytes counted
// once, a short write's rest and an EAGAIN's whole frame kept in the
// backlog (and no heartbeat sent ahead of a backlog), an error closing
// the stream. A heartbeat frame larger than the small send buffers makes
// the writes short; 300 more streams make one step more than a ring's
// batch of SQEs.
func TestHeartbeatShortWrites(t *testing.T)      { heartbeatShortWrites(t, viaSend) }
func TestURingHeartbeatShortWrites(t *testing.T) { heartbeatShortWrites(t, viaRing) }
func TestURingHeartbeatShortWritesWithdrawn(t *testing.T) {
	heartbeatShortWrites(t, viaRingElsewhere)
}

func heartbeatShortWrites(t *testing.T, mode ringMode) {
	const hb = 160 // ms
	const (
		reader  = iota // reads all it has at every ms
		slow           // small send buffer, reads 1000 bytes a ms: short writes
		full           // its send buffer filled before the first heartbeat: EAGAIN
		gone           // its client closed: the heartbeat fails, the stream closes
		streams = 304
	)
	queries := make([]string, streams)
	for i := range queries {
		queries[i] = "channel=quiet"
	}
	hub := pubsub.NewHub(pubsub.Config{})
	srv, err := poller.New(poller.Config{Hub: hub, Loops: 1, Heartbeat: hb * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(); hub.Close() })
	d := srv.Drive(0)
	peers := make([]int, streams)
	fullFD := -1
	for i := range peers {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		sndbuf := 1 << 20 // the heartbeat whole, whatever net.core.wmem_default says
		if i == slow || i == full {
			sndbuf = 4096
		}
		unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_SNDBUF, sndbuf)
		d.Subscribe(fds[0], "channel=quiet")
		peers[i] = fds[1]
		t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
		if i == full {
			fullFD = fds[0]
		}
	}
	useRing(t, d, mode)
	frame := []byte(":" + strings.Repeat("x", 20000) + "\n\n")
	d.SetHeartbeatFrame(frame)
	var buf [64 << 10]byte
	got := make([][]byte, streams) // what each client read after its response head
	read := func(i, limit int) {
		for limit > 0 {
			k, err := unix.Read(peers[i], buf[:min(limit, len(buf))])
			if k <= 0 || err != nil {
				return
			}
			got[i] = append(got[i], buf[:k]...)
			limit -= k
		}
	}
	for i := range peers { // the response heads
		read(i, 1<<30)
		got[i] = got[i][:0]
	}
	for { // fill what the full stream's client does not read
		if _, err := unix.Write(fullFD, []byte("junk")); err != nil {
			break
		}
	}
	unix.Close(peers[gone])
	base := srv.Stats()
	_, _, withdrawn, short := poller.URingCounts()

	// The first step: every stream silent since 0 is due.
	d.SetClock(hb + hb/poller.WheelSteps)
	d.Timers()
	if b := d.Backlog(reader); b != 0 {
		t.Errorf("reader: %d bytes in the backlog after its heartbeat, want 0", b)
	}
	if b := d.Backlog(slow); b <= 0 || b >= len(frame) {
		t.Errorf("slow: %d bytes in the backlog after its heartbeat, want part of its %d", b, len(frame))
	}
	if b := d.Backlog(full); b != len(frame) {
		t.Errorf("full: %d bytes in the backlog after its heartbeat, want all %d (EAGAIN)", b, len(frame))
	}
	if d.Open(gone) {
		t.Error("the stream whose client closed is still open after a heartbeat to it")
	}
	st := srv.Stats()
	if got, want := st.Heartbeats-base.Heartbeats, uint64(streams-1); got != want {
		t.Errorf("the first step sent %d heartbeats, want %d (all but the closed one)", got, want)
	}
	if got, want := st.Writes-base.Writes, uint64(streams); got != want {
		t.Errorf("the first step made %d writes, want %d (one per stream)", got, want)
	}
	if mode == viaRing {
		if _, _, _, sh := poller.URingCounts(); sh-short < 2 {
			t.Errorf("%d sends through the ring were short, want at least 2 (slow, full)", sh-short)
		}
	}
	for i := range peers {
		if i != gone && i != full {
			read(i, 1<<30)
		}
	}
	// The junk read, the full stream's heartbeat goes out of its backlog.
	read(full, 1<<30)
	got[full] = bytes.TrimLeft(got[full], "junk")
	if err := d.CheckWheel(); err != nil {
		t.Fatal(err)
	}

	// Ten intervals more, the slow client reading 1000 bytes a ms, the
	// backlogs flushed at every ms as EPOLLOUT would.
	for ms := int64(hb + hb/poller.WheelSteps); ms <= 11*hb; ms++ {
		d.SetClock(ms)
		d.Timers()
		for i := range peers {
			if i == slow {
				read(i, 1000)
			} else if i != gone {
				read(i, 1<<30)
			}
		}
		d.FlushBacklogs()
	}
	for range 1000 { // let the slow client catch up
		if d.Backlog(slow) == 0 {
			break
		}
		read(slow, 1<<30)
		d.FlushBacklogs()
	}
	read(slow, 1<<30)
	if err := d.CheckWheel(); err != nil {
		t.Fatal(err)
	}

	// Every client read whole heartbeats only; together as many as were
	// counted, and as many bytes as Stats.Bytes counted.
	st = srv.Stats()
	var frames, bytesRead uint64
	for i, b := range got {
		if i == gone {
			continue
		}
		n := bytes.Count(b, frame)
		if len(b) != n*len(frame) {
			t.Fatalf("stream %d read %d bytes, not whole heartbeats of %d: %.40q...", i, len(b), len(frame), b)
		}
		if n < 2 {
			t.Errorf("stream %d read %d heartbeats in 10 intervals, want 2 or more", i, n)
		}
		frames += uint64(n)
		bytesRead += uint64(len(b))
	}
	if got := st.Heartbeats - base.Heartbeats; got != frames {
		t.Errorf("Stats.Heartbeats counted %d, the clients read %d", got, frames)
	}
	if got := st.Bytes - base.Bytes; got != bytesRead {
		t.Errorf("Stats.Bytes counted %d, the clients read %d", got, bytesRead)
	}
	withdrawnSince(t, mode, withdrawn, frames)
	t.Logf("%d heartbeats; the slow stream read %d", frames, len(got[slow])/len(frame))
}
