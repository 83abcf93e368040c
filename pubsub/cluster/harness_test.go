package cluster_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/ssedge/ssedge/internal/ssetest"
)

// bin is the ssedge binary, built once in TestMain: the nodes under test
// are real ssedge processes on real sockets.
var bin string

func TestMain(m *testing.M) {
	var err error
	if bin, err = ssetest.BuildBinary("github.com/ssedge/ssedge/cmd/ssedge"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ssetest.Main(m)
}

// broker is a nats-server with JetStream, in the test process, on a
// loopback port that survives Stop and Start (same port, same store).
type broker struct {
	t    testing.TB
	dir  string
	port int
	ns   *server.Server
}

func startBroker(t testing.TB) *broker {
	t.Helper()
	b := &broker{t: t, dir: t.TempDir(), port: -1}
	b.Start()
	t.Cleanup(b.Stop)
	return b
}

// Start runs the server (again, on the same port and store).
func (b *broker) Start() {
	b.t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: b.port, JetStream: true,
		StoreDir: b.dir, NoSigs: true, NoLog: true, ServerName: "test"})
	if err != nil {
		b.t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(20 * time.Second) {
		b.t.Fatal("nats-server did not start")
	}
	b.ns = ns
	b.port = ns.Addr().(*net.TCPAddr).Port
}

// Stop shuts the server down (its store stays).
func (b *broker) Stop() {
	if b.ns != nil {
		b.ns.Shutdown()
		b.ns.WaitForShutdown()
		b.ns = nil
	}
}

func (b *broker) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", b.port) }

// node is a running `ssedge serve --cluster`.
type node struct {
	cmd    *exec.Cmd
	listen string
	socket string
	pub    *ssetest.Publisher
	logs   *ssetest.Log
}

// startNode runs ssedge serve with args (--cluster ... among them) and
// waits for its "ssedge serving" line: from then on it must be ready.
func startNode(t testing.TB, args ...string) *node {
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
	lines := bufio.NewScanner(stderr)
	lines.Buffer(nil, 1<<20)
	var head strings.Builder
	for lines.Scan() {
		head.WriteString(lines.Text() + "\n")
		n.logs.Add(lines.Text())
		var entry struct {
			Msg    string   `json:"msg"`
			Listen []string `json:"listen"`
		}
		if json.Unmarshal(lines.Bytes(), &entry) == nil && entry.Msg == "ssedge serving" {
			n.listen = entry.Listen[0]
			n.pub = ssetest.NewPublisher(sock)
			go n.logs.Scan(lines)
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("node %s log:\n%s", n.listen, n.logs)
				}
			})
			return n
		}
	}
	t.Fatalf("ssedge exited before serving:\n%s", head.String())
	return nil
}

// Stop ends the node with SIGTERM and waits for it.
func (n *node) Stop() {
	n.cmd.Process.Signal(syscall.SIGTERM)
	n.cmd.Wait()
}

// Kill ends the node at once (kill -9).
func (n *node) Kill() {
	n.cmd.Process.Kill()
	n.cmd.Wait()
}

// subscribe opens a stream on the node's channels, resuming after last
// when last is not empty, and waits until the node has registered it or
// is replaying it.
func (n *node) subscribe(t *testing.T, target, last string) *ssetest.Stream {
	t.Helper()
	req := ssetest.Request{Addr: n.listen, Target: target}
	if last != "" {
		req.Header = []string{"Last-Event-ID: " + last}
	}
	return ssetest.MustSubscribe(t, req)
}

// waitSubscribed waits until the node has logged n subscriptions.
func (n *node) waitSubscribed(t *testing.T, count int) {
	t.Helper()
	n.logs.Wait(t, 10*time.Second, count, `"msg":"subscribe"`)
}

// event reads the next event and returns its id, type and data.
func event(t *testing.T, st *ssetest.Stream) (id uint64, typ, data string) {
	t.Helper()
	f := st.MustEvent(t)
	if f.Event == "ssedge.gap" {
		return 0, f.Event, f.Data
	}
	id, err := strconv.ParseUint(f.ID, 10, 64)
	if err != nil {
		t.Fatalf("event %q has no id", f.Raw)
	}
	return id, f.Event, f.Data
}

// expectIDs reads events and fails unless their ids are want, in order.
func expectIDs(t *testing.T, st *ssetest.Stream, want ...uint64) {
	t.Helper()
	for _, w := range want {
		id, typ, data := event(t, st)
		if id != w {
			t.Fatalf("got event %d (%s %q), want id %d", id, typ, data, w)
		}
	}
}
