package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ssedge/ssedge/internal/auth"
	"github.com/ssedge/ssedge/internal/ssetest"
)

// resumer is one client of the worker restart tests: it subscribes to a
// channel and, whenever its connection ends, subscribes again with
// Last-Event-ID, as a browser's EventSource does. It records every event
// and every ssedge.gap it gets.
type resumer struct {
	addr, channel string

	mu     sync.Mutex
	st     *ssetest.Stream // the current connection
	got    []uint64        // ids, across reconnects
	gaps   []string        // the ssedge.gap events' data
	resets int             // connections that ended
	err    error           // why it gave up
}

// run reads until it has the event with id final (final() is 0 until the
// test knows it) or fails for good.
func (r *resumer) run(final func() uint64, ready chan<- struct{}) {
	var last uint64
	first := true
	for {
		var hdr []string
		if last != 0 {
			hdr = []string{fmt.Sprintf("Last-Event-ID: %d", last)}
		}
		st, err := r.subscribe(hdr)
		if err != nil {
			r.fail(err)
			return
		}
		if first {
			ready <- struct{}{}
			first = false
		}
		for {
			f, err := st.NextEvent(90 * time.Second) // a stopped worker holds a stream for relayStall and more
			if err != nil {
				st.Close()
				r.mu.Lock()
				r.resets++
				r.mu.Unlock()
				break // the connection ended: resume
			}
			r.mu.Lock()
			if f.Event == "ssedge.gap" {
				r.gaps = append(r.gaps, f.Data)
				r.mu.Unlock()
				continue
			}
			id, err := strconv.ParseUint(f.ID, 10, 64)
			if err != nil {
				r.mu.Unlock()
				r.fail(fmt.Errorf("event %q: id %q", f.Raw, f.ID))
				return
			}
			r.got = append(r.got, id)
			r.mu.Unlock()
			last = id
			if fin := final(); fin != 0 && id >= fin {
				st.Close()
				return
			}
		}
	}
}

// subscribe opens a stream, retrying while the server refuses or resets
// connections (a worker just killed, whose clients all reconnect at once).
func (r *resumer) subscribe(hdr []string) (*ssetest.Stream, error) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := ssetest.Subscribe(ssetest.Request{Addr: r.addr, Target: "/events?channel=" + r.channel, Header: hdr, Timeout: 30 * time.Second})
		if err == nil {
			r.mu.Lock()
			r.st = st
			r.mu.Unlock()
			return st, nil
		}
		var ne net.Error
		if time.Now().After(deadline) || !(errors.As(err, &ne) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || strings.Contains(err.Error(), "EOF")) {
			return nil, fmt.Errorf("subscribing with %v: %w", hdr, err)
		}
		time.Sleep(50 * time.Millisecond) // back off before retrying, as a client does
	}
}

func (r *resumer) fail(err error) {
	r.mu.Lock()
	r.err = err
	r.mu.Unlock()
}

// bounce closes the current connection, so the client resumes (and may
// land on another worker).
func (r *resumer) bounce() {
	r.mu.Lock()
	if r.st != nil {
		r.st.Close() // its reader sees the error and resumes
	}
	r.mu.Unlock()
}

// restartRig is a --procs 4 server with clients on several channels and a
// publisher at about 200 events a second, which records the ids each
// channel got.
type restartRig struct {
	s        *server
	clients  []*resumer
	channels []string
	finals   atomic.Pointer[map[string]uint64]

	mu   sync.Mutex
	sent map[string][]uint64 // ids published, per channel, in order
	stop chan struct{}
	done chan struct{}
}

func newRestartRig(t *testing.T, clients int, data string, args ...string) *restartRig {
	t.Helper()
	rig := &restartRig{channels: []string{"c0", "c1", "c2", "c3"}, sent: map[string][]uint64{},
		stop: make(chan struct{}), done: make(chan struct{})}
	rig.s = startServer(t, append([]string{"--procs", "4", "--loops", "1"}, args...)...)
	ready := make(chan struct{}, clients)
	for i := range clients {
		r := &resumer{addr: rig.s.listen, channel: rig.channels[i%len(rig.channels)]}
		rig.clients = append(rig.clients, r)
		go r.run(func() uint64 {
			if m := rig.finals.Load(); m != nil {
				return (*m)[r.channel]
			}
			return 0
		}, ready)
	}
	for range clients {
		select {
		case <-ready:
		case <-time.After(60 * time.Second):
			t.Fatal("clients did not all subscribe in 60 s")
		}
	}
	rig.s.waitSubscribed(t, clients)
	pub := ssetest.NewPublisher(rig.s.socket)
	t.Cleanup(pub.Close)
	// A test that fails before finish stops the publisher before the
	// server goes, so no goroutine reports after the test has ended.
	t.Cleanup(func() {
		select {
		case <-rig.stop:
		default:
			close(rig.stop)
		}
		<-rig.done
	})
	go func() {
		defer close(rig.done)
		tick := time.NewTicker(5 * time.Millisecond) // about 200 events a second
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-rig.stop:
				return
			case <-tick.C:
			}
			ch := rig.channels[i%len(rig.channels)]
			id, err := pub.Publish(ch, "", fmt.Sprintf("%d %s", i, data))
			if err != nil {
				t.Error(err)
				return
			}
			rig.mu.Lock()
			rig.sent[ch] = append(rig.sent[ch], id)
			rig.mu.Unlock()
		}
	}()
	return rig
}

func (rig *restartRig) published() int {
	rig.mu.Lock()
	defer rig.mu.Unlock()
	n := 0
	for _, ids := range rig.sent {
		n += len(ids)
	}
	return n
}

// finish stops the publisher, publishes a last event on each channel and
// checks that every client got every event of its channel exactly once,
// in order, with no gap, across its reconnects. It returns how many
// clients reconnected.
func (rig *restartRig) finish(t *testing.T) (resumed int) {
	t.Helper()
	close(rig.stop)
	<-rig.done
	finals := map[string]uint64{}
	for _, ch := range rig.channels {
		id := publishID(t, rig.s.socket, ch, "the end")
		finals[ch] = id
		rig.sent[ch] = append(rig.sent[ch], id)
	}
	rig.finals.Store(&finals)
	ssetest.WaitFor(t, 90*time.Second, "every client to get the last event of its channel", func() bool {
		for _, r := range rig.clients {
			r.mu.Lock()
			done := r.err != nil || len(r.got) > 0 && r.got[len(r.got)-1] >= finals[r.channel]
			r.mu.Unlock()
			if !done {
				return false
			}
		}
		return true
	})
	for i, r := range rig.clients {
		r.mu.Lock()
		if r.err != nil {
			t.Fatalf("client %d (%s): %v", i, r.channel, r.err)
		}
		if len(r.gaps) > 0 {
			t.Fatalf("client %d (%s) got %d gaps after %d reconnects, the first: %s", i, r.channel, len(r.gaps), r.resets, r.gaps[0])
		}
		if want := rig.sent[r.channel]; !slices.Equal(r.got, want) {
			t.Fatalf("client %d (%s), %d reconnects: got %d events, want %d (%s)", i, r.channel, r.resets, len(r.got), len(want), firstDiff(r.got, want))
		}
		if r.resets > 0 {
			resumed++
		}
		r.mu.Unlock()
	}
	return resumed
}

func firstDiff(got, want []uint64) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("at %d: %d, want %d", i, got[i], want[i])
		}
	}
	return fmt.Sprintf("one is a prefix of the other at %d", min(len(got), len(want)))
}

// waitWarm waits until worker pid has loaded the supervisor's history and
// returns how many events it held.
func waitWarm(t *testing.T, s *server, pid int) int {
	t.Helper()
	part := fmt.Sprintf(`"pid":%d`, pid)
	s.logs.Wait(t, 30*time.Second, 1, `"msg":"history loaded from the supervisor"`, part)
	for _, l := range s.logs.Lines() {
		if strings.Contains(l, "history loaded from the supervisor") && strings.Contains(l, part) {
			var n int
			if i := strings.Index(l, `"events":`); i >= 0 {
				fmt.Sscanf(l[i+len(`"events":`):], "%d", &n)
			}
			return n
		}
	}
	return 0
}

// bounceUntilOn reconnects clients that did not lose their worker, a
// batch at a time, until the log shows that at least n subscriptions
// (all resumes now) landed on worker pid: the kernel's SO_REUSEPORT hash
// picks the worker, so reconnecting enough clients reaches each one.
func (rig *restartRig) bounceUntilOn(t *testing.T, pid, n int) {
	t.Helper()
	part := fmt.Sprintf(`"pid":%d`, pid)
	for next := 0; rig.s.logs.Count(`"msg":"subscribe"`, part) < n; next += 20 {
		if next >= len(rig.clients) {
			t.Fatalf("after reconnecting every client, %d subscriptions on worker %d, want %d", rig.s.logs.Count(`"msg":"subscribe"`, part), pid, n)
		}
		before := rig.s.logs.Count(`"msg":"subscribe"`)
		for _, r := range rig.clients[next:min(next+20, len(rig.clients))] {
			r.bounce()
		}
		// Wait for them to be back before judging where they landed.
		rig.s.logs.Wait(t, 30*time.Second, before+min(20, len(rig.clients)-next), `"msg":"subscribe"`)
	}
}

// kill -9 of one worker under --procs 4, with a publisher at about 200
// events/s and clients on four channels: the clients it held resume on
// the other workers and on its replacement, which starts with the
// supervisor's history; more clients are moved until some resumes are
// served by the replacement. Every client gets every event once, in
// order, with no gap.
func TestWorkerRestartIsWarm(t *testing.T) {
	rig := newRestartRig(t, 600, "payload")
	workers := children(t, rig.s.cmd.Process.Pid)
	if len(workers) != 4 {
		t.Fatalf("supervisor has %d children, want 4 workers", len(workers))
	}
	ssetest.WaitFor(t, 30*time.Second, "200 events published", func() bool { return rig.published() >= 200 })
	victim := workers[0]
	syscall.Kill(victim, syscall.SIGKILL)
	now := waitReplaced(t, rig.s.cmd.Process.Pid, 4, victim, 30*time.Second)
	var fresh int
	for _, w := range now {
		if !slices.Contains(workers, w) {
			fresh = w
		}
	}
	if held := waitWarm(t, rig.s, fresh); held < 200 {
		t.Fatalf("the new worker loaded %d events from the supervisor, want at least the 200 published before the kill", held)
	}
	rig.bounceUntilOn(t, fresh, 20)
	ssetest.WaitFor(t, 30*time.Second, "200 more events", func() bool { return rig.published() >= 600 })
	if resumed := rig.finish(t); resumed == 0 {
		t.Fatal("no client reconnected")
	}
	t.Logf("%d subscriptions served by the restarted worker %d", rig.s.logs.Count(`"msg":"subscribe"`, fmt.Sprintf(`"pid":%d`, fresh)), fresh)
}

// A worker stopped (SIGSTOP) is dropped by the relay once it has read
// nothing for relayStall, killed and restarted; its clients, held for
// that long without events, then resume on a worker that has the
// history, the new one included: no gap.
func TestWorkerStoppedThenRestartedIsWarm(t *testing.T) {
	// Larger events fill the stopped worker's relay socket in about a
	// second, so the relay's stall timer starts early.
	rig := newRestartRig(t, 200, strings.Repeat("x", 1000), "--history-per-channel", "5000")
	workers := children(t, rig.s.cmd.Process.Pid)
	ssetest.WaitFor(t, 30*time.Second, "100 events published", func() bool { return rig.published() >= 100 })
	victim := workers[1]
	syscall.Kill(victim, syscall.SIGSTOP)
	t.Cleanup(func() { syscall.Kill(victim, syscall.SIGKILL) })
	// The relay carries every event to every worker: 400 KB on a channel
	// no client reads fill the stopped worker's socket however slowly the
	// rig publishes on a loaded box, so the relay's stall timer starts
	// now rather than when the rig's own events would have filled it.
	fill := ssetest.NewPublisher(rig.s.socket)
	defer fill.Close()
	for range 400 {
		if _, err := fill.Publish("fill", "", strings.Repeat("f", 1000)); err != nil {
			t.Fatal(err)
		}
	}
	rig.s.logs.Wait(t, 60*time.Second, 1, `"msg":"worker stopped reading events; killing it"`, fmt.Sprintf(`"pid":%d`, victim))
	now := waitReplaced(t, rig.s.cmd.Process.Pid, 4, victim, 30*time.Second)
	var fresh int
	for _, w := range now {
		if !slices.Contains(workers, w) {
			fresh = w
		}
	}
	waitWarm(t, rig.s, fresh)
	rig.bounceUntilOn(t, fresh, 10)
	if resumed := rig.finish(t); resumed == 0 {
		t.Fatal("no client reconnected")
	}
}

// The supervisor passes its configuration and key files on to its
// workers: with the --config file and the secret file deleted, a killed
// worker is restarted with the same settings (the retry advice from the
// file, the private prefix and the key that verifies tokens).
func TestWorkerRestartWithoutConfigFile(t *testing.T) {
	secret := []byte("a-secret-for-the-workers-0123456789abcdef")
	dir := t.TempDir()
	secretFile := dir + "/secret"
	if err := os.WriteFile(secretFile, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	path := writeConfig(t, fmt.Sprintf("retry = \"7s\"\nprivate-prefix = [\"private-\"]\nauth-secret-file = %q\n", secretFile))
	s := startServer(t, "--config", path, "--procs", "2", "--loops", "1")
	workers := children(t, s.cmd.Process.Pid)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(secretFile); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(workers[0], syscall.SIGKILL)
	now := waitReplaced(t, s.cmd.Process.Pid, 2, workers[0], 30*time.Second)
	var fresh int
	for _, w := range now {
		if !slices.Contains(workers, w) {
			fresh = w
		}
	}
	s.logs.Wait(t, 30*time.Second, 1, `"msg":"history loaded from the supervisor"`, fmt.Sprintf(`"pid":%d`, fresh))
	tok, err := auth.Mint(secret, []string{"private-*"}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Until some land on the new worker: each stream must carry the
	// file's retry advice and be let in with the token, and refused
	// without it.
	part := fmt.Sprintf(`"pid":%d`, fresh)
	for i := 0; s.logs.Count(`"msg":"subscribe"`, part) < 5; i++ {
		if i == 400 {
			t.Fatalf("400 streams, %d on the restarted worker %d", s.logs.Count(`"msg":"subscribe"`, part), fresh)
		}
		before := s.logs.Count(`"msg":"subscribe"`)
		st := openStream(t, s.listen, "/events?channel=private-a&token="+tok)
		f, err := st.st.Next(10 * time.Second)
		if err != nil || f.Retry != 7000 {
			t.Fatalf("stream %d: first frame %+v (%v), want retry 7000", i, f, err)
		}
		s.logs.Wait(t, 10*time.Second, before+1, `"msg":"subscribe"`) // where it landed is in the log
		st.st.Close()
		if code := status(t, s.listen, "/events?channel=private-a"); code != 401 {
			t.Fatalf("private channel without a token: %d, want 401", code)
		}
	}
	if n := s.logs.Count(`"msg":"worker died; restarting it"`); n != 1 {
		t.Fatalf("%d worker restarts logged, want 1", n)
	}
}

// A key rotated by a reload is what a restarted worker verifies with, even
// when the key file is gone by then: the supervisor copies each key it
// puts in force for its workers.
func TestWorkerRestartAfterKeyRotation(t *testing.T) {
	oldSecret := []byte("the-old-secret-0123456789abcdef-0123")
	newSecret := []byte("the-new-secret-0123456789abcdef-0123")
	secretFile := t.TempDir() + "/secret"
	if err := os.WriteFile(secretFile, oldSecret, 0o600); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("private-prefix = [\"private-\"]\nauth-secret-file = %q\n", secretFile)
	path := writeConfig(t, conf)
	s := startServer(t, "--procs", "2", "--loops", "1", "--config", path)
	workers := children(t, s.cmd.Process.Pid)
	if err := os.WriteFile(secretFile, newSecret, 0o600); err != nil {
		t.Fatal(err)
	}
	s.reload(t, path, conf, 2, `"msg":"config reloaded"`, `"worker"`)
	os.Remove(secretFile)
	os.Remove(path)
	syscall.Kill(workers[0], syscall.SIGKILL)
	now := waitReplaced(t, s.cmd.Process.Pid, 2, workers[0], 30*time.Second)
	var fresh int
	for _, w := range now {
		if !slices.Contains(workers, w) {
			fresh = w
		}
	}
	s.logs.Wait(t, 30*time.Second, 1, `"msg":"subscriber loops started"`, fmt.Sprintf(`"pid":%d`, fresh))
	tok, err := auth.Mint(newSecret, []string{"private-*"}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	part := fmt.Sprintf(`"pid":%d`, fresh)
	for i := 0; s.logs.Count(`"msg":"subscribe"`, part) < 5; i++ {
		if i == 400 {
			t.Fatalf("400 streams, %d on the restarted worker %d", s.logs.Count(`"msg":"subscribe"`, part), fresh)
		}
		if code := status(t, s.listen, "/events?channel=private-a&token="+tok); code != 200 {
			t.Fatalf("stream %d with the rotated key: %d, want 200", i, code)
		}
	}
}
