//go:build unix

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ssedge/ssedge/internal/ssetest"
)

// The npm eventsource client under Node, through nginx, does what the
// browser does: named events, reconnection with Last-Event-ID after each
// cut-off, exactly the missed events, and the ssedge.gap event when the
// history no longer holds them.
func TestNodeEventSource(t *testing.T) {
	t.Parallel()
	ssetest.NeedTool(t, "nginx")
	node := ssetest.NeedTool(t, "node")
	installEventSource(t)
	r := startResumeSetup(t)

	cmd := exec.Command(node, "es-client.mjs", r.sseURL)
	cmd.Dir = "testdata"
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &ssetest.Log{}
	errPipe, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("node stderr:\n%s", joinLines(stderr.Lines()))
		}
	})
	seen := &ssetest.Log{}
	go seen.Follow(stdout)
	go stderr.Follow(errPipe)
	r.run(t, seen.Lines)
}

// installEventSource runs `npm ci` in testdata when the locked client is
// not there yet (scripts/test.sh normally has installed it).
func installEventSource(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join("testdata", "node_modules", "eventsource", "package.json")); err == nil {
		return
	}
	npm := ssetest.NeedTool(t, "npm")
	cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = "testdata"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in e2e/testdata: %v\n%s", err, out)
	}
}
