package poller_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/ssedge/ssedge/internal/ssetest"
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
	pub  *ssetest.Publisher
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
	h.pub = ssetest.NewPublisher(h.sock)
	t.Cleanup(func() {
		h.pub.Close()
		h.in.Close(context.Background())
		h.hub.Close()
		h.srv.Close()
		// Every connection is closed now: the gauges must be back at zero,
		// or a path counted a connection (or backlog bytes) in or out twice.
		if st := h.srv.Stats(); st.Active != 0 || st.Subscribers != 0 || st.Replaying != 0 || st.Responding != 0 ||
			st.Backlogged != 0 || st.BacklogBytes != 0 {
			t.Errorf("after Close: active %d, subscribers %d, replaying %d, responding %d, backlogged %d (%d bytes); want all 0",
				st.Active, st.Subscribers, st.Replaying, st.Responding, st.Backlogged, st.BacklogBytes)
		}
	})
	return h
}

// publish sends one event over the publish socket's HTTP API.
func (h *harness) publish(channel, event, data string) uint64 {
	h.t.Helper()
	return h.pub.MustPublish(h.t, channel, event, data)
}

// sub is one SSE client: ssetest's, with the raw connection (c), the
// body reader (br) and the response head (head) at hand for tests that
// look at the wire.
type sub struct {
	c    net.Conn
	br   *bufio.Reader
	head string
	st   *ssetest.Stream
}

// frame is one block of the stream, as poller's tests compare it: the
// block's own id, its event type and data, whether it held a comment, and
// its retry advice (0 for none).
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
	st, err := ssetest.Subscribe(ssetest.Request{Network: network, Addr: addr, Target: target, Header: headers})
	if err != nil {
		return nil, err
	}
	h.t.Cleanup(func() { st.Close() })
	return &sub{c: st.Conn, br: st.Body, head: st.Head, st: st}, nil
}

// next reads one frame (an event or a control block) within d.
func (s *sub) next(d time.Duration) (frame, error) {
	f, err := s.st.Next(d)
	if err != nil {
		return frame{}, err
	}
	out := frame{event: f.Event, data: f.Data, comment: len(f.Comments) > 0, retry: max(f.Retry, 0)}
	if f.HasID {
		if out.id, err = strconv.ParseUint(f.ID, 10, 64); err != nil {
			return out, fmt.Errorf("frame %q: id %q is not a number", f.Raw, f.ID)
		}
	}
	return out, nil
}

// nextEvent reads frames until one that is no comment or retry block,
// within d in all; safe from any goroutine (one reader at a time).
func (s *sub) nextEvent(d time.Duration) (frame, error) {
	deadline := time.Now().Add(d)
	for {
		f, err := s.next(time.Until(deadline))
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

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ssetest.WaitFor(t, 10*time.Second, what, cond)
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
