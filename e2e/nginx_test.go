//go:build unix

package e2e

import (
	"fmt"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ssedge/ssedge/internal/ssetest"
)

// deliveryBound is how long one small event may take through nginx. It is
// generous on purpose: a buffering proxy holds an event until its buffer
// fills or the stream ends, far longer than this; a passing proxy takes
// well under a millisecond.
const deliveryBound = 2 * time.Second

// The example HTTP config passes a single small event through at once, over
// the unix-socket upstream and over the four-port TCP upstream, and the
// stream stays open for the next one; the same with ssedge as a supervisor
// and three worker processes (serve --procs 3) behind the same addresses.
func TestNginxPassThrough(t *testing.T) {
	t.Parallel()
	ssetest.NeedTool(t, "nginx")
	for _, tc := range []struct {
		up   string
		args []string
	}{
		{"ssedge_unix", nil},
		{"ssedge_tcp", nil},
		{"ssedge_unix", []string{"--procs", "3", "--loops", "1"}},
		{"ssedge_tcp", []string{"--procs", "3", "--loops", "1"}},
	} {
		up := tc.up
		name := up
		if tc.args != nil {
			name += "_procs"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startSsedge(t, tempDir(t), 4, true, tc.args...)
			port := ssetest.FreePort(t)
			n := startNginx(t, nginxMain("$NGINX_DIR", httpConf(t, s, port, up, "60s"), ""))
			addr := fmt.Sprintf("127.0.0.1:%d", port)

			// Resuming after "before" makes every later event arrive whether
			// or not the subscription is registered when it is published.
			before := s.publish(t, "news", "", "before")
			// Four streams: over TCP, round robin puts one on each port.
			var streams []*ssetest.Stream
			for i := 0; i < 4; i++ {
				st := subscribe(t, addr, "/events?channel=news", "Last-Event-ID: "+before)
				if f, err := st.Next(5 * time.Second); err != nil || f.Raw != "retry: 3000\n" {
					t.Fatalf("first frame %q %v", f.Raw, err)
				}
				streams = append(streams, st)
			}

			for round, data := range []string{"hello", "again"} {
				start := time.Now()
				id := s.publish(t, "news", "headline", data)
				want := "id: " + id + "\nevent: headline\ndata: " + data + "\n"
				for i, st := range streams {
					f, err := st.NextEventBy(start.Add(deliveryBound))
					if err != nil || f.Raw != want {
						t.Fatalf("round %d stream %d: got %q %v within %v, want %q\nnginx error log:\n%s",
							round, i, f.Raw, err, deliveryBound, want, n.errorLog())
					}
				}
				// The second round arriving, exactly, on the same streams
				// shows they stayed open and repeated nothing.
				t.Logf("%s: event %d through nginx to 4 streams in %v", up, round, time.Since(start))
			}

			for _, st := range streams {
				st.Close()
			}
			// nginx logs a stream when it ends; the log names the upstream.
			var ups []string
			ssetest.WaitFor(t, 5*time.Second, "4 access-log lines", func() bool {
				ups = regexp.MustCompile(`upstream=(\S+)`).FindAllString(n.accessLog(), -1)
				return len(ups) == 4
			})
			seen := map[string]bool{}
			for _, u := range ups {
				seen[u] = true
				if up == "ssedge_unix" && u != "upstream=unix:"+s.unix {
					t.Errorf("access log %q, want the unix socket %s", u, s.unix)
				}
			}
			if up == "ssedge_tcp" && len(seen) != 4 {
				t.Errorf("the TCP upstream used %v, want all four ports %v", ups, s.tcp)
			}
		})
	}
}

// The control for TestNginxPassThrough: the same config with buffering
// forced on (proxy_buffering on, and ssedge's X-Accel-Buffering: no
// ignored) holds the event past the bound, so the pass-through test would
// catch a buffering proxy.
func TestNginxBufferingControl(t *testing.T) {
	t.Parallel()
	ssetest.NeedTool(t, "nginx")
	s := startSsedge(t, tempDir(t), 4, true)
	port := ssetest.FreePort(t)
	conf := httpConf(t, s, port, "ssedge_unix", "60s")
	if !strings.Contains(conf, "proxy_buffering off;") {
		t.Fatal("deploy/nginx/ssedge-http.conf no longer says proxy_buffering off")
	}
	conf = strings.Replace(conf,
		"proxy_buffering off;", "proxy_buffering on; proxy_ignore_headers X-Accel-Buffering;", 1)
	startNginx(t, nginxMain("$NGINX_DIR", conf, ""))
	before := s.publish(t, "news", "", "before")
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /events?channel=news HTTP/1.1\r\nHost: x\r\nLast-Event-ID: %s\r\n\r\n", before)
	start := time.Now()
	s.publish(t, "news", "headline", "held")
	// Real time passes here: the read ends at the bound, which is what
	// the control shows buffering holds the event past.
	c.SetReadDeadline(start.Add(deliveryBound))
	got, _ := io.ReadAll(c)
	if strings.Contains(string(got), "data: held") {
		t.Fatalf("a buffering nginx passed the event within %v: %q; the pass-through test cannot tell buffering apart", deliveryBound, got)
	}
}

// ssedge's heartbeat keeps an idle stream open through nginx well past
// proxy_read_timeout; the stream then still carries an event. Without the
// heartbeat, the same nginx cuts the stream at its timeout, which shows the
// timeout really is in force.
func TestNginxHeartbeat(t *testing.T) {
	t.Parallel()
	ssetest.NeedTool(t, "nginx")
	cases := []struct {
		name      string
		heartbeat string
		survives  bool
	}{
		{"heartbeat 500ms", "500ms", true},
		{"no heartbeat (control)", "1h", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := startSsedge(t, tempDir(t), 4, true, "--heartbeat", c.heartbeat)
			port := ssetest.FreePort(t)
			n := startNginx(t, nginxMain("$NGINX_DIR", httpConf(t, s, port, "ssedge_unix", "2s"), ""))
			before := s.publish(t, "idle", "", "before")
			// Resuming after "before" makes the later event arrive whether
			// or not the subscription is registered when it is published.
			st := subscribe(t, fmt.Sprintf("127.0.0.1:%d", port), "/events?channel=idle", "Last-Event-ID: "+before)
			if f, err := st.Next(5 * time.Second); err != nil || f.Raw != "retry: 3000\n" {
				t.Fatalf("first frame %q %v", f.Raw, err)
			}
			// Reads never time out here (a timeout would stick in the
			// chunked decoding of nginx's answer): the idle time is
			// measured between heartbeats, and the control ends by EOF.
			idle := 5 * time.Second
			start := time.Now()
			beats := 0
			for time.Since(start) < idle {
				f, err := st.NextBy(start.Add(idle + 5*time.Second))
				if err != nil {
					if c.survives {
						t.Fatalf("stream ended after %d heartbeats: %v\nnginx error log:\n%s", beats, err, n.errorLog())
					}
					if !strings.Contains(n.errorLog(), "upstream timed out") {
						t.Errorf("nginx error log does not say why it ended the stream:\n%s", n.errorLog())
					}
					return // the control: nginx timed the silent stream out
				}
				if !heartbeat(f) {
					t.Fatalf("idle stream got %q, want heartbeats only", f.Raw)
				}
				beats++
			}
			if !c.survives {
				t.Fatalf("without heartbeats the stream outlived proxy_read_timeout 2s by %v: is the timeout applied?", idle)
			}
			if beats < 4 {
				t.Errorf("%d heartbeats in %v at --heartbeat 500ms", beats, idle)
			}
			id := s.publish(t, "idle", "", "after")
			f, err := st.NextEvent(deliveryBound)
			if want := "id: " + id + "\ndata: after\n"; err != nil || f.Raw != want {
				t.Fatalf("after %v idle: %q %v, want %q", idle, f.Raw, err, want)
			}
		})
	}
}

// The example stream config as written: nginx sends a PROXY header to an
// ssedge --proxy-listen socket, and ssedge sees the real client's address
// (the client connects from 127.0.0.5; nginx itself is the socket peer).
// The heartbeat keeps the stream up past proxy_timeout.
func TestNginxStreamPassThrough(t *testing.T) {
	t.Parallel()
	ssetest.NeedTool(t, "nginx")
	ssetest.NeedFile(t, "/usr/lib/nginx/modules/ngx_stream_module.so", "libnginx-mod-stream")
	dir := tempDir(t)
	s := startSsedge(t, dir, 1, false, "--heartbeat", "500ms", "--log-level", "debug",
		"--proxy-listen", "unix:"+filepath.Join(dir, "proxied.sock"))
	port := ssetest.FreePort(t)
	conf := deployConf(t, "ssedge-stream.conf",
		"unix:/run/ssedge/proxied.sock", "unix:"+s.unix,
		"listen 8443;", fmt.Sprintf("listen 127.0.0.1:%d;", port),
		"proxy_timeout 60s;", "proxy_timeout 2s;",
	)
	n := startNginx(t, nginxMain("$NGINX_DIR", "", conf))
	before := s.publish(t, "tcp", "", "before")
	st := subscribeFrom(t, "127.0.0.5", fmt.Sprintf("127.0.0.1:%d", port), "/events?channel=tcp", "Last-Event-ID: "+before)
	if f, err := st.Next(5 * time.Second); err != nil || f.Raw != "retry: 3000\n" {
		t.Fatalf("first frame %q %v", f.Raw, err)
	}
	s.waitLog(t, `"msg":"subscribe"`, `"client":"127.0.0.5"`)
	// Idle past proxy_timeout: the heartbeat keeps the stream up.
	idleStart := time.Now()
	for time.Since(idleStart) < 3*time.Second {
		f, err := st.NextBy(idleStart.Add(10 * time.Second))
		if err != nil || !heartbeat(f) {
			t.Fatalf("idle stream: %q %v\nnginx error log:\n%s", f.Raw, err, n.errorLog())
		}
	}
	start := time.Now()
	id := s.publish(t, "tcp", "", "through")
	if f, err := st.NextEventBy(start.Add(deliveryBound)); err != nil || f.Raw != "id: "+id+"\ndata: through\n" {
		t.Fatalf("got %q %v", f.Raw, err)
	}
}

// A PROXY header from a peer that is not a trusted proxy is refused with
// a reason (here nginx over TCP from 127.0.0.1, while only 10.0.0.0/8 is
// trusted).
func TestNginxProxyUntrusted(t *testing.T) {
	t.Parallel()
	ssetest.NeedTool(t, "nginx")
	ssetest.NeedFile(t, "/usr/lib/nginx/modules/ngx_stream_module.so", "libnginx-mod-stream")
	s := startSsedge(t, tempDir(t), 1, false, "--proxy-listen", "127.0.0.1:0", "--trusted-proxy", "10.0.0.0/8")
	port := ssetest.FreePort(t)
	conf := deployConf(t, "ssedge-stream.conf",
		"unix:/run/ssedge/proxied.sock", s.tcp[1],
		"listen 8443;", fmt.Sprintf("listen 127.0.0.1:%d;", port),
	)
	startNginx(t, nginxMain("$NGINX_DIR", "", conf))
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /events?channel=x HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(b), "HTTP/1.1 400 ") || !strings.Contains(string(b), "not a trusted proxy") {
		t.Fatalf("PROXY header from an untrusted nginx: %q", b)
	}
}

// Through the HTTP pass-through, ssedge takes the client's address from
// nginx's X-Real-IP (nginx is a trusted proxy: loopback).
func TestNginxClientAddress(t *testing.T) {
	t.Parallel()
	ssetest.NeedTool(t, "nginx")
	dir := tempDir(t)
	s := startSsedge(t, dir, 4, true, "--log-level", "debug")
	port := ssetest.FreePort(t)
	startNginx(t, nginxMain("$NGINX_DIR", httpConf(t, s, port, "ssedge_unix", "60s"), ""))
	subscribeFrom(t, "127.0.0.7", fmt.Sprintf("127.0.0.1:%d", port), "/events?channel=who")
	s.waitLog(t, `"msg":"subscribe"`, `"client":"127.0.0.7"`)
}
