package main

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary serve as the load generator's worker
// process: runLoad re-executes os.Executable with workerFlag.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == workerFlag {
		os.Exit(workerMain())
	}
	os.Exit(m.Run())
}

// startNetHTTP builds and starts bench/nethttp on a free port and returns
// its subscriber address, publish socket and pid.
func startNetHTTP(t *testing.T) (addr, socket string, pid int) {
	t.Helper()
	gotool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to build bench/nethttp with")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "nethttp")
	build := exec.Command(gotool, "build", "-o", bin, "../../bench/nethttp")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building bench/nethttp: %v\n%s", err, out)
	}
	socket = filepath.Join(dir, "pub.sock")
	srv := exec.Command(bin, "--listen", "127.0.0.1:0", "--publish-socket", socket)
	stdout, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- srv.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("nethttp exited with %v after SIGINT, want a clean exit", err)
			}
		case <-time.After(10 * time.Second):
			srv.Process.Kill()
			t.Error("nethttp did not exit within 10 s of SIGINT")
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("reading nethttp's first line: %v", err)
	}
	go io.Copy(io.Discard, stdout)
	m := regexp.MustCompile(`listening on (\S+), publish socket`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("nethttp said %q, want its listening address", line)
	}
	return m[1], socket, srv.Process.Pid
}

func TestLoadAgainstNetHTTP(t *testing.T) {
	addr, socket, pid := startNetHTTP(t)
	jsonPath := filepath.Join(t.TempDir(), "result.json")
	cfg, err := parseConfig([]string{
		"--url", "http://" + addr + "/events?channel=bench&channel=other",
		"--conns", "200", "--procs", "2", "--src-addrs", "3",
		"--publish-socket", socket, "--events", "3", "--interval", "50ms", "--size", "200",
		"--server-pid", strconv.Itoa(pid), "--settle", "100ms", "--quiet", "--json", jsonPath, "--label", "nethttp",
		"--floor-pairs", "20", "--floor-bursts", "5",
	}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	res, err := runLoad(cfg, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	res.writeTable(&table)
	t.Log("\n" + table.String())
	if !res.OK || res.Connected != 200 || res.Delivered != 600 || res.Lost != 0 {
		t.Fatalf("OK=%v connected=%d delivered=%d lost=%d problems=%q, want 200 connected, 600 delivered, none lost",
			res.OK, res.Connected, res.Delivered, res.Lost, res.Problems)
	}
	if res.RSSPerConnBytes <= 0 || res.All.LastMs <= 0 || res.All.FirstMs > res.All.LastMs {
		t.Errorf("implausible figures: RSS/conn %v B, first %v ms, last %v ms", res.RSSPerConnBytes, res.All.FirstMs, res.All.LastMs)
	}
	if res.LastP50Ms <= 0 || res.LastP50Ms > res.All.LastMs || res.PublishedPerS <= 0 || res.RatePerS != 20 {
		t.Errorf("last subscriber p50 %v ms (worst %v ms), published %v/s at %v/s asked: want 0 < p50 <= worst, a positive rate, 20/s asked",
			res.LastP50Ms, res.All.LastMs, res.PublishedPerS, res.RatePerS)
	}
	if res.ServerProcs != 1 || res.ServerProcsChanged {
		t.Errorf("%d server processes measured (changed: %v), want the one nethttp process", res.ServerProcs, res.ServerProcsChanged)
	}
	if res.Floor == nil || res.Floor.WriteUs <= 0 || res.CPUPerDeliveryOverFloor <= 0 {
		t.Errorf("kernel floor %+v, CPU per delivery / floor %v: want positive figures", res.Floor, res.CPUPerDeliveryOverFloor)
	}
	if !strings.Contains(table.String(), "kernel floor") || !strings.Contains(table.String(), "1 process(es) measured") {
		t.Errorf("the table lacks the kernel floor or the process count")
	}

	// The JSON round-trips into compare.
	if err := res.writeJSON(jsonPath); err != nil {
		t.Fatal(err)
	}
	var cmp strings.Builder
	if rc := compareMain([]string{jsonPath, jsonPath}, &cmp, os.Stderr); rc != 0 {
		t.Fatalf("compare exited %d", rc)
	}
	if !strings.Contains(cmp.String(), "200 conns, 20 ev/s") || !strings.Contains(cmp.String(), "2 (0)") || !strings.Contains(cmp.String(), "kernel floor") {
		t.Errorf("compare printed:\n%s\nwant a 200-conns 20 ev/s block with the kernel floor and 2 runs, none failed", cmp.String())
	}

	// And into report-md and chart.
	var md, svg, errs strings.Builder
	if rc := reportMDMain([]string{"--command", "go test", jsonPath}, &md, &errs); rc != 0 || !strings.Contains(md.String(), "## Headline: 200 connections") {
		t.Errorf("report-md exited %d (%s) and printed:\n%s", rc, errs.String(), md.String())
	}
	if rc := chartMain([]string{jsonPath}, &svg, &errs); rc != 0 || !strings.HasPrefix(svg.String(), "<svg") {
		t.Errorf("chart exited %d (%s) and printed:\n%s", rc, errs.String(), svg.String())
	}
}

func TestLoadReportsRefusedConnections(t *testing.T) {
	addr, socket, _ := startNetHTTP(t)
	// Nothing listens on the subscriber side here: every connect fails and
	// the run must say so and not be OK.
	_ = addr
	cfg, err := parseConfig([]string{
		"--url", "http://127.0.0.1:1/events?channel=bench",
		"--conns", "20", "--procs", "1", "--publish-socket", socket,
		"--events", "1", "--settle", "0s", "--drain", "100ms", "--quiet", "--floor-pairs", "0",
	}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	res, err := runLoad(cfg, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK || res.Failed != 20 || res.ConnectErrors["connect: ECONNREFUSED"] != 20 {
		t.Errorf("OK=%v failed=%d errors=%v, want 20 ECONNREFUSED", res.OK, res.Failed, res.ConnectErrors)
	}
}
