//go:build unix

package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ssedge/ssedge/internal/ssetest"
)

func TestMain(m *testing.M) { ssetest.Main(m) }

// ssedgeBin is the ssedge binary, built once for all the tests.
func ssedgeBin(t *testing.T) string { return ssetest.Build(t, "../cmd/ssedge") }

// tempDir is a t.TempDir that nginx's workers (nobody, when the master is
// root) can traverse, so they reach the sockets and files in it.
func tempDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// ssedge is a running `ssedge serve`.
type ssedge struct {
	tcp    []string // the TCP listen addresses, in the order given (--listen, then --proxy-listen)
	unix   string   // the unix subscriber socket's path, if any
	socket string   // the publish socket
	pub    *ssetest.Publisher
	log    *ssetest.Log // what it logs after "ssedge serving"
}

// waitLog waits until a log line contains every one of parts.
func (s *ssedge) waitLog(t *testing.T, parts ...string) {
	t.Helper()
	s.log.Wait(t, 10*time.Second, 1, parts...)
}

// startSsedge runs `ssedge serve` with tcp TCP listeners on free ports, a
// unix subscriber listener in dir when unix is set, and the extra args; it
// returns when the server logs "ssedge serving".
func startSsedge(t *testing.T, dir string, tcp int, unix bool, args ...string) *ssedge {
	t.Helper()
	s := &ssedge{socket: filepath.Join(dir, "pub.sock")}
	argv := []string{"serve", "--publish-socket", s.socket}
	for i := 0; i < tcp; i++ {
		argv = append(argv, "--listen", "127.0.0.1:0")
	}
	if unix {
		argv = append(argv, "--listen", "unix:"+filepath.Join(dir, "sub.sock"))
	}
	cmd := exec.Command(ssedgeBin(t), append(argv, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(stderr)
	log := ""
	for lines.Scan() {
		log += lines.Text() + "\n"
		var entry struct {
			Msg    string   `json:"msg"`
			Listen []string `json:"listen"`
		}
		if json.Unmarshal(lines.Bytes(), &entry) != nil || entry.Msg != "ssedge serving" {
			continue
		}
		for _, l := range entry.Listen {
			if p, ok := strings.CutPrefix(l, "unix:"); ok {
				s.unix = p
			} else {
				s.tcp = append(s.tcp, l)
			}
		}
		s.log = &ssetest.Log{}
		go s.log.Scan(lines) // the scanner may hold lines already read
		s.pub = ssetest.NewPublisher(s.socket)
		t.Cleanup(func() {
			s.pub.Close()
			if t.Failed() {
				t.Logf("ssedge log:\n%s%s", log, s.log)
			}
		})
		return s
	}
	t.Fatalf("ssedge exited before serving:\n%s", log)
	return nil
}

// publish publishes data on channel (event type ev, "" for none) and
// returns the event's id.
func (s *ssedge) publish(t *testing.T, channel, ev, data string) string {
	t.Helper()
	return fmt.Sprint(s.pub.MustPublish(t, channel, ev, data))
}

// nginx is an nginx master process running a generated configuration
// from its own directory.
type nginx struct {
	t    *testing.T
	bin  string
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// nginxMain wraps http and stream (each may be empty) in a main
// configuration whose pid file, logs and temp paths are all in dir.
func nginxMain(dir, http, stream string) string {
	var b strings.Builder
	if os.Geteuid() == 0 {
		// Workers as root reach the test's sockets and temp paths like
		// the master does; as any other user nginx ignores the line.
		b.WriteString("user root;\n")
	}
	if stream != "" {
		b.WriteString("load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n")
	}
	fmt.Fprintf(&b, `worker_processes 1;
# A graceful stop (SIGQUIT) closes the streams still open after this, and
# logs them, as a real nginx upgrade or restart does.
worker_shutdown_timeout 1s;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 512; }
`, dir)
	if http != "" {
		fmt.Fprintf(&b, `http {
    log_format sse '$request_method $request_uri $status last_event_id="$http_last_event_id" origin="$http_origin" upstream=$upstream_addr';
    access_log %[1]s/access.log sse;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
%[2]s
}
`, dir, http)
	}
	if stream != "" {
		b.WriteString(stream + "\n")
	}
	return b.String()
}

// startNginx writes conf (a whole main configuration, see nginxMain) to a
// new directory, checks it with `nginx -t` and runs it in the foreground.
func startNginx(t *testing.T, conf string) *nginx {
	t.Helper()
	n := &nginx{t: t, bin: ssetest.NeedTool(t, "nginx"), dir: tempDir(t)}
	conf = strings.ReplaceAll(conf, "$NGINX_DIR", n.dir)
	if err := os.WriteFile(filepath.Join(n.dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := n.command("-t").CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s\n%s", err, out, numbered(conf))
	}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *nginx) command(args ...string) *exec.Cmd {
	return exec.Command(n.bin, append([]string{"-p", n.dir, "-c", filepath.Join(n.dir, "nginx.conf"),
		"-e", filepath.Join(n.dir, "error.log"), "-g", "daemon off;"}, args...)...)
}

// start runs nginx and waits until its pid file is written (the listeners
// are open by then).
func (n *nginx) start() {
	n.t.Helper()
	pidFile := filepath.Join(n.dir, "nginx.pid")
	os.Remove(pidFile)
	n.cmd = n.command()
	n.cmd.Stdout, n.cmd.Stderr = os.Stderr, os.Stderr
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(n.cmd, n.done)
	ssetest.WaitFor(n.t, 10*time.Second, "nginx to start", func() bool {
		select {
		case <-n.done:
			n.t.Fatalf("nginx exited at start:\n%s", n.errorLog())
		default:
		}
		_, err := os.Stat(pidFile)
		return err == nil
	})
}

// stop ends nginx gracefully (SIGQUIT: the listeners close at once, open
// streams within worker_shutdown_timeout, and are logged; a fast shutdown
// would not log them) and waits for the master and its workers to exit.
func (n *nginx) stop() {
	if n.cmd == nil {
		return
	}
	n.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-n.done:
	case <-time.After(10 * time.Second):
		n.cmd.Process.Kill()
		<-n.done
	}
	n.cmd = nil
}

func (n *nginx) errorLog() string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "error.log"))
	return string(b)
}

func (n *nginx) accessLog() string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "access.log"))
	return string(b)
}

func numbered(s string) string {
	var b strings.Builder
	for i, l := range strings.Split(s, "\n") {
		fmt.Fprintf(&b, "%3d %s\n", i+1, l)
	}
	return b.String()
}

// deployConf reads an example from deploy/nginx/ and applies the
// replacements (old, new pairs); each old string must be in the file, so
// the example and the tests cannot drift apart unnoticed.
func deployConf(t *testing.T, name string, oldnew ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "deploy", "nginx", name))
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	for i := 0; i < len(oldnew); i += 2 {
		if !strings.Contains(conf, oldnew[i]) {
			t.Fatalf("deploy/nginx/%s no longer contains %q: update the test with the example", name, oldnew[i])
		}
		conf = strings.ReplaceAll(conf, oldnew[i], oldnew[i+1])
	}
	return conf
}

// httpConf is deploy/nginx/ssedge-http.conf pointed at s (its unix socket
// and its TCP ports, in place of the example's four), listening on port,
// with /events and /poll proxied to the upstream named up ("ssedge_unix" or
// "ssedge_tcp") and the /events read timeout set to readTimeout.
func httpConf(t *testing.T, s *ssedge, port int, up, readTimeout string) string {
	t.Helper()
	if len(s.tcp) != 4 {
		t.Fatalf("ssedge listens on %v, want 4 TCP ports", s.tcp)
	}
	conf := deployConf(t, "ssedge-http.conf",
		"unix:/run/ssedge/sub.sock", "unix:"+s.unix,
		"server 127.0.0.1:8081;", "server "+s.tcp[0]+";",
		"server 127.0.0.1:8082;", "server "+s.tcp[1]+";",
		"server 127.0.0.1:8083;", "server "+s.tcp[2]+";",
		"server 127.0.0.1:8084;", "server "+s.tcp[3]+";",
		"listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", port),
		"proxy_pass http://ssedge_unix;", "proxy_pass http://"+up+";",
	)
	// The first proxy_read_timeout is the /events one.
	const rt = "proxy_read_timeout 60s;"
	if i := strings.Index(conf, rt); i >= 0 {
		conf = conf[:i] + "proxy_read_timeout " + readTimeout + ";" + conf[i+len(rt):]
	}
	return conf
}

// subscribe sends GET path to addr (a TCP address) with the extra header
// lines and checks for a 200 text/event-stream answer (through nginx, its
// chunks are decoded).
func subscribe(t *testing.T, addr, path string, header ...string) *ssetest.Stream {
	t.Helper()
	return subscribeFrom(t, "", addr, path, header...)
}

// subscribeFrom is subscribe from the source address local ("" for any),
// so a test can tell the client's address from the proxy's.
func subscribeFrom(t *testing.T, local, addr, path string, header ...string) *ssetest.Stream {
	t.Helper()
	return ssetest.MustSubscribe(t, ssetest.Request{Addr: addr, Target: path, Header: header, Host: "events.example", Local: local})
}

// heartbeat reports a frame that is a comment and nothing else.
func heartbeat(f ssetest.Frame) bool {
	return len(f.Comments) > 0 && !f.Dispatched && !f.HasID && f.Retry < 0
}
