package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ssedge/ssedge/internal/ssetest"
)

// readPid reads the pid file; 0 while it is missing or partial.
func readPid(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// alive reports whether pid is a running (not zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}

// upgradeTo sends SIGUSR2 and waits for the pid file to name a new live
// process, which the test kills at its end.
func upgradeTo(t *testing.T, s *server, pidFile string) int {
	t.Helper()
	old := readPid(pidFile)
	if err := syscall.Kill(old, syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	var pid int
	ssetest.WaitFor(t, 30*time.Second, "the pid file to name the new process", func() bool {
		pid = readPid(pidFile)
		return pid != 0 && pid != old && alive(pid)
	})
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	return pid
}

// pacedPublisher publishes on channels round robin at about rate events
// a second until stop, retrying an event the server did not take (a
// publish that waited through an upgrade is answered 503 by the old
// process, or its connection ends: it was not published). It records
// each channel's ids.
type pacedPublisher struct {
	mu   sync.Mutex
	ids  map[string][]uint64
	errs int
	stop chan struct{}
	done chan struct{}
}

func startPublishing(t *testing.T, socket string, channels []string, rate int) *pacedPublisher {
	p := &pacedPublisher{ids: make(map[string][]uint64), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		pub := ssetest.NewPublisher(socket)
		defer pub.Close()
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			ch := channels[i%len(channels)]
			for try := 0; ; try++ {
				id, err := pub.Publish(ch, "", fmt.Sprintf("event %d", i))
				if err == nil {
					p.mu.Lock()
					p.ids[ch] = append(p.ids[ch], id)
					p.mu.Unlock()
					break
				}
				p.mu.Lock()
				p.errs++
				p.mu.Unlock()
				if try > 200 {
					t.Errorf("publish %d on %q: %v", i, ch, err)
					return
				}
				pub.Close()
				time.Sleep(10 * time.Millisecond) // back-off before a retry, not synchronisation
			}
		}
	}()
	return p
}

func (p *pacedPublisher) finish() map[string][]uint64 {
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ids
}

// upgradeStreams is how many streams TestUpgradeKeepsStreams holds: the
// issue's 2,000, or fewer with -short.
func upgradeStreams() int {
	if testing.Short() {
		return 300
	}
	return 2000
}

// SIGUSR2 in the middle of a paced publish: every stream keeps its TCP
// connection and receives every event of its channel in id order exactly
// once; the pid file names the new process and the old one has exited 0;
// ids go on increasing.
func TestUpgradeKeepsStreams(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "ssedge.pid")
	s := startServer(t, "--pid-file", pidFile, "--heartbeat", "1h")
	ssetest.WaitFor(t, 10*time.Second, "the pid file", func() bool { return readPid(pidFile) == s.cmd.Process.Pid })
	channels := []string{"a", "b", "c", "d"}
	n := upgradeStreams()
	streams := make([]*stream, n)
	for i := range streams {
		streams[i] = openStream(t, s.listen, "/events?channel="+channels[i%len(channels)])
	}
	s.waitSubscribed(t, n)
	pub := startPublishing(t, s.socket, channels, 200)
	time.Sleep(time.Second) // lets real time pass: events published before the upgrade
	newPid := upgradeTo(t, s, pidFile)
	// Process.Wait, not Cmd.Wait: that would close the log pipe the new
	// process writes to as well.
	if st, err := s.cmd.Process.Wait(); err != nil || !st.Success() {
		t.Errorf("the old process: %v %v, want exit 0", st, err)
	}
	time.Sleep(time.Second) // lets real time pass: events published after the upgrade
	ids := pub.finish()
	for _, ch := range channels {
		if len(ids[ch]) < 20 {
			t.Fatalf("only %d events published on %q", len(ids[ch]), ch)
		}
	}
	checkStreams(t, streams, func(i int) string { return channels[i%len(channels)] }, ids)
	if !alive(newPid) {
		t.Fatalf("the new process %d is gone", newPid)
	}
	s.logs.Wait(t, 5*time.Second, 1, `"msg":"upgraded: the new process serves every listener and connection; this one exits"`, fmt.Sprintf(`"connections":%d`, n))
	t.Logf("%d streams, %d events, %d publish retries", n, len(ids["a"])*len(channels), pub.errs)
}

// A new binary that exits 1 at start: the old process keeps serving every
// stream and the publish socket, logs why and counts it; a good binary
// put back then upgrades.
func TestUpgradeFailedBinary(t *testing.T) {
	admin := "127.0.0.1:" + strconv.Itoa(ssetest.FreePort(t))
	s := startDeployable(t, "--admin-listen", admin)
	exe, pidFile, sock := s.exe, s.pidFile, s.socket
	st := openStream(t, s.listen, "/events?channel=a")
	s.waitSubscribed(t, 1)
	first := publishID(t, sock, "a", "one")

	s.upgradeToBrokenBuild(t)
	second := publishID(t, sock, "a", "two")
	got, err := st.ids(2)
	if err != nil || got[0] != first || got[1] != second {
		t.Fatalf("stream got %v (%v), want [%d %d]", got, err, first, second)
	}
	if m := metrics(t, admin); !strings.Contains(m, `ssedge_upgrades_total{result="failed"} 1`) {
		t.Fatalf("metrics lack the failed upgrade:\n%s", grepLines(m, "upgrades"))
	}

	// A good build again: the same stream goes on in the new process.
	copyFile(t, bin, exe)
	newPid := upgradeTo(t, s.server, pidFile)
	third := publishID(t, sock, "a", "three")
	if got, err := st.ids(1); err != nil || got[0] != third || third <= second {
		t.Fatalf("after the upgrade the stream got %v (%v), want [%d]", got, err, third)
	}
	m := metrics(t, admin)
	if !strings.Contains(m, `ssedge_upgrades_total{result="failed"} 1`) || !strings.Contains(m, `ssedge_upgrades_total{result="ok"} 1`) {
		t.Fatalf("the new process's metrics:\n%s", grepLines(m, "upgrades"))
	}
	_ = newPid
}

// A long-poll parked across the upgrade is answered (empty, at once), and
// the same keep-alive connection polls again, now served by the new
// process; a stream resumes there.
func TestUpgradeLongPoll(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "ssedge.pid")
	s := startServer(t, "--pid-file", pidFile)
	id := publishID(t, s.socket, "p", "before")
	c, err := net.Dial("tcp", s.listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	fmt.Fprintf(c, "GET /poll?channel=p&lastEventId=%d&timeout=60 HTTP/1.1\r\nHost: x\r\n\r\n", id)
	s.logs.Wait(t, 10*time.Second, 1, `"msg":"subscribe"`, `"path":"/poll"`)
	upgradeTo(t, s, pidFile)
	c.SetDeadline(time.Now().Add(20 * time.Second))
	body := readHTTP(t, br)
	if !strings.Contains(body, `"events":[]`) {
		t.Fatalf("the parked poll was answered %q, want no events", body)
	}
	after := publishID(t, s.socket, "p", "after")
	fmt.Fprintf(c, "GET /poll?channel=p&lastEventId=%d&timeout=60 HTTP/1.1\r\nHost: x\r\n\r\n", id)
	body = readHTTP(t, br)
	if !strings.Contains(body, `"id":`+strconv.FormatUint(after, 10)+`,`) || after <= id {
		t.Fatalf("the poll on the new process got %q, want event %d", body, after)
	}
}

// readHTTP reads one response with a Content-Length body and returns the body.
func readHTTP(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	n := -1
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the answer: %v", err)
		}
		if line == "\r\n" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "Content-Length") {
			n, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if n < 0 {
		t.Fatal("answer without Content-Length")
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(br, b); err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// copyFile installs a copy of the file at from at to (installFile).
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	installFile(t, to, b)
}

// installFile puts content at path, executable, in one rename, as a
// deploy replaces a binary: a process started from path runs the old
// file or the new one, never half of one.
func installFile(t *testing.T, path string, content []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, content, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// brokenBuild is a "binary" that exits 1 at start, as a broken build does.
const brokenBuild = "#!/bin/sh\necho broken build >&2\nexit 1\n"

// standIn is a shell script that runs this test binary as the stand-in
// child (testChildren) with env's NAME=value words set, passing on the
// arguments it was given.
func standIn(t *testing.T, child string, env ...string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("#!/bin/sh\n%s=%s %s exec %s \"$@\"\n", testChildEnv, child, strings.Join(env, " "), self)
}

// deployable is a server run from its own copy of the binary (exe, in
// dir) with --pid-file, so that a test can put another build at that
// path before SIGUSR2, as a deploy does.
type deployable struct {
	*server
	dir, exe, pidFile string
}

// upgradeToBrokenBuild puts brokenBuild at the binary's path, as a deploy
// would, and sends SIGUSR2: the attempt fails (logged with the new
// process's exit status) and the pid file still names this process.
func (d *deployable) upgradeToBrokenBuild(t *testing.T) {
	t.Helper()
	installFile(t, d.exe, []byte(brokenBuild))
	syscall.Kill(d.cmd.Process.Pid, syscall.SIGUSR2)
	d.logs.Wait(t, 20*time.Second, 1, `"msg":"upgrade failed: this process goes on serving everything"`, `exit status 1`)
	if pid := readPid(d.pidFile); pid != d.cmd.Process.Pid {
		t.Fatalf("pid file names %d, want the old process %d", pid, d.cmd.Process.Pid)
	}
}

// startDeployable runs a deployable server with a publish socket and a
// TCP listener of its own, logging at debug level, and args.
func startDeployable(t *testing.T, args ...string) *deployable {
	t.Helper()
	dir := t.TempDir()
	d := &deployable{dir: dir, exe: filepath.Join(dir, "ssedge"), pidFile: filepath.Join(dir, "ssedge.pid")}
	copyFile(t, bin, d.exe)
	sock := filepath.Join(dir, "pub.sock")
	d.server = runServerFrom(t, d.exe, sock, append([]string{"--listen", "127.0.0.1:0", "--publish-socket", sock,
		"--log-level", "debug", "--pid-file", d.pidFile}, args...)...)
	return d
}

// runServerFrom is runServer with the binary at exe.
func runServerFrom(t *testing.T, exe, sock string, args ...string) *server {
	t.Helper()
	saved := bin
	bin = exe
	defer func() { bin = saved }()
	return runServer(t, sock, args...)
}

func metrics(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "ssedge_upgrades_total") {
		t.Logf("GET /metrics: %s, %d bytes without the upgrade counters: %.300q", resp.Status, len(b), b)
	}
	return string(b)
}

func grepLines(s, part string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, part) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A new process that fails after the old one paused and sent everything
// (here: a different --loops, so the listeners do not fit): the old
// process takes its listeners and streams back and goes on where it
// stopped, with no event lost or repeated, and a second try succeeds.
func TestUpgradeAbortAfterPause(t *testing.T) {
	s := startDeployable(t, "--loops", "2")
	exe, pidFile, sock := s.exe, s.pidFile, s.socket
	streams := []*stream{openStream(t, s.listen, "/events?channel=a"), openStream(t, s.listen, "/events?channel=a")}
	s.waitSubscribed(t, 2)
	pub := startPublishing(t, sock, []string{"a"}, 200)
	script := fmt.Sprintf("#!/bin/sh\nexec %s \"$@\" --loops 3\n", bin)
	installFile(t, exe, []byte(script))
	time.Sleep(300 * time.Millisecond) // lets real time pass: events before the attempt
	syscall.Kill(s.cmd.Process.Pid, syscall.SIGUSR2)
	s.logs.Wait(t, 20*time.Second, 1, `"msg":"upgrade failed: this process goes on serving everything"`, `inherited listener`)
	// A new connection is served by the old process again.
	late := openStream(t, s.listen, "/events?channel=b")
	s.waitSubscribed(t, 3)
	bID := publishID(t, sock, "b", "late")
	if got, err := late.ids(1); err != nil || got[0] != bID {
		t.Fatalf("a stream opened after the failed attempt got %v (%v), want [%d]", got, err, bID)
	}
	copyFile(t, bin, exe)
	upgradeTo(t, s.server, pidFile)
	time.Sleep(300 * time.Millisecond) // lets real time pass: events after the upgrade
	want := pub.finish()["a"]
	for i, st := range streams {
		got, err := st.ids(len(want))
		if err != nil {
			t.Fatalf("stream %d: after %d of %d events: %v", i, len(got), len(want), err)
		}
		for k := range want {
			if got[k] != want[k] {
				t.Fatalf("stream %d: event %d has id %d, want %d", i, k, got[k], want[k])
			}
		}
	}
}

// Under a Type=notify unit: READY=1 once serving, and on an upgrade the
// old process names the new one with MAINPID= before it exits, after the
// pid file already names it. Under --procs too: the supervisor is the
// main process.
func TestUpgradeSystemdNotify(t *testing.T) {
	t.Run("single", func(t *testing.T) { testUpgradeSystemdNotify(t) })
	t.Run("procs", func(t *testing.T) { testUpgradeSystemdNotify(t, "--procs", "2", "--loops", "1") })
}

func testUpgradeSystemdNotify(t *testing.T, args ...string) {
	dir := t.TempDir()
	notify := filepath.Join(dir, "notify.sock")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	t.Setenv("NOTIFY_SOCKET", notify)
	next := func() string {
		t.Helper()
		b := make([]byte, 256)
		ln.SetReadDeadline(time.Now().Add(20 * time.Second))
		n, err := ln.Read(b)
		if err != nil {
			t.Fatalf("no notification: %v", err)
		}
		return string(b[:n])
	}
	pidFile := filepath.Join(dir, "ssedge.pid")
	s := startServer(t, append([]string{"--pid-file", pidFile}, args...)...)
	if m := next(); m != "READY=1" {
		t.Fatalf("first notification %q, want READY=1", m)
	}
	newPid := upgradeTo(t, s, pidFile)
	if m := next(); m != "MAINPID="+strconv.Itoa(newPid) {
		t.Fatalf("notification %q, want MAINPID=%d", m, newPid)
	}
	// Then a barrier (sd_notify_barrier): the old process waits for
	// systemd to close the descriptor it sent, so MAINPID= is in before
	// its exit.
	b, oob := make([]byte, 64), make([]byte, syscall.CmsgSpace(4*4))
	ln.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, oobn, _, _, err := ln.ReadMsgUnix(b, oob)
	if err != nil || string(b[:n]) != "BARRIER=1" {
		t.Fatalf("after MAINPID= got %q (%v), want BARRIER=1", b[:max(n, 0)], err)
	}
	cmsgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(cmsgs) != 1 {
		t.Fatalf("the barrier's descriptor: %v %v", cmsgs, err)
	}
	fds, err := syscall.ParseUnixRights(&cmsgs[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("the barrier's descriptor: %v %v", fds, err)
	}
	if !alive(s.cmd.Process.Pid) {
		t.Fatal("the old process exited before the barrier was confirmed")
	}
	syscall.Close(fds[0]) // as systemd does once it has read the message
	if ps, err := s.cmd.Process.Wait(); err != nil || !ps.Success() {
		t.Fatalf("the old process: %v %v, want exit 0", ps, err)
	}
	if s.logs.Count(`BARRIER=1`) != 0 {
		t.Fatalf("the old process did not wait for the barrier:\n%s", s.logs)
	}
}

// Unix sockets move too: a stream on a unix:PATH listener goes on, and
// the admin endpoint on a unix socket answers from the new process; under
// --procs too (the workers share the unix listener).
func TestUpgradeUnixSockets(t *testing.T) {
	t.Run("single", func(t *testing.T) { testUpgradeUnixSockets(t, `ssedge_upgrades_total{result="ok"} 1`) })
	t.Run("procs", func(t *testing.T) {
		testUpgradeUnixSockets(t, `ssedge_upgrades_total{result="ok",worker="supervisor"} 1`, "--procs", "2", "--loops", "1")
	})
}

func testUpgradeUnixSockets(t *testing.T, okMetric string, args ...string) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "ssedge.pid")
	subSock := filepath.Join(dir, "sub.sock")
	adminSock := filepath.Join(dir, "admin.sock")
	s := startServer(t, append([]string{"--pid-file", pidFile, "--listen", "unix:" + subSock, "--admin-listen", "unix:" + adminSock}, args...)...)
	st := &stream{ssetest.MustSubscribe(t, ssetest.Request{Network: "unix", Addr: subSock, Target: "/events?channel=u"})}
	s.waitSubscribed(t, 1)
	first := publishID(t, s.socket, "u", "one")
	upgradeTo(t, s, pidFile)
	if ps, err := s.cmd.Process.Wait(); err != nil || !ps.Success() {
		t.Fatalf("the old process: %v %v, want exit 0", ps, err)
	}
	second := publishID(t, s.socket, "u", "two")
	if got, err := st.ids(2); err != nil || got[0] != first || got[1] != second {
		t.Fatalf("the unix stream got %v (%v), want [%d %d]", got, err, first, second)
	}
	// The old process has exited: the new one holds every socket file's
	// lock, so a third server cannot take a path.
	for _, path := range []string{subSock, s.socket, adminSock} {
		f, err := os.OpenFile(path+".lock", os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		f.Close()
		if err != syscall.EWOULDBLOCK {
			t.Errorf("%s.lock: flock %v, want EWOULDBLOCK (held by the new process)", path, err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second) // a third server that serves would run until then
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "serve", "--listen", "unix:"+subSock, "--publish-socket", filepath.Join(dir, "third.sock")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "in use") {
		t.Fatalf("a third server on %s: %v\n%s\nwant refused: in use", subSock, err, out)
	}
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", adminSock)
	}}}
	resp, err := client.Get("http://admin/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), okMetric) {
		t.Fatalf("the admin socket's metrics:\n%s", grepLines(string(b), "upgrades"))
	}
}

// Under --procs the supervisor says READY=1 once every worker serves, so
// the example unit's Type=notify starts it too.
func TestProcsSystemdNotify(t *testing.T) {
	notify := filepath.Join(t.TempDir(), "notify.sock")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	t.Setenv("NOTIFY_SOCKET", notify)
	startServer(t, "--procs", "2")
	b := make([]byte, 256)
	ln.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, err := ln.Read(b)
	if err != nil || string(b[:n]) != "READY=1" {
		t.Fatalf("notification %q (%v), want READY=1", b[:max(n, 0)], err)
	}
}
