package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ssedge/ssedge/internal/fdpass"
	"github.com/ssedge/ssedge/internal/ssetest"
	"github.com/ssedge/ssedge/poller"
)

// A stand-in new binary that says hello, writes its pid to the file
// $SSEDGE_TEST_CHILD_MARK, and then reads nothing: an old process sending
// it the state fills the hand-off socket and would wait for ever.
func init() {
	testChildren["hello-then-hang"] = func() int {
		conn, err := fdpass.FromFD(3)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := conn.Send(msgHello, nil, nil); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		os.WriteFile(os.Getenv("SSEDGE_TEST_CHILD_MARK"), []byte(strconv.Itoa(os.Getpid())), 0o644)
		select {}
	}
}

// hangingBinary puts at exe a script that runs the hello-then-hang
// stand-in; mark is where it writes its pid.
func hangingBinary(t *testing.T, exe, mark string) {
	t.Helper()
	installFile(t, exe, []byte(standIn(t, "hello-then-hang", "SSEDGE_TEST_CHILD_MARK="+mark)))
}

// waitMark waits for the stand-in's pid and has the test kill it at its
// end.
func waitMark(t *testing.T, mark string) int {
	t.Helper()
	var pid int
	ssetest.WaitFor(t, 20*time.Second, "the stand-in new process", func() bool {
		pid = readPid(mark)
		return pid != 0
	})
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	return pid
}

// A new process that fails after it has imported every connection (here
// its --admin-listen address is taken): it says so before the old
// process lets go, so the old one takes everything back and serves on —
// the same streams, the publish socket at its path — and a good binary
// then upgrades.
func TestUpgradeFailsAfterImport(t *testing.T) {
	s := startDeployable(t)
	exe, pidFile, sock := s.exe, s.pidFile, s.socket
	streams := []*stream{openStream(t, s.listen, "/events?channel=a"), openStream(t, s.listen, "/events?channel=a")}
	s.waitSubscribed(t, 2)
	first := publishID(t, sock, "a", "one")

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	script := fmt.Sprintf("#!/bin/sh\nexec %s \"$@\" --admin-listen %s\n", bin, taken.Addr())
	installFile(t, exe, []byte(script))
	syscall.Kill(s.cmd.Process.Pid, syscall.SIGUSR2)
	s.logs.Wait(t, 30*time.Second, 1, `"msg":"upgrade failed: this process goes on serving everything"`, `address already in use`)
	if !alive(s.cmd.Process.Pid) || readPid(pidFile) != s.cmd.Process.Pid {
		t.Fatalf("the old process is gone or the pid file names %d", readPid(pidFile))
	}
	second := publishID(t, sock, "a", "two")
	for i, st := range streams {
		if got, err := st.ids(2); err != nil || got[0] != first || got[1] != second {
			t.Fatalf("stream %d got %v (%v), want [%d %d]", i, got, err, first, second)
		}
	}

	copyFile(t, bin, exe)
	upgradeTo(t, s.server, pidFile)
	third := publishID(t, sock, "a", "three")
	for i, st := range streams {
		if got, err := st.ids(1); err != nil || got[0] != third {
			t.Fatalf("after the upgrade stream %d got %v (%v), want [%d]", i, got, err, third)
		}
	}
}

// An upgrade with nothing published yet (an empty history), and one with
// history off: the new process takes over, and ids start after the old
// process's last.
func TestUpgradeNothingPublished(t *testing.T) {
	for _, hist := range []string{"100", "-1"} {
		t.Run("history-per-channel="+hist, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "ssedge.pid")
			s := startServer(t, "--pid-file", pidFile, "--history-per-channel", hist)
			st := openStream(t, s.listen, "/events?channel=e")
			s.waitSubscribed(t, 1)
			upgradeTo(t, s, pidFile)
			if st, err := s.cmd.Process.Wait(); err != nil || !st.Success() {
				t.Fatalf("the old process: %v %v, want exit 0", st, err)
			}
			s.logs.Wait(t, 10*time.Second, 1, `"msg":"upgrade: state received from the old process"`)
			var last uint64
			for _, l := range s.logs.Lines() {
				if _, after, ok := strings.Cut(l, `"last_id":`); ok && strings.Contains(l, "state received") {
					last, _ = strconv.ParseUint(strings.TrimRight(after, "}"), 10, 64)
				}
			}
			id := publishID(t, s.socket, "e", "first")
			if got, err := st.ids(1); err != nil || got[0] != id || id != last+1 {
				t.Fatalf("the stream got %v (%v), want [%d] (published %d)", got, err, last+1, id)
			}
		})
	}
}

// A new process that says hello and then reads nothing: the old process,
// paused, cannot send it the state (more than the socket holds). Past
// the send deadline it kills it, takes everything back and serves on.
func TestUpgradeNewProcessStopsReading(t *testing.T) {
	s := startDeployable(t)
	dir, exe, sock := s.dir, s.exe, s.socket
	st := openStream(t, s.listen, "/events?channel=h")
	s.waitSubscribed(t, 1)
	// History of several times the hand-off socket's buffer (its default
	// send buffer, net.core.wmem_default).
	wmem := 212992
	if b, err := os.ReadFile("/proc/sys/net/core/wmem_default"); err == nil {
		wmem, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	size := 128 << 10
	n := max(16, 4*wmem/size+1)
	pub := ssetest.NewPublisher(sock)
	defer pub.Close()
	big := strings.Repeat("x", size)
	for range n {
		pub.MustPublish(t, "h", "", big)
	}
	if _, err := st.ids(n); err != nil {
		t.Fatal(err)
	}
	mark := filepath.Join(dir, "child.pid")
	hangingBinary(t, exe, mark)
	syscall.Kill(s.cmd.Process.Pid, syscall.SIGUSR2)
	child := waitMark(t, mark)
	s.logs.Wait(t, 40*time.Second, 1, `"msg":"upgrade failed: this process goes on serving everything"`, `cannot hand the state over`, `fdpass: timed out`)
	ssetest.WaitFor(t, 10*time.Second, "the stand-in to be killed", func() bool { return !alive(child) })
	id := pub.MustPublish(t, "h", "", "after")
	if got, err := st.ids(1); err != nil || got[0] != id {
		t.Fatalf("after the failed attempt the stream got %v (%v), want [%d]", got, err, id)
	}
}

// SIGTERM while an upgrade waits for the new process (here one slow to
// start): the attempt ends at once — the new process is killed — and the
// old process drains as usual and exits 0, leaving nothing serving,
// instead of handing over and leaving the stop unheard.
func TestUpgradeStopDuringAttempt(t *testing.T) {
	s := startDeployable(t, "--drain-window", "0s")
	dir, exe, pidFile := s.dir, s.exe, s.pidFile
	st := openStream(t, s.listen, "/events?channel=s")
	s.waitSubscribed(t, 1)
	mark := filepath.Join(dir, "child.pid")
	// The sleep only makes it likely that the stop comes before the new
	// process says hello; the test holds either way.
	script := fmt.Sprintf("#!/bin/sh\necho $$ > %s\nsleep 3\nexec %s \"$@\"\n", mark, bin)
	installFile(t, exe, []byte(script))
	syscall.Kill(s.cmd.Process.Pid, syscall.SIGUSR2)
	child := waitMark(t, mark)
	syscall.Kill(s.cmd.Process.Pid, syscall.SIGTERM)
	if ps, err := s.cmd.Process.Wait(); err != nil || !ps.Success() {
		t.Fatalf("the old process: %v %v, want exit 0 after its drain", ps, err)
	}
	s.logs.Wait(t, 10*time.Second, 1, `"msg":"upgrade failed: this process goes on serving everything"`, `stopped (SIGTERM or SIGINT) during the upgrade`)
	ssetest.WaitFor(t, 10*time.Second, "the new process to be killed", func() bool { return !alive(child) })
	if c, err := net.Dial("tcp", s.listen); err == nil {
		c.Close()
		t.Fatal("something still serves the listen address after the stop")
	}
	if _, err := st.ids(1); !errors.Is(err, io.EOF) {
		t.Fatalf("the stream: %v, want it ended (EOF) by the drain", err)
	}
	if readPid(pidFile) != 0 {
		t.Fatalf("the pid file names %d after the stop", readPid(pidFile))
	}
}

// A forwarded publish whose command went out but whose answer never came
// has an unknown outcome, which its publisher is told; one that could not
// be sent is "publish again".
func TestForwardOutcomeUnknown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// The "new process" reads the command, then its connection ends
	// without an answer.
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			br := bufio.NewReader(c)
			br.ReadString('\n')
			br.ReadString('\n')
			c.Close()
		}
	}()
	fw := &forwarder{path: path}
	_, err = fw.publish([]byte("a"), nil, []byte("data"))
	if !errors.Is(err, errForwardUnknown) || errors.Is(err, errUpgraded) {
		t.Fatalf("answer lost: %v, want errForwardUnknown", err)
	}
	ln.Close()
	os.Remove(path)
	_, err = fw.publish([]byte("a"), nil, []byte("data"))
	if !errors.Is(err, errUpgraded) {
		t.Fatalf("not sent: %v, want errUpgraded", err)
	}
}

// A corrupt or hostile state document is an error, never a panic.
func TestHandoffStateBounds(t *testing.T) {
	ok := func() handoffState {
		return handoffState{Version: handoffVersion,
			Listeners: []poller.HandoffListener{{Network: "tcp", Addr: "127.0.0.1:1", N: 2}},
			Publish:   handedSocket{Path: "/p.sock", HasLock: true},
			Conns:     []poller.HandoffConn{{Loop: 1, Kind: poller.HandoffStream}}}
	}
	for _, c := range []struct {
		name string
		bend func(*handoffState)
		fds  int
	}{
		{"negative sockets", func(s *handoffState) { s.Listeners[0].N = -1 }, 5},
		{"huge sockets", func(s *handoffState) { s.Listeners[0].N = 1 << 40 }, 5},
		{"network", func(s *handoffState) { s.Listeners[0].Network = "udp" }, 5},
		{"tcp lock", func(s *handoffState) { s.Listeners[0].HasLock = true }, 6},
		{"negative loop", func(s *handoffState) { s.Conns[0].Loop = -3 }, 5},
		{"kind", func(s *handoffState) { s.Conns[0].Kind = 9 }, 5},
		{"no publish path", func(s *handoffState) { s.Publish.Path = "" }, 5},
		{"too few descriptors", func(s *handoffState) {}, 4},
		{"too many descriptors", func(s *handoffState) {}, 6},
	} {
		st := ok()
		c.bend(&st)
		u := &upgradeChild{state: st, fds: make([]int, c.fds)}
		if err := u.assign(); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
	u := &upgradeChild{state: ok(), fds: []int{10, 11, 12, 13, 14}}
	if err := u.assign(); err != nil {
		t.Fatalf("a sound state: %v", err)
	}
	if l := u.state.Listeners[0]; l.FDs[0] != 10 || l.FDs[1] != 11 || u.state.Publish.ln != 12 || u.state.Publish.lock != 13 || u.state.Conns[0].FD != 14 {
		t.Fatalf("descriptors in the wrong places: %+v %+v %+v", l, u.state.Publish, u.state.Conns[0])
	}
}

// A new binary whose flags name another publish socket and admin address
// serves the ones handed over, at their paths (a new path takes a
// restart): publishers and the readiness check find the socket where it
// is.
func TestUpgradeServesHandedPaths(t *testing.T) {
	admin := "127.0.0.1:" + strconv.Itoa(ssetest.FreePort(t))
	s := startDeployable(t, "--admin-listen", admin)
	dir, exe, pidFile, sock := s.dir, s.exe, s.pidFile, s.socket
	script := fmt.Sprintf("#!/bin/sh\nexec %s \"$@\" --publish-socket %s --admin-listen 127.0.0.1:%d\n",
		bin, filepath.Join(dir, "other.sock"), ssetest.FreePort(t))
	installFile(t, exe, []byte(script))
	upgradeTo(t, s.server, pidFile)
	s.logs.Wait(t, 10*time.Second, 1, `"msg":"upgrade: serving the handed-over publish socket, not --publish-socket (a new path takes a restart)"`)
	if id := publishID(t, sock, "a", "one"); id == 0 {
		t.Fatal("no id")
	}
	resp, err := http.Get("http://" + admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/readyz on the new process: %d %s", resp.StatusCode, b)
	}
	if _, err := os.Stat(filepath.Join(dir, "other.sock")); err == nil {
		t.Fatal("the new process bound the flag's path as well")
	}
}
