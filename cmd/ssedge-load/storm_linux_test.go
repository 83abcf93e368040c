package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssedge/ssedge/internal/ssetest"
)

// startSSEdge builds and starts a real ssedge on a free port with extra
// serve flags, and returns its subscriber address, publish socket and pid.
func startSSEdge(t *testing.T, extra ...string) (addr, socket string, pid int) {
	t.Helper()
	gotool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to build ssedge with")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "ssedge")
	if out, err := exec.Command(gotool, "build", "-o", bin, "../ssedge").CombinedOutput(); err != nil {
		t.Fatalf("building ssedge: %v\n%s", err, out)
	}
	addr = fmt.Sprintf("127.0.0.1:%d", ssetest.FreePort(t))
	socket = filepath.Join(dir, "pub.sock")
	args := append([]string{"serve", "--listen", addr, "--publish-socket", socket}, extra...)
	srv := exec.Command(bin, args...)
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Process.Kill()
		srv.Wait()
	})
	ssetest.WaitFor(t, 30*time.Second, "ssedge listening", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		_, serr := os.Stat(socket)
		return err == nil && serr == nil
	})
	return addr, socket, srv.Process.Pid
}

func stormConfig(t *testing.T, addr, socket string, pid int, extra ...string) *config {
	t.Helper()
	args := append([]string{
		"--url", "http://" + addr + "/events?channel=storm",
		"--publish-socket", socket, "--server-pid", strconv.Itoa(pid),
		"--settle", "0s", "--quiet", "--floor-pairs", "0", "--drain", "60s", "--storm",
	}, extra...)
	cfg, err := parseConfig(args, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// A storm of 500 streams against a real ssedge: every stream is dropped
// and resumes with its Last-Event-ID while events go on, and gets every
// event exactly once, in order, from history and then live.
func TestStormResumesEveryStream(t *testing.T) {
	addr, socket, pid := startSSEdge(t, "--heartbeat", "100ms")
	cfg := stormConfig(t, addr, socket, pid, "--conns", "500", "--procs", "2", "--src-addrs", "2",
		"--events", "40", "--interval", "20ms", "--storm-after", "5", "--storm-sample", "50ms",
		"--idle", "500ms", "--heartbeat", "100ms")
	res, err := runLoad(cfg, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	res.writeTable(&table)
	t.Log("\n" + table.String())
	st := res.Storm
	if !res.OK || st == nil || st.Dropped != 500 || st.Resumed != 500 || res.Delivered != 500*40 || len(st.Gaps) != 0 {
		t.Fatalf("OK=%v problems=%q storm=%+v delivered=%d: want all 500 dropped and resumed, 20000 delivered, no gaps",
			res.OK, res.Problems, st, res.Delivered)
	}
	if st.ResumeSeconds <= 0 || st.CompleteSeconds < st.ResumeSeconds || st.Server.Samples < 2 || st.Server.PeakRSSBytes <= 0 {
		t.Errorf("storm figures %+v: want resume and completion times, samples and the server's RSS", st)
	}
	// --idle: the server's CPU with the streams open and nothing published,
	// per heartbeat; and the kernel's side, which counts these sockets.
	if res.Idle == nil || res.Idle.CPUSeconds <= 0 || res.Idle.HeartbeatsPerS != 5000 || res.Idle.CPUPerHeartbeatUs <= 0 ||
		res.Kernel.Connected.TCPInUse < 1000 || res.Kernel.Connected.SlabBytes <= 0 {
		t.Errorf("idle %+v, kernel %+v: want CPU per heartbeat at 5000 heartbeats/s and the 1000 sockets counted", res.Idle, res.Kernel)
	}
	if !strings.Contains(table.String(), "resume       500 streaming again") {
		t.Errorf("the table lacks the storm's resume line")
	}
}

// With no history, streams that missed events during the storm are told
// so with ssedge.gap, and the run fails naming the history as too short
// rather than counting the loss as silent. The events go out every
// millisecond, faster than 500 reconnects, so some stream misses some.
func TestStormNamesTooShortHistory(t *testing.T) {
	addr, socket, pid := startSSEdge(t, "--history-per-channel", "-1")
	cfg := stormConfig(t, addr, socket, pid, "--conns", "500", "--procs", "2", "--src-addrs", "2",
		"--events", "400", "--interval", "1ms", "--storm-after", "2", "--storm-concurrency", "8", "--drain", "5s")
	res, err := runLoad(cfg, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK || res.Storm == nil || res.Storm.Gaps["evicted"] == 0 || !strings.Contains(strings.Join(res.Problems, "; "), "history was too short") {
		t.Fatalf("OK=%v problems=%q storm=%+v: want a failed run with evicted gaps named as a too-short history", res.OK, res.Problems, res.Storm)
	}
}
