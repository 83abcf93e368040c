package main

import (
	"errors"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ssedge/ssedge/internal/ssetest"
)

// Publishers cannot use up the descriptor reserve either: under a
// 64-descriptor limit, with the subscriber side at its derived connection
// limit, 200 idle publisher connections leave the publish socket at
// --max-publishers (held to half the reserve), a new subscriber still
// gets 503, a new publisher gets "-ERR too many publisher connections",
// and once the idle ones close `ssedge publish` gets its id again.
func TestPublisherCapKeepsReserve(t *testing.T) {
	srv := startLimited(t)
	addr, sock, maxConns, maxPub, reserve := srv.addr, srv.sock, srv.maxConns, srv.maxPubs, srv.reserve
	if maxConns < 1 || maxPub < 1 || 2*maxPub > reserve {
		t.Fatalf("max_conns %d, max_publishers %d, reserve %d: want publishers held to at most half the reserve", maxConns, maxPub, reserve)
	}

	// holdAll dials n connections and counts those the server closes.
	holdAll := func(n int, dial func() (net.Conn, error)) (*atomic.Int32, []net.Conn) {
		var closed atomic.Int32
		var conns []net.Conn
		for i := range n {
			c, err := dial()
			if err != nil {
				t.Fatalf("dial %d: %v", i, err)
			}
			t.Cleanup(func() { c.Close() })
			conns = append(conns, c)
			go func() {
				c.SetReadDeadline(time.Now().Add(2 * time.Minute))
				io.Copy(io.Discard, c)
				closed.Add(1)
			}()
		}
		return &closed, conns
	}
	// The subscriber side at its limit: the idle connections past it are
	// answered 503 and closed.
	const idleSubs = 80
	subsClosed, _ := holdAll(idleSubs, func() (net.Conn, error) { return net.Dial("tcp", addr) })
	ssetest.WaitFor(t, 20*time.Second, "idle subscribers past the limit to be refused", func() bool {
		return int(subsClosed.Load()) >= idleSubs-maxConns
	})
	// 200 idle publishers: all but max_publishers are refused and closed.
	const idlePubs = 200
	pubsClosed, pubs := holdAll(idlePubs, func() (net.Conn, error) { return net.Dial("unix", sock) })
	ssetest.WaitFor(t, 30*time.Second, "idle publishers past --max-publishers to be closed", func() bool {
		return int(pubsClosed.Load()) >= idlePubs-maxPub
	})

	// (a) A new subscriber is still answered: 503, not silence.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /events?channel=fd HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	if got := string(b); err != nil && !errors.Is(err, syscall.ECONNRESET) || !strings.HasPrefix(got, "HTTP/1.1 503 ") {
		t.Fatalf("new subscriber with publishers at their limit: %q, %v; want 503", got, err)
	}

	// (b) A new publisher is told why, in its protocol.
	p, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(p, "PING\r\n")
	p.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err = io.ReadAll(p)
	p.Close()
	if !strings.HasPrefix(string(b), "-ERR too many publisher connections") || err != nil {
		t.Fatalf("new line publisher at the limit: %q, %v", b, err)
	}
	out, err := exec.Command(bin, "publish", "--socket", sock, "--timeout", "3s", "--channel", "fd", "x").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "too many publisher connections") {
		t.Fatalf("ssedge publish at the limit: %v %q, want the refusal", err, out)
	}

	// (c) Once the idle publishers go, publishing works again.
	for _, c := range pubs {
		c.Close()
	}
	ssetest.WaitFor(t, 20*time.Second, "ssedge publish to succeed after the idle publishers closed", func() bool {
		return exec.Command(bin, "publish", "--socket", sock, "--timeout", "3s", "--channel", "fd", "back").Run() == nil
	})
}
