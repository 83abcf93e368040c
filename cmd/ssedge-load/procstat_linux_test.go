package main

import (
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/ssedge/ssedge/internal/ssetest"
)

// TestProcessTree measures a shell and the two sleeps it starts: a
// supervisor and its workers, the shape of ssedge serve --procs and nginx.
func TestProcessTree(t *testing.T) {
	sh := exec.Command("sh", "-c", "sleep 60 & sleep 60 & wait")
	if err := sh.Start(); err != nil {
		t.Skip("no sh:", err)
	}
	t.Cleanup(func() {
		// The sleeps are the shell's children; end them first, by pid.
		if pids, err := processTree(sh.Process.Pid); err == nil {
			for _, p := range pids[1:] {
				syscall.Kill(p, syscall.SIGTERM)
			}
		}
		sh.Process.Kill()
		sh.Wait()
	})
	var pids []int
	// The shell forks its children at its own pace.
	ssetest.WaitFor(t, 10*time.Second, "the shell's two children", func() bool {
		var err error
		if pids, err = processTree(sh.Process.Pid); err != nil {
			t.Fatal(err)
		}
		return len(pids) == 3
	})
	if pids[0] != sh.Process.Pid {
		t.Fatalf("processTree(%d) = %v, want the shell first and its two sleeps", sh.Process.Pid, pids)
	}
	byParent, err := processTreeByParent(sh.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(byParent)
	sorted := slices.Sorted(slices.Values(pids))
	if !slices.Equal(byParent, sorted) {
		t.Errorf("from /proc/*/stat parents: %v, from children files: %v; want the same processes", byParent, sorted)
	}
	s, err := readProcTree(sh.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	one, err := readProc(sh.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if s.Procs != 3 || s.RSSBytes <= one.RSSBytes {
		t.Errorf("tree: %d processes, %d B RSS; the shell alone %d B: want 3 processes and more RSS than the shell's", s.Procs, s.RSSBytes, one.RSSBytes)
	}
}

func TestProcessTreeOfNoProcess(t *testing.T) {
	if _, err := readProcTree(1 << 30); err == nil {
		t.Error("readProcTree of a pid that cannot exist: nil error, want one")
	}
}
