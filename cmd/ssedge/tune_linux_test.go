package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/ssedge/ssedge/tuning"
)

// On this machine, the check reports what /proc/sys and getrlimit say, and
// its exit status is its verdict.
func TestTuneCheckRealMachine(t *testing.T) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	for _, conns := range []int{1000, int(rl.Max) * 2} {
		r, code := tuneJSON(t, "--conns", fmt.Sprint(conns))
		if (code == 0) != r.Holds || (code != 0 && code != 1) {
			t.Errorf("--conns %d: exit %d, holds %v", conns, code, r.Holds)
		}
		if r.Target.Conns != conns || len(r.Items) < 15 {
			t.Fatalf("report %+v", r)
		}
		for _, it := range r.Items {
			switch {
			case it.Name == "RLIMIT_NOFILE":
				if want := fmt.Sprintf("soft %d hard %d", rl.Cur, rl.Max); it.Current != want {
					t.Errorf("RLIMIT_NOFILE %q, getrlimit says %q", it.Current, want)
				}
				if hard := uint64(conns + tuning.FDReserve); (rl.Max < hard) != (it.Verdict == tuning.Fail) {
					t.Errorf("--conns %d: hard limit %d, verdict %s", conns, rl.Max, it.Verdict)
				}
			case it.Name == "memory":
				if it.Verdict != tuning.OK {
					t.Errorf("--conns %d on a 24 GiB box: memory %+v", conns, it)
				}
			case it.Name == "cpu":
				if want := fmt.Sprintf("%d core(s)", min(runtime.NumCPU(), runtime.GOMAXPROCS(0))); it.Current != want {
					t.Errorf("cpu %q, want %q", it.Current, want)
				}
			case strings.Contains(it.Current, "not loaded"):
				if _, err := os.Stat("/proc/sys/net/netfilter/nf_conntrack_max"); err == nil {
					t.Errorf("%s: not loaded, but the file exists", it.Name)
				}
			default:
				b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(it.Name, ".", "/"))
				if err != nil {
					t.Errorf("%s: %v", it.Name, err)
					continue
				}
				if want := strings.Join(strings.Fields(string(b)), " "); it.Current != want {
					t.Errorf("%s: current %q, /proc/sys says %q", it.Name, it.Current, want)
				}
			}
		}
		if conns > int(rl.Max) && code != 1 {
			t.Errorf("--conns %d above the hard limit %d: exit %d", conns, rl.Max, code)
		}
	}
	// The table shows the same values.
	out, _ := run(t, "tune", "check", "--conns", "1000")
	somax, _ := os.ReadFile("/proc/sys/net/core/somaxconn")
	if !strings.Contains(out, "SETTING") || !strings.Contains(out, "net.core.somaxconn") || !strings.Contains(out, strings.TrimSpace(string(somax))) || !strings.Contains(out, "result: ") {
		t.Errorf("table:\n%s", out)
	}
}
