package pubsub

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// socketPair returns the two ends of a unix stream socket pair, as the
// supervisor and a worker process hold them.
func socketPair(t *testing.T) (parent, worker net.Conn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]net.Conn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "relay")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns[i] = c
	}
	return conns[0], conns[1]
}

// follower is a worker's hub fed by a relay stream, with a cursor that
// records what its loops would see.
type follower struct {
	hub  *Hub
	seed uint64 // the snapshot's last id: the first relayed event is seed+1
	cur  *Cursor
	done chan error
}

func follow(t *testing.T, conn net.Conn) *follower {
	t.Helper()
	return followWith(t, conn, Config{})
}

// followWith is follow for a worker hub with cfg's bounds.
func followWith(t *testing.T, conn net.Conn, cfg Config) *follower {
	t.Helper()
	snap, err := ReadRelayHello(conn, testSnapshotLimit)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Seed = snap.LastID()
	f := &follower{hub: NewHub(cfg), seed: snap.LastID(), done: make(chan error, 1)}
	t.Cleanup(f.hub.Close)
	if err := f.hub.LoadSnapshot(snap); err != nil {
		t.Fatal(err)
	}
	f.cur = f.hub.Subscribe(func() {})
	go func() { f.done <- f.hub.Follow(conn) }()
	return f
}

// drain reads n events from the follower's ring.
func (f *follower) drain(t *testing.T, n int) []*Event {
	t.Helper()
	var got []*Event
	waitUntil(t, fmt.Sprintf("the follower to get %d events", n), func() bool {
		for len(got) < n {
			ev := f.cur.Next()
			if ev == nil {
				break
			}
			got = append(got, ev)
		}
		f.cur.Commit()
		return len(got) >= n
	})
	return got
}

func TestRelayWorkersShareIDs(t *testing.T) {
	parent := NewHub(Config{History: HistoryConfig{PerChannel: -1}})
	defer parent.Close()
	relay := NewRelay(parent, 5*time.Second, nil)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { relay.Run(ctx); close(ran) }()

	// Events before a worker attaches are not its concern: its seed starts
	// after them, and a resume from before it reports a gap.
	early := pub(t, parent, "a", "early")
	p1, w1 := socketPair(t)
	relay.Attach(p1, func(err error) { t.Errorf("worker 1 dropped: %v", err) })
	f1 := follow(t, w1)
	seed := f1.seed
	if seed != early && seed != early-1 {
		t.Fatalf("worker seed %d, want %d or %d (the early event is relayed or not)", seed, early, early-1)
	}

	var want []uint64 // ids the publishers got back
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 250; i++ {
				id, err := parent.Publish([]byte(fmt.Sprintf("ch%d", i%3)), []byte("tick"), []byte(fmt.Sprintf("g%d-%d\nline2", g, i)))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				want = append(want, id)
				mu.Unlock()
			}
		}()
		if g == 1 {
			// A second worker attaches while events flow.
			p2, w2 := socketPair(t)
			relay.Attach(p2, func(err error) { t.Errorf("worker 2 dropped: %v", err) })
			f2 := follow(t, w2)
			defer func() {
				n := int(parent.LastID() - f2.seed)
				got := f2.drain(t, n)
				for i, ev := range got {
					if ev.ID != f2.seed+uint64(i)+1 {
						t.Fatalf("worker 2 event %d has id %d, want %d", i, ev.ID, f2.seed+uint64(i)+1)
					}
				}
			}()
		}
	}
	wg.Wait()
	got := f1.drain(t, int(parent.LastID()-seed))
	if len(got) < len(want) {
		t.Fatalf("worker got %d events, %d were published after it attached", len(got), len(want))
	}
	for i, ev := range got {
		if ev.ID != seed+uint64(i)+1 {
			t.Fatalf("worker event %d has id %d, want %d", i, ev.ID, seed+uint64(i)+1)
		}
		if ev.ID == early {
			continue
		}
		if !bytes.Contains(ev.Frame, []byte(fmt.Sprintf("id: %d\n", ev.ID))) || !bytes.Contains(ev.Frame, []byte("data: line2\n")) {
			t.Fatalf("worker event %d frame %q", ev.ID, ev.Frame)
		}
	}
	// The worker keeps history as a single process would: resume on ch1
	// from the start replays every ch1 event, and from before the seed is
	// a gap.
	ids, gap := replayAll(f1.hub, "ch1", early)
	if gap != 0 || len(ids) != 4*83 { // i%3 == 1 for 83 of each publisher's 250
		t.Fatalf("worker history of ch1: %d events, gap %d; want 332 and none", len(ids), gap)
	}
	if _, gap := replayAll(f1.hub, "never", seed-1); gap < seed {
		t.Fatalf("resume from before the worker's seed: gap mark %d, want at least %d", gap, seed)
	}
	// The parent keeps no history: a thousand channels leave nothing.
	if st := parent.HistoryStats(); st.Channels != 0 || st.Events != 0 {
		t.Fatalf("parent without history tracks %+v", st)
	}
	cancel()
	<-ran
	// Stopping the relay ends the stream: Follow returns nil.
	select {
	case err := <-f1.done:
		if err != nil {
			t.Fatalf("Follow at the end of the stream: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Follow did not return after the relay stopped")
	}
}

func TestRelayDropsStalledWorker(t *testing.T) {
	parent := NewHub(Config{History: HistoryConfig{PerChannel: -1}})
	defer parent.Close()
	// The stall time is what a healthy worker may lag without being
	// dropped: 1 s, far above a loaded CI box's scheduling hiccups.
	relay := NewRelay(parent, time.Second, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go relay.Run(ctx)

	stuck, _ := socketPair(t) // its worker never reads
	dropped := make(chan error, 1)
	relay.Attach(stuck, func(err error) { dropped <- err })
	p, w := socketPair(t)
	relay.Attach(p, func(err error) { t.Errorf("healthy worker dropped: %v", err) })
	f := follow(t, w)

	data := bytes.Repeat([]byte("x"), 4096)
	const n = 2000 // 8 MB: far past a socket buffer
	go func() {
		for i := 0; i < n; i++ {
			if _, err := parent.Publish([]byte("big"), nil, data); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	got := f.drain(t, n)
	if len(got) != n {
		t.Fatalf("healthy worker got %d of %d", len(got), n)
	}
	select {
	case err := <-dropped:
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte("read nothing")) {
			t.Fatalf("drop reason %v, want a stall", err)
		}
	case <-time.After(10 * time.Second): // a deadline, not synchronisation
		t.Fatal("the stalled worker was never dropped")
	}
}

func TestFollowRefusesBrokenStreams(t *testing.T) {
	hello := func(seed uint64) []byte {
		var snap bytes.Buffer
		(&Snapshot{last: seed, restart: seed, floor: seed}).WriteTo(&snap)
		return append(binary.BigEndian.AppendUint64([]byte(relayMagic), uint64(snap.Len())), snap.Bytes()...)
	}
	record := func(id uint64, ch, frame string) []byte {
		return appendRecord(nil, &Event{ID: id, Channel: ch, Frame: []byte(frame), Published: 1})
	}
	cases := []struct {
		name   string
		stream []byte
		want   error
	}{
		{"wrong magic", append([]byte("HTTP/1.1 200 OK\r\n"), 0, 0, 0, 0, 0, 0, 0, 1), ErrRelayProtocol},
		{"seed above MaxID", hello(MaxID + 1), ErrRelayProtocol}, // 0 is a given-id hub's empty log
		{"short hello", []byte(relayMagic[:5]), ErrRelayProtocol},
		{"skipped id", append(hello(100), record(102, "a", "id: 102\ndata: x\n\n")...), ErrRelayOrder},
		{"repeated id", append(append(hello(100), record(101, "a", "id: 101\ndata: x\n\n")...), record(101, "a", "id: 101\ndata: x\n\n")...), ErrRelayOrder},
		{"empty channel", append(hello(100), record(101, "", "id: 101\ndata: x\n\n")...), ErrRelayProtocol},
		{"cut record", append(hello(100), record(101, "a", "id: 101\ndata: x\n\n")[:12]...), ErrRelayProtocol},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := bytes.NewReader(c.stream)
			snap, err := ReadRelayHello(r, testSnapshotLimit)
			if err == nil {
				h := NewHub(Config{Seed: snap.LastID()})
				defer h.Close()
				err = h.Follow(r)
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

// A worker that is gone is detached: its writer goroutine ends at once,
// not at the next event; and after Run, Attach just closes the socket.
func TestRelayDetach(t *testing.T) {
	parent := NewHub(Config{History: HistoryConfig{PerChannel: -1}})
	defer parent.Close()
	var marked atomic.Uint64
	relay := NewRelay(parent, time.Second, marked.Store)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { relay.Run(ctx); close(ran) }()
	before := runtime.NumGoroutine()
	for i := 0; i < 50; i++ {
		p, w := socketPair(t)
		detach := relay.Attach(p, func(err error) {})
		if _, err := ReadRelayHello(w, testSnapshotLimit); err != nil {
			t.Fatal(err)
		}
		detach()
	}
	waitUntil(t, fmt.Sprintf("the goroutines of 50 detached workers to end (%d before)", before),
		func() bool { return runtime.NumGoroutine() <= before+2 })
	id := pub(t, parent, "a", "x")
	waitUntil(t, fmt.Sprintf("the mark to reach the relayed id %d", id), func() bool { return marked.Load() == id })
	cancel()
	<-ran
	p, w := socketPair(t)
	relay.Attach(p, func(err error) {})
	w.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := ReadRelayHello(w, testSnapshotLimit); err == nil || !errors.Is(err, ErrRelayProtocol) {
		t.Fatalf("attach after Run: %v, want the stream closed", err)
	}
}
