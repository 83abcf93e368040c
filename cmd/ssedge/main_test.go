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
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ssedge-cli")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "ssedge")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		panic(fmt.Sprintf("go build: %v\n%s", err, out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a running `ssedge serve`.
type server struct {
	cmd    *exec.Cmd
	listen string
	socket string
	log    string // the log up to the "ssedge serving" line
}

// startServer runs the binary and waits for its "ssedge serving" log line.
func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "pub.sock")
	cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--publish-socket", sock}, args...)...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	s := &server{cmd: cmd, socket: sock}
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
			go io.Copy(io.Discard, stderr)
			return s
		}
	}
	t.Fatal("server exited before serving")
	return nil
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
	c, err := net.Dial("tcp", s.listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /events?channel=news&channel=sport HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	head, err := br.ReadString('\n')
	if err != nil || head != "HTTP/1.1 200 OK\r\n" {
		t.Fatalf("head %q %v", head, err)
	}
	for line := ""; line != "\r\n"; {
		if line, err = br.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond) // the loop registers the subscription
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
	got := ""
	for strings.Count(got, "\n\n") < 3 { // retry advice, then the two events
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		got += line
	}
	if !strings.HasPrefix(got, "retry: 3000\n\nid: "+strings.TrimSpace(string(id1))+"\nevent: headline\ndata: hello\n\n") || !strings.HasSuffix(got, "id: "+id2+"\ndata: goal!\n\n") {
		t.Fatalf("stream %q", got)
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
		"cors-credentials", "log-format", "log-level", "history-per-channel", "history-age", "history-memory", "retry", "poll-timeout", "poll-max-timeout", "conns", "listen-unix-mode", "proxy-listen", "trusted-proxy", "publish-socket-owner", "publish-socket-group", "publish-allow-uid", "publish-allow-gid", "max-conns", "max-conns-per-ip", "private-prefix", "auth-secret-file", "auth-public-key", "token-cookie", "procs", "client-ip-header"} {
		if !strings.Contains(out, "--"+f+" ") {
			t.Errorf("--help does not list --%s:\n%s", f, out)
		}
	}
	if !strings.Contains(out, "(default 127.0.0.1:8080)") || !strings.Contains(out, "(default 15s)") {
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

// needTool returns the path of an external tool; missing, it skips the
// test, except under CI=true where the test command must have installed it.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed: scripts/test.sh installs it", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// The README's curl commands work as pasted.
func TestReadmeCurl(t *testing.T) {
	curl := needTool(t, "curl")
	s := startServer(t)
	sub := exec.Command(curl, "-sN", "--max-time", "5", "http://"+s.listen+"/events?channel=news&channel=sport")
	stdout, _ := sub.StdoutPipe()
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	defer sub.Process.Kill()
	time.Sleep(300 * time.Millisecond)
	out, err := exec.Command(curl, "-s", "--unix-socket", s.socket, "-d", "hello", "http://x/publish?channel=news&event=headline").CombinedOutput()
	if err != nil {
		t.Fatalf("curl publish: %v %s", err, out)
	}
	id := strings.TrimSpace(string(out))
	br := bufio.NewReader(stdout)
	got := ""
	for strings.Count(got, "\n\n") < 2 {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("curl subscriber after %q: %v", got, err)
		}
		got += line
	}
	if want := "retry: 3000\n\nid: " + id + "\nevent: headline\ndata: hello\n\n"; got != want {
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
