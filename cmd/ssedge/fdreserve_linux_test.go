package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ssedge/ssedge/internal/ssetest"
)

// Subscribers cannot lock publishers out: under a 64-descriptor limit and
// the default --max-conns 0, a stream subscriber and 80 idle TCP
// connections (more than the limit holds) leave the server at its derived
// connection limit, a new subscriber gets 503 rather than no answer, and
// `ssedge publish` still gets an id that the subscriber receives.
func TestDescriptorsKeptForPublishers(t *testing.T) {
	srv := startLimited(t)
	addr, sock, maxConns := srv.addr, srv.sock, srv.maxConns
	if srv.reserve <= 0 {
		t.Errorf("derived limit keeps no reserve (%d)", srv.reserve)
	}
	const idle = 80
	if maxConns <= 1 || maxConns >= idle {
		t.Fatalf("derived max_conns %d under a 64-descriptor limit, want between 1 and %d", maxConns, idle)
	}

	sub, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	io.WriteString(sub, "GET /events?channel=fd HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(sub)
	sub.SetReadDeadline(time.Now().Add(10 * time.Second))
	if head := readHead(t, br); !strings.HasPrefix(head, "HTTP/1.1 200 ") {
		t.Fatalf("subscriber before the idle connections: %q", head)
	}

	// Idle connections past the limit are answered 503 and closed; the
	// others are held. Once idle-(maxConns-1) have been refused, the server
	// holds maxConns connections: the subscriber and maxConns-1 idle ones.
	var refused atomic.Int32
	for i := 0; i < idle; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		defer c.Close()
		go func() {
			c.SetReadDeadline(time.Now().Add(time.Minute))
			b, _ := io.ReadAll(c)
			if strings.HasPrefix(string(b), "HTTP/1.1 503 ") {
				refused.Add(1)
			}
		}()
	}
	ssetest.WaitFor(t, 20*time.Second, fmt.Sprintf("%d idle connections past max_conns %d to be refused", idle-(maxConns-1), maxConns),
		func() bool { return int(refused.Load()) >= idle-(maxConns-1) })

	// (a) A new subscriber is answered: 503 with Retry-After, not silence.
	// The server closes at once (it keeps no descriptor lingering at the
	// limit): a request that reaches it after the close draws a reset,
	// after the answer.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /events?channel=fd HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	if got := string(b); err != nil && !errors.Is(err, syscall.ECONNRESET) || !strings.HasPrefix(got, "HTTP/1.1 503 ") ||
		!strings.Contains(got, "Retry-After: ") || !strings.Contains(got, fmt.Sprintf("limit (%d)", maxConns)) {
		t.Fatalf("new subscriber at the limit: %q, %v; want 503 with Retry-After", got, err)
	}

	// (b) A publisher still gets a descriptor, and its id.
	out, err := exec.Command(bin, "publish", "--socket", sock, "--timeout", "3s", "--channel", "fd", "still publishing").CombinedOutput()
	if err != nil {
		t.Fatalf("publish with every subscriber descriptor taken: %v %s", err, out)
	}
	id, err := strconv.ParseUint(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		t.Fatalf("publish printed %q", out)
	}
	sub.SetReadDeadline(time.Now().Add(10 * time.Second))
	want := fmt.Sprintf("id: %d\n", id)
	for got := ""; !strings.Contains(got, want); {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("subscriber waiting for %q after %q: %v", want, got, err)
		}
		got += line
	}
}

// readHead reads a response head.
func readHead(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	head := ""
	for !strings.HasSuffix(head, "\r\n\r\n") {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading head after %q: %v", head, err)
		}
		head += line
	}
	return head
}

// limited is `ssedge serve` under a 64-descriptor limit (prlimit), with the
// figures its start-up log gives: the connection limit it derived, the
// descriptors it keeps in reserve, and its cap on publisher connections.
type limited struct {
	addr, sock                 string
	maxConns, reserve, maxPubs int
}

// startLimited runs the server under `prlimit --nofile=64:64` with two
// loops and idle connections kept for the whole test, and reads its
// start-up log until it serves.
func startLimited(t *testing.T) *limited {
	t.Helper()
	prlimit := ssetest.NeedTool(t, "prlimit")
	s := &limited{sock: filepath.Join(t.TempDir(), "pub.sock")}
	cmd := exec.Command(prlimit, "--nofile=64:64", bin, "serve", "--loops", "2", "--listen", "127.0.0.1:0",
		"--publish-socket", s.sock, "--header-timeout", "2m") // idle connections stay until the test ends
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(stderr)
	for s.addr == "" && lines.Scan() {
		var entry struct {
			Msg           string   `json:"msg"`
			MaxConns      int      `json:"max_conns"`
			MaxPublishers int      `json:"max_publishers"`
			Reserve       int      `json:"reserve"`
			Listen        []string `json:"listen"`
		}
		if json.Unmarshal(lines.Bytes(), &entry) != nil {
			continue
		}
		switch {
		case strings.HasPrefix(entry.Msg, "connection limit derived from the open-files limit"):
			s.maxConns, s.reserve = entry.MaxConns, entry.Reserve
		case strings.HasPrefix(entry.Msg, "publisher connection limit"):
			s.maxPubs = entry.MaxPublishers
		case entry.Msg == "ssedge serving":
			s.addr = entry.Listen[0]
		}
	}
	if s.addr == "" {
		t.Fatal("server exited before serving")
	}
	go io.Copy(io.Discard, stderr)
	return s
}
