package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ssedge/ssedge/internal/ssetest"
)

// children lists the pids of pid's child processes (each thread lists
// the children it forked).
func children(t *testing.T, pid int) []int {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, task := range tasks {
		b, _ := os.ReadFile(task) // a thread may have exited meanwhile
		for _, f := range strings.Fields(string(b)) {
			n, _ := strconv.Atoi(f)
			out = append(out, n)
		}
	}
	return out
}

// sockets counts a process's open sockets.
func sockets(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name())); err == nil && strings.HasPrefix(l, "socket:") {
			n++
		}
	}
	return n
}

// ssedge serve --procs 3: one port and one publish socket; every worker
// serves some of the clients with the same ids and history; a killed
// worker is replaced while the others go on; SIGTERM stops them all.
func TestServeProcs(t *testing.T) {
	s := startServer(t, "--procs", "3", "--loops", "1")
	workers := children(t, s.cmd.Process.Pid)
	if len(workers) != 3 {
		t.Fatalf("supervisor has %d children, want 3 workers", len(workers))
	}
	before := map[int]int{}
	for _, w := range workers {
		before[w] = sockets(t, w)
	}
	var streams []*stream
	for i := 0; i < 60; i++ {
		streams = append(streams, openStream(t, s.listen, "/events?channel=news"))
	}
	for _, w := range workers {
		if got := sockets(t, w) - before[w]; got == 0 {
			t.Fatalf("worker %d holds none of the 60 clients: the port is not shared", w)
		}
	}
	s.waitSubscribed(t, 60)
	var want []uint64
	for i := 0; i < 3; i++ {
		want = append(want, publishID(t, s.socket, "news", fmt.Sprint("event ", i)))
	}
	for i, st := range streams {
		got, err := st.ids(3)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("client %d got ids %v (%v), want %v", i, got, err, want)
		}
	}
	// Every worker has the history: clients resuming after the first
	// event, wherever they land, get the other two replayed.
	for i := 0; i < 20; i++ {
		st := openStream(t, s.listen, "/events?channel=news", fmt.Sprintf("Last-Event-ID: %d", want[0]))
		if got, err := st.ids(2); err != nil || fmt.Sprint(got) != fmt.Sprint(want[1:]) {
			t.Fatalf("resuming client %d got %v (%v), want %v", i, got, err, want[1:])
		}
	}

	// Kill one worker: its clients lose their connections, the others
	// keep theirs, and a new worker takes its place.
	victim := workers[0]
	syscall.Kill(victim, syscall.SIGKILL)
	now := waitReplaced(t, s.cmd.Process.Pid, 3, victim, 10*time.Second)
	for _, w := range now {
		if !slices.Contains(workers, w) {
			// Its loops run before it tells the supervisor it is ready.
			s.logs.Wait(t, 10*time.Second, 1, `"msg":"subscriber loops started"`, fmt.Sprintf(`"pid":%d`, w))
		}
	}
	next := publishID(t, s.socket, "news", "after the kill")
	if next <= want[2] {
		t.Fatalf("id %d after a worker restart is not above %d", next, want[2])
	}
	alive := 0
	for _, st := range streams {
		got, err := st.ids(1)
		if err == nil {
			if got[0] != next {
				t.Fatalf("surviving client got id %d, want %d", got[0], next)
			}
			alive++
		}
	}
	if alive == 0 || alive == len(streams) {
		t.Fatalf("%d of %d clients survived killing one of 3 workers", alive, len(streams))
	}
	for i := 0; i < 30; i++ { // new clients reach every worker, the new one too
		st := openStream(t, s.listen, "/events?channel=news", fmt.Sprintf("Last-Event-ID: %d", want[2]))
		if got, err := st.ids(1); err != nil || got[0] != next && got[0] != 0 {
			t.Fatalf("client %d after the restart got %v (%v), want %d or a gap", i, got, err, next)
		}
	}

	s.cmd.Process.Signal(syscall.SIGTERM)
	if err := s.cmd.Wait(); err != nil {
		t.Fatalf("supervisor exit after SIGTERM: %v", err)
	}
	for _, w := range now {
		// Reaped by the supervisor before it exits; the wait only covers
		// the kernel's release of the pid.
		ssetest.WaitFor(t, 5*time.Second, fmt.Sprintf("worker %d to be gone after the supervisor stopped", w), func() bool {
			return syscall.Kill(w, 0) != nil
		})
	}
	if _, err := os.Lstat(s.socket); !os.IsNotExist(err) {
		t.Errorf("publish socket left behind: %v", err)
	}
}

// waitReplaced waits until the supervisor pid has n workers again, none
// of them gone, and returns them.
func waitReplaced(t *testing.T, pid, n, gone int, within time.Duration) []int {
	t.Helper()
	var now []int
	ssetest.WaitFor(t, within, fmt.Sprintf("worker %d to be replaced (%d workers)", gone, n), func() bool {
		now = children(t, pid)
		return len(now) == n && !slices.Contains(now, gone)
	})
	return now
}

// A worker started by hand is told what it is for.
func TestWorkerByHand(t *testing.T) {
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), workerEnv+"=0")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "started by ssedge serve --procs") {
		t.Fatalf("worker by hand: %v %q", err, out)
	}
}

// A worker that stops reading (here: SIGSTOP) delays no other worker and
// no publisher, and is killed and replaced after the relay's stall time.
func TestServeProcsStuckWorker(t *testing.T) {
	s := startServer(t, "--procs", "2", "--loops", "1")
	workers := children(t, s.cmd.Process.Pid)
	if len(workers) != 2 {
		t.Fatalf("supervisor has %d children, want 2", len(workers))
	}
	var streams []*stream
	for i := 0; i < 12; i++ {
		streams = append(streams, openStream(t, s.listen, "/events?channel=news"))
	}
	s.waitSubscribed(t, 12)
	stuck := workers[0]
	syscall.Kill(stuck, syscall.SIGSTOP)
	t.Cleanup(func() { syscall.Kill(stuck, syscall.SIGKILL) })

	// 10 events of 200 KB: far more than the stopped worker's socket
	// buffer. Each publish is answered at once.
	pub := ssetest.NewPublisher(s.socket)
	defer pub.Close()
	big := strings.Repeat("x", 200<<10)
	for i := 0; i < 10; i++ {
		if _, err := pub.Publish("news", "", big); err != nil {
			t.Fatalf("publish %d while a worker is stuck: %v", i, err)
		}
	}
	// The other worker's clients get all ten while the stuck one is
	// still stopped.
	// Read every stream at once, so the stuck worker's clients, which
	// wait out the whole bound, cost it once. 6 s leaves a loaded 2-core
	// box room to carry 2 MB to each healthy client, and ends well before
	// the relay's stall time (10 s) replaces the stuck worker.
	var served atomic.Int32
	var wg sync.WaitGroup
	for _, st := range streams {
		wg.Go(func() {
			if got, err := st.idsWithin(10, 6*time.Second); err == nil && len(got) == 10 {
				served.Add(1)
			}
		})
	}
	wg.Wait()
	if n := int(served.Load()); n == 0 || n == len(streams) {
		t.Fatalf("%d of %d clients got the events while one of 2 workers was stopped", n, len(streams))
	}
	if syscall.Kill(stuck, 0) != nil {
		t.Fatal("the stuck worker was killed before the stall time")
	}
	waitReplaced(t, s.cmd.Process.Pid, 2, stuck, relayStall+10*time.Second)
}

// Workers carry the binary's name for pgrep and top; a stop that races a
// worker's restart starts no new worker and does not wait for one.
func TestServeProcsNameAndStopDuringRestart(t *testing.T) {
	s := startServer(t, "--procs", "2", "--loops", "1")
	workers := children(t, s.cmd.Process.Pid)
	if len(workers) != 2 {
		t.Fatalf("supervisor has %d children, want 2", len(workers))
	}
	for _, w := range workers {
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", w)); strings.TrimSpace(string(comm)) != filepath.Base(bin) {
			t.Errorf("worker %d is named %q, want %q", w, comm, filepath.Base(bin))
		}
	}
	syscall.Kill(workers[0], syscall.SIGKILL)
	// Stop while the supervisor restarts it (it waits restartMin first).
	s.logs.Wait(t, 10*time.Second, 1, `"msg":"worker died; restarting it"`)
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM during a restart: %v", err)
		}
	case <-time.After(workerStopTimeout - 2*time.Second):
		t.Fatal("the supervisor waited for a worker started during the stop")
	}
}

// A worker that cannot start again stops the whole server with exit
// status 1, rather than leave its share of the clients queued on its
// sockets for ever. Here the supervisor's private copy of the
// configuration file is gone (a /tmp cleaner, say): the file given to
// --config, or its removal, would not stop a restart (the workers read
// the copy: TestWorkerRestartWithoutConfigFile).
func TestServeProcsCrashLoopStops(t *testing.T) {
	s := startServer(t, "--procs", "2", "--loops", "1", "--config", writeConfig(t, "retry = \"2s\"\n"))
	worker := children(t, s.cmd.Process.Pid)[0]
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", worker))
	if err != nil {
		t.Fatal(err)
	}
	var copyPath string
	for _, kv := range strings.Split(string(environ), "\x00") {
		if v, ok := strings.CutPrefix(kv, workerConfigEnv+"="); ok {
			copyPath = v
		}
	}
	if copyPath == "" {
		t.Fatalf("worker %d has no %s in its environment", worker, workerConfigEnv)
	}
	if err := os.Remove(copyPath); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(worker, syscall.SIGKILL)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("exit %v, want status 1", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the server kept restarting a worker that cannot start")
	}
}
