//go:build unix

package e2e

import (
	"bufio"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/ssedge/ssedge/internal/ssetest"
)

// clusterNode is one `ssedge serve --cluster` on a fixed port, so that it
// can be killed and started again where nginx expects it.
type clusterNode struct {
	port   int
	socket string
	cmd    *exec.Cmd
	log    *ssetest.Log
	pub    *ssetest.Publisher
	args   []string // more serve flags
}

func (c *clusterNode) start(t *testing.T, natsURL string) {
	t.Helper()
	cmd := exec.Command(ssedgeBin(t), append([]string{"serve", "--listen", fmt.Sprintf("127.0.0.1:%d", c.port),
		"--publish-socket", c.socket, "--cluster", natsURL, "--retry", "500ms", "--log-level", "debug", "--drain-window", "0"}, c.args...)...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.cmd, c.log = cmd, &ssetest.Log{}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(stderr)
	sc.Buffer(nil, 1<<20)
	go c.log.Scan(sc)
	c.log.Wait(t, 20*time.Second, 1, `"msg":"ssedge serving"`)
	c.pub = ssetest.NewPublisher(c.socket)
}

// kill ends the node with SIGKILL.
func (c *clusterNode) kill() {
	c.cmd.Process.Kill()
	c.cmd.Wait()
}

// Three ssedge nodes on one JetStream stream behind nginx round-robin: the
// npm eventsource client, whose node is killed (-9) again and again,
// reconnects through nginx to another node with Last-Event-ID and gets
// every event once, in order — whichever node it was published on. Two
// nodes keep only the newest event of a channel in memory, so a resume
// there reads the events it missed from the stream.
func TestClusterNginxEventSource(t *testing.T) {
	t.Parallel()
	ssetest.NeedTool(t, "nginx")
	nodeBin := ssetest.NeedTool(t, "node")
	installEventSource(t)

	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(20 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	dir := tempDir(t)
	nodes := make([]*clusterNode, 3)
	var servers strings.Builder
	for i := range nodes {
		nodes[i] = &clusterNode{port: ssetest.FreePort(t), socket: filepath.Join(dir, fmt.Sprint("pub", i, ".sock"))}
		if i > 0 { // node 0 created the stream with the default limits
			nodes[i].args = []string{"--history-per-channel", "1"}
		}
		nodes[i].start(t, ns.ClientURL())
		fmt.Fprintf(&servers, "        server 127.0.0.1:%d max_fails=0;\n", nodes[i].port)
	}
	port := ssetest.FreePort(t)
	n := startNginx(t, nginxMain("$NGINX_DIR", fmt.Sprintf(`
    upstream ssedge_cluster {
%s    }
    server {
        listen 127.0.0.1:%d;
        location /events {
            proxy_pass http://ssedge_cluster;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_read_timeout 60s;
            proxy_next_upstream error timeout;   # a killed node: the next one
        }
    }
`, servers.String(), port), ""))

	before := nodes[0].pub.MustPublish(t, "news", "", "before")
	url := fmt.Sprintf("http://127.0.0.1:%d/events?channel=news&lastEventId=%d", port, before)
	cmd := exec.Command(nodeBin, "es-client.mjs", url)
	cmd.Dir = "testdata"
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	seen := &ssetest.Log{}
	go seen.Follow(stdout)
	origin := fmt.Sprintf("http://127.0.0.1:%d", port)
	line := func(id uint64, data string) string { return fmt.Sprintf("message %d %s %s", id, data, origin) }
	wait := func(what, want string) {
		t.Helper()
		ssetest.WaitFor(t, clientWait, what+": "+want+"; the client saw:\n"+strings.Join(seen.Lines(), "\n"), func() bool {
			return slices.Contains(seen.Lines(), want)
		})
	}
	// serving is the node whose loops registered the client's newest stream.
	subs := make([]int, len(nodes))
	serving := func() int {
		for i, c := range nodes {
			if k := c.log.Count(`"msg":"subscribe"`); k > subs[i] {
				subs[i] = k
				return i
			}
		}
		return -1
	}

	var want []string
	used := map[int]bool{}
	for round := range 4 {
		id := nodes[round%3].pub.MustPublish(t, "news", "", fmt.Sprint("live", round))
		want = append(want, line(id, fmt.Sprint("live", round)))
		wait("a live event", want[len(want)-1])
		victim := -1
		ssetest.WaitFor(t, 10*time.Second, "the node serving the client", func() bool {
			victim = serving()
			return victim >= 0
		})
		used[victim] = true
		nodes[victim].kill()
		// Published on the other nodes while the client reconnects.
		for k := 1; k <= 2; k++ {
			other := nodes[(victim+k)%3]
			data := fmt.Sprint("missed", round, "-", k)
			id := other.pub.MustPublish(t, "news", "", data)
			want = append(want, line(id, data))
		}
		nodes[victim].start(t, ns.ClientURL())
		subs[victim] = 0 // a new process, a new log
		wait("the missed events after reconnecting", want[len(want)-1])
	}
	var events []string
	for _, l := range seen.Lines() {
		if strings.HasPrefix(l, "message ") || strings.HasPrefix(l, "ssedge.gap") {
			events = append(events, l)
		}
	}
	if !slices.Equal(events, want) {
		t.Fatalf("the client saw:\n%s\nwant:\n%s", strings.Join(events, "\n"), strings.Join(want, "\n"))
	}
	if len(used) < 2 {
		t.Fatalf("every stream landed on the same node (%v): nothing moved between nodes", used)
	}
	n.stop()
	reads := 0
	for _, c := range nodes {
		reads += c.log.Count("resume reads from the cluster's stream")
	}
	t.Logf("resumes read from the stream (by the nodes running now): %d; streams (nginx access log):\n%s", reads, n.accessLog())
}
