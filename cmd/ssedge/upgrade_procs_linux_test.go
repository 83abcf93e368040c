package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ssedge/ssedge/internal/fdpass"
	"github.com/ssedge/ssedge/internal/ssetest"
)

// checkStreams reads, from every stream, the ids of its channel's events
// (ids[channel], in publish order) and fails the test on any difference.
func checkStreams(t *testing.T, streams []*stream, channelOf func(i int) string, ids map[string][]uint64) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(streams))
	for i, st := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := ids[channelOf(i)]
			got, err := st.ids(len(want))
			if err != nil {
				errs <- fmt.Errorf("stream %d (%s): after %d of %d events: %w", i, st.st.Conn.LocalAddr(), len(got), len(want), err)
				return
			}
			if k := slices.Compare(got, want); k != 0 {
				errs <- fmt.Errorf("stream %d (%s): %s", i, st.st.Conn.LocalAddr(), firstDiff(got, want))
			}
		}()
	}
	wg.Wait()
	close(errs)
	bad := 0
	for err := range errs {
		if bad++; bad <= 5 {
			t.Error(err)
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d streams wrong", bad, len(streams))
	}
}

// SIGUSR2 to a --procs 3 supervisor in the middle of a paced publish:
// every stream keeps its TCP connection (each is read, to the last event,
// on the socket it opened) and receives every event of its channel in id
// order exactly once; the pid file names the new supervisor, the old one
// and its workers are gone, the new workers are the new supervisor's
// children; a resume by Last-Event-ID from an id published before the
// upgrade is exact.
func TestUpgradeProcsKeepsStreams(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "ssedge.pid")
	s := startServer(t, "--procs", "3", "--loops", "1", "--pid-file", pidFile, "--heartbeat", "1h")
	oldPid := s.cmd.Process.Pid
	ssetest.WaitFor(t, 10*time.Second, "the pid file", func() bool { return readPid(pidFile) == oldPid })
	oldWorkers := children(t, oldPid)
	if len(oldWorkers) != 3 {
		t.Fatalf("workers %v, want 3", oldWorkers)
	}
	channels := []string{"a", "b", "c", "d"}
	channelOf := func(i int) string { return channels[i%len(channels)] }
	n := upgradeStreams()
	streams := make([]*stream, n)
	for i := range streams {
		streams[i] = openStream(t, s.listen, "/events?channel="+channelOf(i))
	}
	s.waitSubscribed(t, n)
	pub := startPublishing(t, s.socket, channels, 200)
	time.Sleep(time.Second) // lets real time pass: events published before the upgrade
	newPid := upgradeTo(t, s, pidFile)
	if st, err := s.cmd.Process.Wait(); err != nil || !st.Success() {
		t.Errorf("the old supervisor: %v %v, want exit 0", st, err)
	}
	ssetest.WaitFor(t, 10*time.Second, "the old workers to exit", func() bool {
		return !slices.ContainsFunc(oldWorkers, alive)
	})
	time.Sleep(time.Second) // lets real time pass: events published after the upgrade
	ids := pub.finish()
	for _, ch := range channels {
		if len(ids[ch]) < 20 {
			t.Fatalf("only %d events published on %q", len(ids[ch]), ch)
		}
	}
	checkStreams(t, streams, channelOf, ids)
	if !alive(newPid) {
		t.Fatalf("the new supervisor %d is gone", newPid)
	}
	newWorkers := children(t, newPid)
	if len(newWorkers) != 3 || slices.ContainsFunc(newWorkers, func(p int) bool { return slices.Contains(oldWorkers, p) }) {
		t.Fatalf("the new supervisor's children %v, want 3 new workers (the old were %v)", newWorkers, oldWorkers)
	}
	s.logs.Wait(t, 5*time.Second, 1, `"msg":"upgraded: the new supervisor and its workers serve every listener and connection; this one exits"`)
	took := 0
	for _, l := range s.logs.Lines() {
		if strings.Contains(l, `"msg":"upgrade: took over the old worker's connections"`) {
			var e struct {
				Connections int `json:"connections"`
			}
			json.Unmarshal([]byte(l), &e)
			took += e.Connections
		}
	}
	if took != n {
		t.Fatalf("the new workers took over %d connections, want %d", took, n)
	}

	// A client that had event k of "a" (published before the upgrade)
	// resumes, on whichever new worker the kernel picks.
	a := ids["a"]
	r := openStream(t, s.listen, "/events?channel=a", "Last-Event-ID: "+strconv.FormatUint(a[0], 10))
	got, err := r.ids(len(a) - 1)
	if err != nil || slices.Compare(got, a[1:]) != 0 {
		t.Fatalf("resume from %d: %s (%v)", a[0], firstDiff(got, a[1:]), err)
	}
	t.Logf("%d streams, %d events, %d publish retries", n, len(a)*len(channels), pub.errs)
}

// A new binary that exits 1 at start under --procs: the old supervisor
// and its workers serve on, no stream drops, the failure is counted; a
// good binary put back then upgrades, with the same streams.
func TestUpgradeProcsFailedBinary(t *testing.T) {
	admin := "127.0.0.1:" + strconv.Itoa(ssetest.FreePort(t))
	s := startDeployable(t, "--admin-listen", admin, "--procs", "3", "--loops", "1")
	exe, pidFile, sock := s.exe, s.pidFile, s.socket
	streams := make([]*stream, 30)
	for i := range streams {
		streams[i] = openStream(t, s.listen, "/events?channel=a")
	}
	s.waitSubscribed(t, len(streams))
	first := publishID(t, sock, "a", "one")

	s.upgradeToBrokenBuild(t)
	second := publishID(t, sock, "a", "two")
	checkStreams(t, streams, func(int) string { return "a" }, map[string][]uint64{"a": {first, second}})
	if m := metrics(t, admin); !strings.Contains(m, `ssedge_upgrades_total{result="failed",worker="supervisor"} 1`) {
		t.Fatalf("metrics lack the failed upgrade:\n%s", grepLines(m, "upgrades"))
	}

	copyFile(t, bin, exe)
	upgradeTo(t, s.server, pidFile)
	third := publishID(t, sock, "a", "three")
	checkStreams(t, streams, func(int) string { return "a" }, map[string][]uint64{"a": {third}})
	m := metrics(t, admin)
	if !strings.Contains(m, `ssedge_upgrades_total{result="failed",worker="supervisor"} 1`) || !strings.Contains(m, `ssedge_upgrades_total{result="ok",worker="supervisor"} 1`) {
		t.Fatalf("the new supervisor's metrics:\n%s", grepLines(m, "upgrades"))
	}
}

// A stand-in new supervisor that takes the old workers' connections and
// then exits before taking over: it says hello, reads the state, waits on
// every worker's hand-off name, says msgBound, receives each old worker's
// connections (so every old worker is paused with its connections sent),
// writes how many to $SSEDGE_TEST_CHILD_MARK and exits 1 (or, with
// $SSEDGE_TEST_HANG set, waits for ever, holding them).
func init() {
	testChildren["procs-take-then-exit"] = func() int {
		fail := func(err error) int { fmt.Fprintln(os.Stderr, "stand-in:", err); return 1 }
		conn, err := fdpass.FromFD(3)
		if err != nil {
			return fail(err)
		}
		if err := conn.Send(msgHello, nil, nil); err != nil {
			return fail(err)
		}
		var doc []byte
		for {
			m, err := conn.Recv(10 * time.Second)
			if err != nil {
				return fail(err)
			}
			if m.Kind == msgPart {
				doc = append(doc, m.Payload...)
			}
			if m.Kind == msgEnd {
				break
			}
		}
		var st handoffState
		if err := json.Unmarshal(doc, &st); err != nil {
			return fail(err)
		}
		var lns []*fdpass.Listener
		for i := range st.Procs {
			ln, err := fdpass.Listen(handoffName(st.PID, strconv.Itoa(i)))
			if err != nil {
				return fail(err)
			}
			lns = append(lns, ln)
		}
		if err := conn.Send(msgBound, nil, nil); err != nil {
			return fail(err)
		}
		var held []*fdpass.Conn // open until the exit: the old workers wait for a verdict
		total := 0
		for _, ln := range lns {
			c, err := ln.Accept(10 * time.Second)
			if err != nil {
				return fail(err)
			}
			held = append(held, c)
			if err := c.Send(msgHello, []byte(strconv.FormatUint(st.LastID, 10)), nil); err != nil {
				return fail(err)
			}
			for {
				m, err := c.Recv(10 * time.Second)
				if err != nil {
					return fail(err)
				}
				total += len(m.FDs)
				fdpass.CloseFDs(m.FDs)
				if m.Kind == msgEnd {
					break
				}
			}
		}
		os.WriteFile(os.Getenv("SSEDGE_TEST_CHILD_MARK"), []byte(strconv.Itoa(total)), 0o644)
		if os.Getenv("SSEDGE_TEST_HANG") != "" {
			select {}
		}
		return 1
	}
}

// The old workers have paused and sent every connection when the new
// supervisor fails: each takes its connections back and serves on (no
// stream drops, none misses an event), the old supervisor logs and counts
// the failure, and a good binary then upgrades.
func TestUpgradeProcsAbortAfterHandOff(t *testing.T) {
	s := startDeployable(t, "--procs", "3", "--loops", "1")
	dir, exe, pidFile, sock := s.dir, s.exe, s.pidFile, s.socket
	streams := make([]*stream, 60)
	for i := range streams {
		streams[i] = openStream(t, s.listen, "/events?channel=a")
	}
	s.waitSubscribed(t, len(streams))
	first := publishID(t, sock, "a", "one")

	mark := filepath.Join(dir, "mark")
	installFile(t, exe, []byte(standIn(t, "procs-take-then-exit", "SSEDGE_TEST_CHILD_MARK="+mark)))
	syscall.Kill(s.cmd.Process.Pid, syscall.SIGUSR2)
	s.logs.Wait(t, 30*time.Second, 1, `"msg":"upgrade failed: this process goes on serving everything"`)
	if got := readPid(mark); got != len(streams) {
		t.Fatalf("the stand-in received %d connections, want %d", got, len(streams))
	}
	second := publishID(t, sock, "a", "two")
	checkStreams(t, streams, func(int) string { return "a" }, map[string][]uint64{"a": {first, second}})
	if pid := readPid(pidFile); pid != s.cmd.Process.Pid || !alive(pid) {
		t.Fatalf("pid file names %d, want the old supervisor %d, alive", pid, s.cmd.Process.Pid)
	}

	copyFile(t, bin, exe)
	upgradeTo(t, s.server, pidFile)
	third := publishID(t, sock, "a", "three")
	checkStreams(t, streams, func(int) string { return "a" }, map[string][]uint64{"a": {third}})
}

// SIGTERM to the old supervisor while its workers have sent every
// connection to a new supervisor that holds them and never answers: the
// attempt ends at once (the new one is killed), each old worker takes its
// connections back before it drains, and the old supervisor drains and
// exits 0, leaving nothing serving.
func TestUpgradeProcsStopDuringHandOff(t *testing.T) {
	s := startDeployable(t, "--procs", "2", "--loops", "1", "--drain-window", "1s")
	dir, exe, sock := s.dir, s.exe, s.socket
	oldWorkers := children(t, s.cmd.Process.Pid)
	streams := make([]*stream, 20)
	for i := range streams {
		streams[i] = openStream(t, s.listen, "/events?channel=a")
	}
	s.waitSubscribed(t, len(streams))
	first := publishID(t, sock, "a", "one")
	mark := filepath.Join(dir, "mark")
	installFile(t, exe, []byte(standIn(t, "procs-take-then-exit", "SSEDGE_TEST_HANG=1", "SSEDGE_TEST_CHILD_MARK="+mark)))
	syscall.Kill(s.cmd.Process.Pid, syscall.SIGUSR2)
	ssetest.WaitFor(t, 20*time.Second, "the stand-in to hold every connection", func() bool { return readPid(mark) == len(streams) })
	syscall.Kill(s.cmd.Process.Pid, syscall.SIGTERM)
	if ps, err := s.cmd.Process.Wait(); err != nil || !ps.Success() {
		t.Fatalf("the old supervisor: %v %v, want exit 0 after its drain", ps, err)
	}
	s.logs.Wait(t, 10*time.Second, 1, `"msg":"upgrade failed: this process goes on serving everything"`, `stopped (SIGTERM or SIGINT) during the upgrade`)
	s.logs.Wait(t, 10*time.Second, len(oldWorkers), `"msg":"SIGUSR2: connections not handed over; serving on"`, `the new worker gave up, everything is back`)
	ssetest.WaitFor(t, 10*time.Second, "the old workers to exit", func() bool { return !slices.ContainsFunc(oldWorkers, alive) })
	if c, err := net.Dial("tcp", s.listen); err == nil {
		c.Close()
		t.Fatal("something still serves the listen address after the stop")
	}
	drained := 0 // the old workers drained every stream: they had them back
	for _, l := range s.logs.Lines() {
		if strings.Contains(l, `"msg":"draining: closing the listeners`) {
			var e struct {
				Streams int `json:"streams"`
			}
			json.Unmarshal([]byte(l), &e)
			drained += e.Streams
		}
	}
	if drained != len(streams) {
		t.Fatalf("the old workers drained %d streams, want %d", drained, len(streams))
	}
	for i, st := range streams {
		// The event published before the upgrade, then the drain's end:
		// the workers had the connections back.
		got, err := st.ids(1)
		if err != nil || got[0] != first {
			t.Fatalf("stream %d: %v %v, want [%d]", i, got, err, first)
		}
		if _, err := st.ids(1); !errors.Is(err, io.EOF) {
			t.Fatalf("stream %d: %v, want it ended (EOF) by the drain", i, err)
		}
	}
}

// configChanged starts a server from a configuration file holding
// before, with a --pid-file, opens one stream on "a", publishes "one" to
// it (first) and then rewrites the file to after, for an upgrade to read.
func configChanged(t *testing.T, before, after string) (s *server, st *stream, first uint64, pidFile string) {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ssedge.toml")
	if err := os.WriteFile(cfg, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	pidFile = filepath.Join(dir, "ssedge.pid")
	s = startServer(t, "--config", cfg, "--pid-file", pidFile)
	st = openStream(t, s.listen, "/events?channel=a")
	s.waitSubscribed(t, 1)
	first = publishID(t, s.socket, "a", "one")
	if err := os.WriteFile(cfg, []byte(after), 0o644); err != nil {
		t.Fatal(err)
	}
	return s, st, first, pidFile
}

// --procs changed in the configuration file before SIGUSR2: the new
// supervisor (or single process) cannot take sockets split for another
// worker count; it says so, and the old processes serve on.
func TestUpgradeProcsCountChanged(t *testing.T) {
	for _, procs := range []string{"2", "1"} {
		t.Run(procs, func(t *testing.T) {
			s, st, first, pidFile := configChanged(t, "procs = 3\nloops = 1\n", "procs = "+procs+"\nloops = 1\n")
			syscall.Kill(s.cmd.Process.Pid, syscall.SIGUSR2)
			want := "--procs changes take a restart"
			if procs == "1" {
				want = "state version 3, this binary reads 2"
			}
			s.logs.Wait(t, 20*time.Second, 1, `"msg":"upgrade failed: this process goes on serving everything"`, want)
			second := publishID(t, s.socket, "a", "two")
			if got, err := st.ids(2); err != nil || slices.Compare(got, []uint64{first, second}) != 0 {
				t.Fatalf("the stream got %v (%v), want [%d %d]", got, err, first, second)
			}
			if pid := readPid(pidFile); pid != s.cmd.Process.Pid {
				t.Fatalf("pid file names %d, want the old supervisor %d", pid, s.cmd.Process.Pid)
			}
		})
	}
}

// answeredBy is the Ssedge-Pid of a fresh connection's GET /healthz on
// the admin endpoint (0: no answer within the timeout).
func answeredBy(addr string, timeout time.Duration) int {
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/healthz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	pid, _ := strconv.Atoi(resp.Header.Get("Ssedge-Pid"))
	return pid
}

// stalledUpgrade stops one old worker (SIGSTOP) and sends SIGUSR2 to its
// supervisor: the hand-off then waits for that worker, well inside the
// old supervisor's 10 s wait for the take-over, until resume (SIGCONT),
// which also runs at the test's end if it was not called.
func stalledUpgrade(t *testing.T, supervisor, worker int) (resume func()) {
	t.Helper()
	syscall.Kill(worker, syscall.SIGSTOP)
	var once sync.Once
	resume = func() { once.Do(func() { syscall.Kill(worker, syscall.SIGCONT) }) }
	t.Cleanup(resume)
	syscall.Kill(supervisor, syscall.SIGUSR2)
	return resume
}

// During a --procs upgrade the admin endpoint is answered by the old
// supervisor until it lets go: the new one holds the same socket but
// does not serve it before the commit (a readiness probe or a scrape
// landing there would see a process that may still give up). One old
// worker is stopped (SIGSTOP) so the hand-off waits for it while the
// test probes; then it goes on and the new supervisor answers.
func TestUpgradeProcsAdminAfterCommit(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "ssedge.pid")
	adm := "127.0.0.1:" + strconv.Itoa(ssetest.FreePort(t))
	s := startServer(t, "--procs", "2", "--loops", "1", "--pid-file", pidFile, "--admin-listen", adm)
	oldPid := s.cmd.Process.Pid
	ssetest.WaitFor(t, 10*time.Second, "the pid file", func() bool { return readPid(pidFile) == oldPid })
	if got := answeredBy(adm, 5*time.Second); got != oldPid {
		t.Fatalf("before the upgrade the admin endpoint was answered by %d, want %d", got, oldPid)
	}
	oldWorkers := children(t, oldPid)
	if len(oldWorkers) != 2 {
		t.Fatalf("workers %v, want 2", oldWorkers)
	}
	resume := stalledUpgrade(t, oldPid, oldWorkers[0])
	var newPid int
	ssetest.WaitFor(t, 10*time.Second, "the new supervisor to start its workers", func() bool {
		for _, p := range children(t, oldPid) {
			if !slices.Contains(oldWorkers, p) && len(children(t, p)) == 2 {
				newPid = p
				return true
			}
		}
		return false
	})
	// Bounded well inside the old supervisor's 10 s wait for the take-over.
	probeEnd := time.Now().Add(3 * time.Second)
	for i := 0; i < 40 && time.Now().Before(probeEnd); i++ {
		if got := answeredBy(adm, time.Second); got != oldPid {
			t.Fatalf("probe %d during the hand-off was answered by %d, want the old supervisor %d (the new one is %d)", i, got, oldPid, newPid)
		}
	}
	resume()
	t.Cleanup(func() { syscall.Kill(newPid, syscall.SIGKILL) })
	ssetest.WaitFor(t, 30*time.Second, "the pid file to name the new supervisor", func() bool { return readPid(pidFile) == newPid })
	ssetest.WaitFor(t, 10*time.Second, "the new supervisor to answer", func() bool { return answeredBy(adm, 5*time.Second) == newPid })
}

// A real new worker that has taken over its predecessor's connections
// dies before the commit, while another is still waiting for its own
// (its predecessor stopped): the upgrade still commits once that one is
// done, as the dead worker had said it took over. Its predecessor, which
// never heard the commit, takes its connections back and, its supervisor
// gone, ends them: those clients resume by Last-Event-ID on the new
// workers and get every event exactly; every other stream goes on on its
// own TCP connection, missing nothing. The dead worker is restarted.
func TestUpgradeProcsNewWorkerDiesBeforeCommit(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "ssedge.pid")
	s := startServer(t, "--procs", "2", "--loops", "1", "--pid-file", pidFile, "--heartbeat", "1h", "--drain-window", "1s")
	oldPid := s.cmd.Process.Pid
	ssetest.WaitFor(t, 10*time.Second, "the pid file", func() bool { return readPid(pidFile) == oldPid })
	oldWorkers := children(t, oldPid)
	if len(oldWorkers) != 2 {
		t.Fatalf("workers %v, want 2", oldWorkers)
	}
	streams := make([]*stream, 40)
	for i := range streams {
		streams[i] = openStream(t, s.listen, "/events?channel=a")
	}
	s.waitSubscribed(t, len(streams))
	first := publishID(t, s.socket, "a", "one")
	checkStreams(t, streams, func(int) string { return "a" }, map[string][]uint64{"a": {first}})

	resume := stalledUpgrade(t, oldPid, oldWorkers[0])
	const holding = `"msg":"upgrade: holding the old worker's connections, waiting for the commit"`
	s.logs.Wait(t, 20*time.Second, 1, holding)
	var line string
	for _, l := range s.logs.Lines() {
		if strings.Contains(l, holding) {
			line = l
		}
	}
	var held struct {
		PID         int `json:"pid"`
		Connections int `json:"connections"`
	}
	if err := json.Unmarshal([]byte(line), &held); err != nil || held.PID == 0 {
		t.Fatalf("cannot read the new worker's pid from %q: %v", line, err)
	}
	if held.Connections == 0 || held.Connections == len(streams) {
		t.Fatalf("the new worker holds %d of %d connections: the test needs both workers to have some", held.Connections, len(streams))
	}
	syscall.Kill(held.PID, syscall.SIGKILL)
	resume()
	var newPid int
	ssetest.WaitFor(t, 30*time.Second, "the pid file to name the new supervisor", func() bool {
		newPid = readPid(pidFile)
		return newPid != oldPid && alive(newPid)
	})
	t.Cleanup(func() { syscall.Kill(newPid, syscall.SIGKILL) })
	ssetest.WaitFor(t, 20*time.Second, "the new supervisor to restart the dead worker", func() bool {
		kids := children(t, newPid)
		return len(kids) == 2 && !slices.Contains(kids, held.PID)
	})
	ssetest.WaitFor(t, 20*time.Second, "the old workers to exit", func() bool { return !slices.ContainsFunc(oldWorkers, alive) })
	second := publishID(t, s.socket, "a", "two")
	third := publishID(t, s.socket, "a", "three")
	ended := 0
	for i, st := range streams {
		got, err := st.ids(2)
		if err == nil {
			if !slices.Equal(got, []uint64{second, third}) {
				t.Fatalf("stream %d went on with %v, want [%d %d]", i, got, second, third)
			}
			continue
		}
		if !errors.Is(err, io.EOF) || len(got) != 0 {
			t.Fatalf("stream %d: %v then %v, want the two events or its end (EOF) before them", i, got, err)
		}
		ended++
		r := openStream(t, s.listen, "/events?channel=a", "Last-Event-ID: "+strconv.FormatUint(first, 10))
		if got, err := r.ids(2); err != nil || !slices.Equal(got, []uint64{second, third}) {
			t.Fatalf("stream %d resumed from %d: %v %v, want [%d %d]", i, first, got, err, second, third)
		}
	}
	if ended != held.Connections {
		t.Fatalf("%d streams ended, want the %d the dead worker held", ended, held.Connections)
	}
}

// --loops changed in the configuration file before SIGUSR2: the handed
// listening sockets are split for the old count, so the new workers run
// that many, say so once, and the upgrade goes through with the stream
// on its connection.
func TestUpgradeProcsLoopsChanged(t *testing.T) {
	s, st, first, pidFile := configChanged(t, "procs = 2\nloops = 1\n", "procs = 2\nloops = 3\n")
	upgradeTo(t, s, pidFile)
	s.logs.Wait(t, 10*time.Second, 1, `"msg":"upgrade: the handed-over listening sockets are split for the old loop count`, `"loops_per_proc":1,"flag":3,"state":1`)
	s.logs.Wait(t, 10*time.Second, 1, `"msg":"ssedge serving"`, `"loops_per_proc":1`)
	second := publishID(t, s.socket, "a", "two")
	if got, err := st.ids(2); err != nil || slices.Compare(got, []uint64{first, second}) != 0 {
		t.Fatalf("the stream got %v (%v), want [%d %d]", got, err, first, second)
	}
	// The next upgrade hands on the count that runs.
	upgradeTo(t, s, pidFile)
	s.logs.Wait(t, 10*time.Second, 2, `"msg":"upgrade: the handed-over listening sockets are split for the old loop count`, `"loops_per_proc":1,"flag":3,"state":1`)
	third := publishID(t, s.socket, "a", "three")
	if got, err := st.ids(1); err != nil || got[0] != third {
		t.Fatalf("after the second upgrade the stream got %v (%v), want [%d]", got, err, third)
	}
}
