package ingest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssedge/ssedge/pubsub"
)

// startIngest serves a hub on a fresh socket; the returned cursor sees
// what was published.
func startIngest(t *testing.T, cfg pubsub.Config) (*Server, *pubsub.Hub, *pubsub.Cursor) {
	t.Helper()
	h := pubsub.NewHub(cfg)
	c := h.Subscribe(func() {})
	in, err := Listen(h, Config{Path: filepath.Join(t.TempDir(), "p.sock")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(context.Background()); h.Close() })
	return in, h, c
}

func dialIngest(t *testing.T, in *Server) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("unix", in.Path())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	return conn, bufio.NewReader(conn)
}

// readHTTP reads one response: status code and body.
func readHTTP(t *testing.T, br *bufio.Reader) (int, string) {
	t.Helper()
	status, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("reading status: %v", err)
	}
	code, _ := strconv.Atoi(strings.Fields(status)[1])
	length := 0
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "\r\n" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "Content-Length") {
			length, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(br, body); err != nil {
		t.Fatal(err)
	}
	return code, string(body)
}

// 1,000 pipelined HTTP publishes on one connection: 1,000 ids, in order.
func TestHTTPPipelining(t *testing.T) {
	in, _, cur := startIngest(t, pubsub.Config{})
	conn, br := dialIngest(t, in)
	const n = 1000
	go func() {
		var b strings.Builder
		for i := 0; i < n; i++ {
			body := fmt.Sprintf("event %d", i)
			fmt.Fprintf(&b, "POST /publish?channel=p&event=e HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		}
		io.WriteString(conn, b.String())
	}()
	var last uint64
	for i := 0; i < n; i++ {
		code, body := readHTTP(t, br)
		id, err := strconv.ParseUint(strings.TrimSuffix(body, "\n"), 10, 64)
		if code != 200 || err != nil || id <= last {
			t.Fatalf("reply %d: %d %q (last id %d)", i, code, body, last)
		}
		last = id
	}
	for i := 0; i < n; i++ {
		ev := cur.Next()
		if ev == nil || !strings.Contains(string(ev.Frame), fmt.Sprintf("data: event %d\n", i)) {
			t.Fatalf("event %d on the ring: %+v", i, ev)
		}
	}
}

// 1,000 pipelined line-protocol publishes: 1,000 +OK ids, in order.
func TestLinePipelining(t *testing.T) {
	in, _, cur := startIngest(t, pubsub.Config{})
	conn, br := dialIngest(t, in)
	const n = 1000
	go func() {
		var b strings.Builder
		for i := 0; i < n; i++ {
			body := fmt.Sprintf("line\nevent %d", i)
			fmt.Fprintf(&b, "PUB lp %d\r\n%s\r\n", len(body), body)
		}
		io.WriteString(conn, b.String())
	}()
	var last uint64
	for i := 0; i < n; i++ {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		id, err := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(line, "+OK ")), 10, 64)
		if err != nil || id <= last {
			t.Fatalf("reply %d: %q", i, line)
		}
		last = id
	}
	if ev := cur.Next(); ev == nil || string(ev.Frame[len(ev.Frame)-len("data: line\ndata: event 0\n\n"):]) != "data: line\ndata: event 0\n\n" {
		t.Fatalf("first frame %q", ev.Frame)
	}
}

// Line-protocol errors: -ERR with a reason; recoverable ones keep the
// connection, framing errors close it.
func TestLineErrors(t *testing.T) {
	in, h, _ := startIngest(t, pubsub.Config{MaxEventBytes: 4})
	conn, br := dialIngest(t, in)
	io.WriteString(conn, "PING\r\nNOPE x\r\nPUB bad! 1\r\nx\r\nPUB ok 9\r\n123456789\r\nPUB ok \xff 2\r\nab\r\nPUB ok 2\nhi\n")
	want := []string{"+PONG", "-ERR unknown command", "-ERR sse: invalid channel name", "-ERR pubsub: event data too large", "-ERR sse: invalid event name", "+OK "}
	for _, w := range want {
		line, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, w) {
			t.Fatalf("got %q (%v), want %q...", line, err, w)
		}
	}
	if h.Published() != 1 {
		t.Fatalf("published %d, want 1", h.Published())
	}
	// Framing lost: a payload longer than its count.
	io.WriteString(conn, "PUB ok 1\r\nxyz\r\n")
	if line, _ := br.ReadString('\n'); !strings.HasPrefix(line, "-ERR payload not followed") || !strings.Contains(line, "nothing was published") {
		t.Fatalf("got %q, want the framing error", line)
	}
	if h.Published() != 1 {
		t.Fatalf("a command whose framing was lost was published (%d events)", h.Published())
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("connection not closed after a framing error: %v", err)
	}
}

func TestSocketLifecycle(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.sock")
	h := pubsub.NewHub(pubsub.Config{})
	defer h.Close()

	// A stale socket file (nobody listening) is replaced.
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close()
	in, err := Listen(h, Config{Path: path, Mode: 0o640})
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
	// A live one is not stolen.
	if _, err := Listen(h, Config{Path: path}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second listener on a live socket: %v", err)
	}
	in.Close(context.Background())
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("socket not removed on close: %v", err)
	}
	// A regular file is never replaced.
	os.WriteFile(path, []byte("precious"), 0o600)
	if _, err := Listen(h, Config{Path: path}); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("listening over a regular file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "precious" {
		t.Fatal("regular file was touched")
	}
}

// Default mode is 0660.
func TestSocketDefaultMode(t *testing.T) {
	in, _, _ := startIngest(t, pubsub.Config{})
	fi, err := os.Stat(in.Path())
	if err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
}

// A reply longer than the 4 KiB reply buffer, formatted in the
// connection's reused scratch buffer, is not overwritten by the reply to
// the next pipelined request.
func TestLargeReplyThenPipelined(t *testing.T) {
	in, _, _ := startIngest(t, pubsub.Config{})
	conn, br := dialIngest(t, in)
	long := "/" + strings.Repeat("x", 4500)
	io.WriteString(conn, "POST "+long+" HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx"+
		"POST /publish?channel=a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\ny")
	code, body := readHTTP(t, br)
	if code != 404 || !strings.Contains(body, long) {
		t.Fatalf("first reply %d %q", code, body[:min(len(body), 80)])
	}
	if code, body = readHTTP(t, br); code != 200 {
		t.Fatalf("second reply %d %q", code, body)
	}
}

func TestExpect(t *testing.T) {
	in, h, _ := startIngest(t, pubsub.Config{})
	conn, br := dialIngest(t, in)
	io.WriteString(conn, "POST /publish?channel=a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
	if line, _ := br.ReadString('\n'); line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("got %q", line)
	}
	br.ReadString('\n')
	io.WriteString(conn, "ok")
	if code, _ := readHTTP(t, br); code != 200 {
		t.Fatalf("after 100-continue: %d", code)
	}
	conn2, br2 := dialIngest(t, in)
	io.WriteString(conn2, "POST /publish?channel=a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: teapot\r\n\r\nok")
	if code, body := readHTTP(t, br2); code != 417 || !strings.Contains(body, "teapot") {
		t.Fatalf("unknown expectation: %d %q", code, body)
	}
	if h.Published() != 1 {
		t.Fatalf("published %d", h.Published())
	}
}

// The uid/gid allow-list refuses a publisher that is not on it, with a
// reason in the protocol it speaks, and admits one that is.
func TestPublisherAllowList(t *testing.T) {
	h := pubsub.NewHub(pubsub.Config{})
	defer h.Close()
	me := uint32(os.Getuid())
	for _, tc := range []struct {
		allow   []uint32
		allowed bool
	}{{[]uint32{me + 1}, false}, {[]uint32{me + 1, me}, true}} {
		in, err := Listen(h, Config{Path: filepath.Join(t.TempDir(), "p.sock"), AllowUIDs: tc.allow})
		if err != nil {
			t.Fatal(err)
		}
		conn, br := dialIngest(t, in)
		io.WriteString(conn, "POST /publish?channel=a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx")
		code, body := readHTTP(t, br)
		if tc.allowed && code != 200 || !tc.allowed && (code != 403 || !strings.Contains(body, "--publish-allow-uid")) {
			t.Errorf("allow %v: HTTP %d %q", tc.allow, code, body)
		}
		lc, lbr := dialIngest(t, in)
		io.WriteString(lc, "PING\r\n")
		if line, _ := lbr.ReadString('\n'); tc.allowed != (line == "+PONG\r\n") || !tc.allowed && !strings.HasPrefix(line, "-ERR publisher uid") {
			t.Errorf("allow %v: line protocol %q", tc.allow, line)
		}
		in.Close(context.Background())
	}
}

func TestSocketOwnerGroup(t *testing.T) {
	h := pubsub.NewHub(pubsub.Config{})
	defer h.Close()
	if _, err := Listen(h, Config{Path: filepath.Join(t.TempDir(), "p.sock"), Group: "no-such-group-xyz"}); err == nil || !strings.Contains(err.Error(), "no-such-group-xyz") {
		t.Fatalf("unknown group: %v", err)
	}
	in, err := Listen(h, Config{Path: filepath.Join(t.TempDir(), "p.sock"), Group: strconv.Itoa(os.Getgid())})
	if err != nil {
		t.Fatal(err)
	}
	in.Close(context.Background())
}
