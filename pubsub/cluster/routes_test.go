package cluster_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ssedge/ssedge/internal/ssetest"
)

// Three boxes, each with its embedded nats-server, joined by
// --cluster-routes into one NATS cluster with a replicas-3 stream: the same
// ids on every node, and the stream survives the loss of one box (kill -9),
// whose restart resumes a client exactly. The routes need the secret of
// --cluster-token-file: a server without it cannot join.
func TestEmbeddedRoutes(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("route-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ports := []int{ssetest.FreePort(t), ssetest.FreePort(t), ssetest.FreePort(t)}
	var urls []string
	for _, p := range ports {
		urls = append(urls, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	args := func(i int) []string {
		return []string{"--cluster", "embedded", "--cluster-dir", filepath.Join(dir, fmt.Sprint("box", i)),
			"--cluster-route-listen", fmt.Sprintf("127.0.0.1:%d", ports[i]), "--cluster-routes", strings.Join(urls, ","),
			"--cluster-replicas", "3", "--cluster-token-file", secret}
	}
	// All three start together: JetStream needs a quorum of them before
	// any can create the stream and serve.
	nodes := []*node{launchNode(t, args(0)...), launchNode(t, args(1)...), launchNode(t, args(2)...)}
	for _, n := range nodes {
		n.waitServing(t)
	}
	var ids []uint64
	for i := range 6 {
		ids = append(ids, nodes[i%3].pub.MustPublish(t, "r", "", fmt.Sprint(i)))
	}
	for _, n := range nodes {
		expectIDs(t, n.subscribe(t, "/events?channel=r", fmt.Sprint(ids[0]-1)), ids...)
	}
	st := nodes[1].subscribe(t, "/events?channel=r", fmt.Sprint(ids[5]))
	nodes[2].Kill()
	// Two of three keep the quorum: publishes go on (after a possible
	// leader election: retried until acknowledged).
	var more uint64
	ssetest.WaitFor(t, 30*time.Second, "a publish with one box down", func() bool {
		id, err := nodes[0].pub.Publish("r", "", "one box down")
		more = id
		return err == nil
	})
	// Node 1's consumer may have lived on the lost box: it is re-created
	// within a few seconds (heartbeats, the stall watchdog).
	f, err := st.NextEvent(30 * time.Second)
	if err != nil || f.ID != fmt.Sprint(more) {
		t.Fatalf("after losing a box: %q, %v; want id %d", f.Raw, err, more)
	}
	nodes[2] = restartBox(t, args(2))
	// Within 30 s, not at once: once, a restarted box served before it had
	// caught up with the stream (docs/cluster.md, known issues).
	back := nodes[2].subscribe(t, "/events?channel=r", fmt.Sprint(ids[3]))
	for _, want := range []uint64{ids[4], ids[5], more} {
		f, err := back.NextEvent(30 * time.Second)
		if err != nil || f.ID != fmt.Sprint(want) {
			t.Fatalf("resume on the restarted box: %q, %v; want id %d", f.Raw, err, want)
		}
	}

	// A box with the wrong secret is not let in: it cannot serve.
	wrong := filepath.Join(dir, "wrong")
	os.WriteFile(wrong, []byte("not-it"), 0o600)
	intruderPort := ssetest.FreePort(t)
	intruder := launchNode(t, "--cluster", "embedded", "--cluster-dir", filepath.Join(dir, "intruder"),
		"--cluster-route-listen", fmt.Sprintf("127.0.0.1:%d", intruderPort),
		"--cluster-routes", urls[0], "--cluster-token-file", wrong, "--cluster-replicas", "3")
	intruder.logs.Wait(t, 60*time.Second, 1, "stream not available yet")
	if intruder.logs.Count(`"msg":"ssedge serving"`) != 0 {
		t.Fatal("a box with the wrong route secret joined the cluster and served")
	}
}

// restartBox starts a box again as systemd's Restart=on-failure would: a
// restarted box may exit once while its JetStream catches up with its
// peers (docs/cluster.md); it is started again, at most three times.
func restartBox(t *testing.T, args []string) *node {
	t.Helper()
	for try := 0; try < 3; try++ {
		n := launchNode(t, args...)
		ssetest.WaitFor(t, 60*time.Second, "the box to serve or exit", func() bool {
			return n.logs.Count(`"msg":"ssedge serving"`) > 0 || n.logs.Ended()
		})
		if n.logs.Count(`"msg":"ssedge serving"`) > 0 {
			n.waitServing(t)
			return n
		}
		t.Logf("the restarted box exited (try %d); starting it again", try+1)
	}
	t.Fatal("the restarted box did not serve in three starts")
	return nil
}

// launchNode starts ssedge serve with args without waiting for it (see
// waitServing); its log goes to n.logs.
func launchNode(t *testing.T, args ...string) *node {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "pub.sock")
	cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--publish-socket", sock,
		"--log-level", "debug", "--drain-window", "0"}, args...)...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &node{cmd: cmd, socket: sock, logs: &ssetest.Log{}}
	t.Cleanup(func() { n.Kill() })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("node %s log:\n%s", n.listen, n.logs)
		}
	})
	lines := bufio.NewScanner(stderr)
	lines.Buffer(nil, 1<<20)
	go n.logs.Scan(lines)
	return n
}

// waitServing waits for a launched node's "ssedge serving" line.
func (n *node) waitServing(t *testing.T) {
	t.Helper()
	n.logs.Wait(t, 60*time.Second, 1, `"msg":"ssedge serving"`)
	for _, l := range n.logs.Lines() {
		var entry struct {
			Msg    string   `json:"msg"`
			Listen []string `json:"listen"`
		}
		if json.Unmarshal([]byte(l), &entry) == nil && entry.Msg == "ssedge serving" {
			n.listen = entry.Listen[0]
			n.pub = ssetest.NewPublisher(n.socket)
			return
		}
	}
	t.Fatal("no serving line")
}
