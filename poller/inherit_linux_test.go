package poller_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"

	"github.com/ssedge/ssedge/poller"
	"github.com/ssedge/ssedge/pubsub"
)

// dupSet gives a worker its own copies of the supervisor's sockets, as
// passing them to a child process does.
func dupSet(t *testing.T, set []poller.Inherited) []poller.Inherited {
	t.Helper()
	out := make([]poller.Inherited, len(set))
	for i, in := range set {
		out[i] = in
		out[i].FDs = nil
		for _, fd := range in.FDs {
			d, err := unix.Dup(fd)
			if err != nil {
				t.Fatal(err)
			}
			out[i].FDs = append(out[i].FDs, d)
		}
	}
	return out
}

// queued is the number of connections waiting in the accept queues of
// set's TCP sockets (for a listening socket TCP_INFO reports its accept
// queue length in tcpi_unacked).
func queued(t *testing.T, set []poller.Inherited) int {
	t.Helper()
	n := 0
	for _, in := range set {
		if _, ok := in.Addr.(*net.TCPAddr); !ok {
			continue
		}
		for _, fd := range in.FDs {
			info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
			if err != nil {
				t.Fatal(err)
			}
			n += int(info.Unacked)
		}
	}
	return n
}

// TestBindWorkers runs two "worker" servers on the sockets one Bind
// opened: the kernel spreads TCP clients over both, both serve the unix
// socket, and a worker that stops leaves its sockets queueing clients for
// the worker that replaces it.
func TestBindWorkers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub.sock")
	cfg := poller.Config{Listen: []string{"127.0.0.1:0", "unix:" + path}, Loops: 2}
	b, err := poller.Bind(cfg, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tcpAddr := b.Addrs[0].String()
	if _, err := poller.Bind(poller.Config{Listen: []string{tcpAddr}}, 1); err == nil || !strings.Contains(err.Error(), "another server") {
		t.Fatalf("a second Bind of %s: %v, want a busy-port error", tcpAddr, err)
	}

	hub := pubsub.NewHub(pubsub.Config{})
	defer hub.Close()
	worker := func(w int) *poller.Server {
		srv, err := poller.New(poller.Config{Inherited: dupSet(t, b.Sets[w]), Loops: 2, Hub: hub, Log: zaptest.NewLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		srv.Start()
		return srv
	}
	w0, w1 := worker(0), worker(1)
	defer w1.Close()
	if got := w0.Addrs(); len(got) != 2 || got[0].String() != tcpAddr || got[1].String() != path {
		t.Fatalf("worker addresses %v, want %s and %s", got, tcpAddr, path)
	}

	h := &harness{t: t}
	var subs []*sub
	for i := 0; i < 40; i++ {
		s, err := h.subscribeOn("tcp", tcpAddr, "/events?channel=c")
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	for i := 0; i < 4; i++ {
		s, err := h.subscribeOn("unix", path, "/events?channel=c")
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	if a0, a1 := w0.Stats().Accepted, w1.Stats().Accepted; a0 == 0 || a1 == 0 || a0+a1 != 44 {
		t.Fatalf("accepted %d and %d, want both busy and 44 in all", a0, a1)
	}
	id, err := hub.Publish([]byte("c"), nil, []byte("one"))
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range subs {
		if ev := s.event(t); ev.id != id || ev.data != "one" {
			t.Fatalf("subscriber %d got %+v, want id %d", i, ev, id)
		}
	}

	// Worker 0 goes away; clients that the kernel hashes to its sockets
	// wait in their accept queues, none is refused.
	w0.Close()
	before1 := w1.Stats().Accepted
	var wg sync.WaitGroup
	late := make([]*sub, 20)
	errs := make([]error, 20)
	for i := range late {
		wg.Add(1)
		go func() {
			defer wg.Done()
			late[i], errs[i] = h.subscribeOn("tcp", tcpAddr, "/events?channel=c")
		}()
	}
	// Start the new worker 0 only once every late client is either taken
	// by worker 1 or waiting in worker 0's accept queues.
	waitFor(t, "the late clients to be accepted or queued", func() bool {
		return w1.Stats().Accepted-before1+uint64(queued(t, b.Sets[0])) == uint64(len(late))
	})
	w0 = worker(0)
	defer w0.Close()
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("clients while worker 0 was replaced: %v", err)
	}
	if w0.Stats().Accepted == 0 {
		t.Fatal("the new worker 0 accepted none of the waiting clients")
	}
	id, err = hub.Publish([]byte("c"), nil, []byte("two"))
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range late {
		if ev := s.event(t); ev.id != id {
			t.Fatalf("late subscriber %d got %+v, want id %d", i, ev, id)
		}
	}
	w0.Close()
	w1.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("a worker removed the supervisor's socket file: %v", err)
	}
	b.Close()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("Bound.Close left the socket file: %v", err)
	}
}

// sockIno is the inode of a socket descriptor: two descriptors of one
// socket share it.
func sockIno(t *testing.T, fd int) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// A supervisor's sockets handed over (Handoff, duplicated as SCM_RIGHTS
// would) and rebuilt (BoundFrom): each worker gets the very sockets it
// had, in order; the old Bound, disowned, leaves the unix socket file and
// its lock to the new one, which still keeps a third server off the path
// and removes the file when it closes.
func TestBoundHandoff(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub.sock")
	old, err := poller.Bind(poller.Config{Listen: []string{"127.0.0.1:0", "unix:" + path}, ProxyListen: []string{"127.0.0.1:0"}, Loops: 2}, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	lns, done, err := old.Handoff()
	if err != nil {
		t.Fatal(err)
	}
	for i := range lns { // what the receiver gets: its own descriptors
		for k, fd := range lns[i].FDs {
			d, err := unix.Dup(fd)
			if err != nil {
				t.Fatal(err)
			}
			lns[i].FDs[k] = d
		}
		if lns[i].HasLock {
			if lns[i].Lock, err = unix.Dup(lns[i].Lock); err != nil {
				t.Fatal(err)
			}
		}
	}
	done()
	if lns[0].N != 6 || lns[1].N != 1 || !lns[1].HasLock || !lns[2].Proxy {
		t.Fatalf("handed listeners %+v: want 6 TCP sockets, a unix socket with its lock, a proxy listener", lns)
	}
	nb, err := poller.BoundFrom(lns, 3)
	if err != nil {
		t.Fatal(err)
	}
	for w := range old.Sets {
		for k := range old.Sets[w] {
			o, n := old.Sets[w][k], nb.Sets[w][k]
			if o.Addr.String() != n.Addr.String() || o.Proxy != n.Proxy || len(o.FDs) != len(n.FDs) {
				t.Fatalf("worker %d listener %d: %v %v, want %v %v", w, k, n.Addr, n.Proxy, o.Addr, o.Proxy)
			}
			for i := range o.FDs {
				if sockIno(t, o.FDs[i]) != sockIno(t, n.FDs[i]) {
					t.Fatalf("worker %d listener %d socket %d is another socket", w, k, i)
				}
			}
		}
	}
	old.Disown()
	old.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the disowned Bound removed the socket file: %v", err)
	}
	if _, err := poller.Bind(poller.Config{Listen: []string{"unix:" + path}}, 1); err == nil {
		t.Fatal("a third server took the unix socket the new Bound holds")
	}
	nb.Close()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("the new Bound left the socket file: %v", err)
	}
	if _, err := poller.BoundFrom([]poller.HandoffListener{{Network: "tcp", Addr: "127.0.0.1:1", FDs: []int{-1, -1}, N: 2, Lock: -1}}, 3); err == nil {
		t.Fatal("BoundFrom split 2 sockets over 3 workers")
	}
}
