package poller_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/ssedge/ssedge/poller"
	"github.com/ssedge/ssedge/pubsub"
	"github.com/ssedge/ssedge/pubsub/ingest"
)

// harness is a real server: subscriber loops on a TCP port and the
// publish socket, in this process.
type harness struct {
	t    *testing.T
	hub  *pubsub.Hub
	srv  *poller.Server
	in   *ingest.Server
	addr string
	sock string
	pub  *http.Client
}

func start(t *testing.T, cfg poller.Config) *harness {
	t.Helper()
	return startHub(t, cfg, pubsub.Config{})
}

func startHub(t *testing.T, cfg poller.Config, hubCfg pubsub.Config) *harness {
	t.Helper()
	h := &harness{t: t, hub: pubsub.NewHub(hubCfg)}
	cfg.Hub = h.hub
	if cfg.Listen == nil {
		cfg.Listen = []string{"127.0.0.1:0"}
	}
	if cfg.Loops == 0 {
		cfg.Loops = 2
	}
	if cfg.Log == nil {
		cfg.Log = zaptest.NewLogger(t)
	}
	srv, err := poller.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	h.addr = srv.Addrs()[0].String()
	h.sock = filepath.Join(t.TempDir(), "pub.sock")
	h.in, err = ingest.Listen(h.hub, ingest.Config{Path: h.sock})
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	srv.Start()
	h.pub = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", h.sock)
	}}}
	t.Cleanup(func() {
		h.in.Close(context.Background())
		h.hub.Close()
		h.srv.Close()
	})
	return h
}

// publish sends one event over the publish socket's HTTP API.
func (h *harness) publish(channel, event, data string) uint64 {
	h.t.Helper()
	u := "http://ssedge/publish?channel=" + channel
	if event != "" {
		u += "&event=" + event
	}
	resp, err := h.pub.Post(u, "text/plain", strings.NewReader(data))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		h.t.Fatalf("publish %s: %s %s", channel, resp.Status, body)
	}
	id, err := strconv.ParseUint(strings.TrimSpace(string(body)), 10, 64)
	if err != nil {
		h.t.Fatalf("publish reply %q: %v", body, err)
	}
	return id
}

// sub is one raw SSE client.
type sub struct {
	c    net.Conn
	br   *bufio.Reader
	head string
}

type frame struct {
	id      uint64
	event   string
	data    string
	comment bool
	retry   int
}

// control reports a frame that is no event: a comment or a retry-only block.
func (f frame) control() bool {
	return f.comment || f.retry > 0 && f.id == 0 && f.event == "" && f.data == ""
}

// dial opens a TCP connection to the subscriber port.
func (h *harness) dial() net.Conn {
	h.t.Helper()
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	return c
}

// subscribe sends GET target and reads the response head; it fails the
// test unless the answer is 200 text/event-stream.
func (h *harness) subscribe(target string, headers ...string) *sub {
	h.t.Helper()
	s, err := h.trySubscribe(target, headers...)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

func (h *harness) trySubscribe(target string, headers ...string) (*sub, error) {
	return h.subscribeOn("tcp", h.addr, target, headers...)
}

// subscribeOn is trySubscribe over any stream network ("tcp", "unix").
func (h *harness) subscribeOn(network, addr, target string, headers ...string) (*sub, error) {
	c, err := net.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	h.t.Cleanup(func() { c.Close() })
	req := "GET " + target + " HTTP/1.1\r\nHost: test\r\n"
	for _, hd := range headers {
		req += hd + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		return nil, err
	}
	s := &sub{c: c, br: bufio.NewReader(c)}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		line, err := s.br.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("reading head: %v (so far %q)", err, s.head)
		}
		s.head += line
		if line == "\r\n" {
			break
		}
	}
	if !strings.HasPrefix(s.head, "HTTP/1.1 200 ") || !strings.Contains(s.head, "Content-Type: text/event-stream\r\n") {
		return nil, fmt.Errorf("not an event stream: %q", s.head)
	}
	return s, nil
}

// next reads one frame (an event or a comment) within d.
func (s *sub) next(d time.Duration) (frame, error) {
	s.c.SetReadDeadline(time.Now().Add(d))
	var f frame
	seen, lines := false, 0
	for {
		line, err := s.br.ReadString('\n')
		if err != nil {
			return f, err
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			if seen {
				return f, nil
			}
			continue
		}
		seen = true
		if strings.HasPrefix(line, ":") {
			f.comment = true
			continue
		}
		k, v, _ := strings.Cut(line, ":")
		v = strings.TrimPrefix(v, " ")
		switch k {
		case "id":
			f.id, _ = strconv.ParseUint(v, 10, 64)
		case "retry":
			f.retry, _ = strconv.Atoi(v)
		case "event":
			f.event = v
		case "data":
			if lines > 0 {
				f.data += "\n"
			}
			f.data += v
			lines++
		}
	}
}

// nextEvent reads frames until one that is no comment or retry block,
// each within d; safe from any goroutine.
func (s *sub) nextEvent(d time.Duration) (frame, error) {
	for {
		f, err := s.next(d)
		if err != nil || !f.control() {
			return f, err
		}
	}
}

// event reads the next event, failing the test on an error.
func (s *sub) event(t *testing.T) frame {
	t.Helper()
	f, err := s.nextEvent(10 * time.Second)
	if err != nil {
		t.Fatalf("reading event: %v", err)
	}
	return f
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rawRequest sends raw bytes and returns everything the server answers
// until it closes.
func (h *harness) rawRequest(raw string) string {
	h.t.Helper()
	c := h.dial()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, raw)
	b, _ := io.ReadAll(c)
	return string(b)
}
