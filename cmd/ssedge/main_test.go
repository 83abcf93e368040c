package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ssedge/ssedge/internal/ssetest"
)

// bin is the ssedge binary these tests run, built once in TestMain.
var bin string

// testChildren are stand-ins for a new binary (upgrade tests): the test
// binary runs one instead of the tests when testChildEnv names it.
var testChildren = map[string]func() int{}

const testChildEnv = "SSEDGE_TEST_CHILD"

func TestMain(m *testing.M) {
	if f := testChildren[os.Getenv(testChildEnv)]; f != nil {
		os.Exit(f())
	}
	var err error
	if bin, err = ssetest.BuildBinary("."); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ssetest.Main(m)
}

// server is a running `ssedge serve`.
type server struct {
	cmd    *exec.Cmd
	listen string
	socket string
	log    string       // the log up to the "ssedge serving" line
	logs   *ssetest.Log // what it logs after that line
}

// startServer runs the binary and waits for its "ssedge serving" log line.
// It logs at debug level (args may say otherwise), so that a test can wait
// for the loops to register its subscribers (waitSubscribed).
func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "pub.sock")
	return runServer(t, sock, append([]string{"--listen", "127.0.0.1:0", "--publish-socket", sock, "--log-level", "debug"}, args...)...)
}

// runServer runs `ssedge serve args...` (whose publish socket is sock) and
// waits until it logs that it serves.
func runServer(t *testing.T, sock string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	s := &server{cmd: cmd, socket: sock, logs: &ssetest.Log{}}
	lines := bufio.NewScanner(stderr)
	for lines.Scan() {
		s.log += lines.Text() + "\n"
		var entry struct {
			Msg    string   `json:"msg"`
			Listen []string `json:"listen"`
			Socket string   `json:"publish_socket"`
		}
		if json.Unmarshal(lines.Bytes(), &entry) == nil && entry.Msg == "ssedge serving" {
			s.listen = entry.Listen[0]
			if entry.Socket != sock {
				t.Fatalf("publish socket %q, want %q", entry.Socket, sock)
			}
			go s.logs.Scan(lines) // the scanner may hold lines already read
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("ssedge log:\n%s%s", s.log, s.logs)
				}
			})
			return s
		}
	}
	t.Fatalf("server exited before serving:\n%s", s.log)
	return nil
}

// waitSubscribed waits until the server (its workers, under --procs) has
// logged n subscriptions in all: a subscriber is registered in its loop
// before any event published after that line is delivered.
func (s *server) waitSubscribed(t *testing.T, n int) {
	t.Helper()
	s.logs.Wait(t, 10*time.Second, n, `"msg":"subscribe"`)
}

// publishID publishes data with `ssedge publish` and returns the id it
// printed.
func publishID(t *testing.T, socket, channel, data string) uint64 {
	t.Helper()
	out, err := run(t, "publish", "--socket", socket, "--channel", channel, data)
	if err != nil {
		t.Fatal(err, out)
	}
	id, err := strconv.ParseUint(strings.TrimSpace(out), 10, 64)
	if err != nil {
		t.Fatalf("publish printed %q", out)
	}
	return id
}

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	return string(out), err
}

// The README's tour: subscribe to two channels, publish with curl-style
// HTTP and with `ssedge publish`, see both frames in id order.
func TestServePublishTour(t *testing.T) {
	s := startServer(t)
	st := openStream(t, s.listen, "/events?channel=news&channel=sport")
	s.waitSubscribed(t, 1)
	pub, err := net.Dial("unix", s.socket)
	if err != nil {
		t.Fatal(err)
	}
	pub.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(pub, "POST /publish?channel=news&event=headline HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
	resp, err := http.ReadResponse(bufio.NewReader(pub), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("publish over HTTP: %v %v", resp, err)
	}
	id1, _ := io.ReadAll(resp.Body)
	pub.Close()
	out, err := run(t, "publish", "--socket", s.socket, "--channel", "sport", "goal!")
	if err != nil {
		t.Fatalf("publish: %v %s", err, out)
	}
	id2 := strings.TrimSpace(out)
	for i, want := range []string{"retry: 3000\n", "id: " + strings.TrimSpace(string(id1)) + "\nevent: headline\ndata: hello\n", "id: " + id2 + "\ndata: goal!\n"} {
		f, err := st.st.Next(10 * time.Second)
		if err != nil || f.Raw != want {
			t.Fatalf("frame %d: %q %v, want %q", i, f.Raw, err, want)
		}
	}
}

// SIGTERM closes the listeners, removes the socket and exits 0.
func TestSignalExit(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		s := startServer(t)
		s.cmd.Process.Signal(sig)
		if err := s.cmd.Wait(); err != nil {
			t.Fatalf("%v: exit %v", sig, err)
		}
		if _, err := os.Lstat(s.socket); !os.IsNotExist(err) {
			t.Errorf("%v: socket left behind: %v", sig, err)
		}
		if _, err := net.Dial("tcp", s.listen); err == nil {
			t.Errorf("%v: still listening on %s", sig, s.listen)
		}
	}
}

func TestHelpListsEveryFlag(t *testing.T) {
	out, err := run(t, "serve", "--help")
	if err != nil {
		t.Fatalf("serve --help: %v", err)
	}
	for _, f := range []string{"listen", "publish-socket", "publish-socket-mode", "loops", "heartbeat", "header-timeout",
		"max-backlog-bytes", "max-backlog-frames", "max-channels", "max-event-bytes", "ring-size", "cors-origin",
		"cors-credentials", "log-format", "log-level", "history-per-channel", "history-age", "history-memory", "retry", "poll-timeout", "poll-max-timeout", "conns", "listen-unix-mode", "proxy-listen", "trusted-proxy", "publish-socket-owner", "publish-socket-group", "publish-allow-uid", "publish-allow-gid", "max-conns", "max-conns-per-ip", "private-prefix", "auth-secret-file", "auth-public-key", "token-cookie", "procs", "client-ip-header",
		"config", "auth-rotation-overlap", "admin-listen", "drain-window", "max-publishers"} {
		if !strings.Contains(out, "--"+f+" ") {
			t.Errorf("--help does not list --%s:\n%s", f, out)
		}
	}
	if !strings.Contains(out, "(default 127.0.0.1:8080)") || !strings.Contains(out, "(default 30s)") {
		t.Errorf("--help does not show defaults:\n%s", out)
	}
}

func TestCLIErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"serve", "--no-such-flag"}, "flag provided but not defined"},
		{[]string{"serve", "--max-event-bytes", "lots"}, "expected a positive byte count"},
		{[]string{"serve", "--listen", "nonsense", "--publish-socket", "/tmp/ssedge-cli-unused.sock"}, `listen address "nonsense"`},
		{[]string{"serve", "--log-format", "xml"}, `--log-format "xml"`},
		{[]string{"serve", "--trusted-proxy", "nginx-box"}, `--trusted-proxy "nginx-box"`},
		{[]string{"serve", "--listen", "127.0.0.1:0", "--publish-socket", "/tmp/ssedge-cli-unused2.sock", "--publish-allow-uid", "root"}, `--publish-allow-uid "root": expected a numeric id`},
		{[]string{"serve", "--procs", "0"}, "--procs 0: expected 1 to 256"},
		{[]string{"serve", "--client-ip-header", "Forwarded"}, `--client-ip-header "Forwarded": expected auto, x-real-ip, x-forwarded-for or none`},
		{[]string{"serve", "--loops", "-2"}, "--loops -2: expected 0 (automatic) or more"},
		{[]string{"publish", "x"}, "--channel is required"},
		{[]string{"publish", "--channel", "a"}, "exactly one DATA"},
		{[]string{"publish", "--socket", "/nonexistent/s.sock", "--channel", "a", "x"}, "is `ssedge serve` running"},
	}
	for _, c := range cases {
		out, err := run(t, c.args...)
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("ssedge %v: err %v, output %q; want it to mention %q", c.args, err, out, c.want)
		}
	}
	if out, err := run(t, "version"); err != nil || !strings.HasPrefix(out, "ssedge ") {
		t.Errorf("version: %q %v", out, err)
	}
}

// A connection target the open-files limit cannot hold is warned about at
// start, with the fix.
func TestFileLimitWarning(t *testing.T) {
	s := startServer(t, "--conns", "50000")
	if !strings.Contains(s.log, "open-files limit") || !strings.Contains(s.log, "LimitNOFILE=") {
		t.Fatalf("no open-files warning in %q", s.log)
	}
}

// A refused publish prints the server's reason and exits non-zero.
func TestPublishRefused(t *testing.T) {
	s := startServer(t, "--max-event-bytes", "4")
	out, err := run(t, "publish", "--socket", s.socket, "--channel", "a", "too long")
	if err == nil || !strings.Contains(out, "413") || !strings.Contains(out, "limit is 4") {
		t.Fatalf("got %v %q", err, out)
	}
	out, err = run(t, "publish", "--socket", s.socket, "--channel", "bad name", "x")
	if err == nil || !strings.Contains(out, "invalid channel name") {
		t.Fatalf("got %v %q", err, out)
	}
}

// A second server does not steal a live publish socket.
func TestSocketNotStolen(t *testing.T) {
	s := startServer(t)
	out, err := run(t, "serve", "--listen", "127.0.0.1:0", "--publish-socket", s.socket)
	if err == nil || !strings.Contains(out, "in use by a running server") {
		t.Fatalf("second server: %v %q", err, out)
	}
}

// The README's curl commands work as pasted.
func TestReadmeCurl(t *testing.T) {
	curl := ssetest.NeedTool(t, "curl")
	s := startServer(t)
	// --max-time bounds the test: curl's output ends then.
	sub := exec.Command(curl, "-sN", "--max-time", "20", "http://"+s.listen+"/events?channel=news&channel=sport")
	stdout, _ := sub.StdoutPipe()
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	defer sub.Process.Kill()
	s.waitSubscribed(t, 1)
	out, err := exec.Command(curl, "-s", "--unix-socket", s.socket, "-d", "hello", "http://x/publish?channel=news&event=headline").CombinedOutput()
	if err != nil {
		t.Fatalf("curl publish: %v %s", err, out)
	}
	id := strings.TrimSpace(string(out))
	// What curl printed, frame by frame, as the README shows it.
	br := bufio.NewReader(stdout)
	var p ssetest.Parser
	var got []string
	for len(got) < 2 {
		c, err := br.ReadByte()
		if err != nil {
			t.Fatalf("curl subscriber after %q (partial %q): %v", got, p.Partial(), err)
		}
		if f, ok, err := p.Push(c); err != nil {
			t.Fatal(err)
		} else if ok {
			got = append(got, f.Raw)
		}
	}
	if want := []string{"retry: 3000\n", "id: " + id + "\nevent: headline\ndata: hello\n"}; !slices.Equal(got, want) {
		t.Fatalf("curl saw %q, want %q", got, want)
	}
}

// Given only --proxy-listen, the server does not also open the default
// plain listener (a way in around the proxy).
func TestProxyListenAlone(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "pub.sock")
	cmd := exec.Command(bin, "serve", "--proxy-listen", "127.0.0.1:0", "--publish-socket", sock)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	lines := bufio.NewScanner(stderr)
	for lines.Scan() {
		var entry struct {
			Msg    string   `json:"msg"`
			Listen []string `json:"listen"`
		}
		if json.Unmarshal(lines.Bytes(), &entry) == nil && entry.Msg == "ssedge serving" {
			if len(entry.Listen) != 1 || entry.Listen[0] == "127.0.0.1:8080" {
				t.Fatalf("listening on %v, want only the --proxy-listen address", entry.Listen)
			}
			return
		}
	}
	t.Fatal("server exited before serving")
}

// stream is one SSE client of the CLI tests.
type stream struct{ st *ssetest.Stream }

// openStream subscribes to target on the TCP address addr, with the extra
// header lines, failing the test unless the answer is an event stream.
func openStream(t *testing.T, addr, target string, headers ...string) *stream {
	t.Helper()
	return &stream{ssetest.MustSubscribe(t, ssetest.Request{Addr: addr, Target: target, Header: headers})}
}

// ids reads the ids of the next n events within 10 s; a gap event counts
// as id 0.
func (s *stream) ids(n int) ([]uint64, error) { return s.idsWithin(n, 10*time.Second) }

// idsWithin is ids within d in all.
func (s *stream) idsWithin(n int, d time.Duration) ([]uint64, error) {
	deadline := time.Now().Add(d)
	var out []uint64
	for len(out) < n {
		f, err := s.st.NextEvent(time.Until(deadline))
		if err != nil {
			return out, err
		}
		if f.Event == "ssedge.gap" {
			out = append(out, 0)
			continue
		}
		id, err := strconv.ParseUint(f.ID, 10, 64)
		if err != nil {
			return out, fmt.Errorf("event %q: id %q is not a number", f.Raw, f.ID)
		}
		out = append(out, id)
	}
	return out, nil
}
