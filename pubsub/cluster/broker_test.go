package cluster_test

import (
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

	"github.com/ssedge/ssedge/internal/ssetest"
)

// readyz returns the status and body of the node's admin /readyz.
func readyz(sock string) (int, string) { return adminGet(sock, "/readyz") }

// adminGet returns the status and body of path on the admin socket.
func adminGet(sock, path string) (int, string) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}}
	defer c.CloseIdleConnections()
	resp, err := c.Get("http://admin" + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// With NATS stopped mid-run: publishes are refused promptly (503 with a
// reason, -ERR on the line protocol), open streams stay open, readiness
// says why; when it is back, everything acknowledged before and after
// reaches every subscriber in order, and nothing refused ever does.
func TestBrokerDown(t *testing.T) {
	b := startBroker(t)
	adminA := filepath.Join(t.TempDir(), "admin.sock")
	a := startNode(t, "--cluster", b.URL(), "--admin-listen", "unix:"+adminA, "--cluster-publish-timeout", "2s")
	c := startNode(t, "--cluster", b.URL(), "--heartbeat", "300ms")
	st := c.subscribe(t, "/events?channel=d", "")
	c.waitSubscribed(t, 1)
	var acked []uint64
	for i := range 3 {
		acked = append(acked, a.pub.MustPublish(t, "d", "", fmt.Sprint("before ", i)))
	}
	expectIDs(t, st, acked...)
	if code, body := readyz(adminA); code != 200 {
		t.Fatalf("readyz with NATS up: %d %q", code, body)
	}
	if _, m := adminGet(adminA, "/metrics"); !strings.Contains(m, "\nssedge_cluster_connected 1\n") || !strings.Contains(m, "\nssedge_cluster_lag_events 0\n") {
		t.Fatalf("metrics with NATS up lack ssedge_cluster_connected 1 and lag 0:\n%s", m)
	}

	b.Stop()
	ssetest.WaitFor(t, 10*time.Second, "readyz to report the lost NATS connection", func() bool {
		code, body := readyz(adminA)
		return code == 503 && strings.Contains(body, "NATS")
	})
	if _, m := adminGet(adminA, "/metrics"); !strings.Contains(m, "\nssedge_cluster_connected 0\n") {
		t.Fatalf("metrics with NATS down lack ssedge_cluster_connected 0")
	}
	start := time.Now()
	status, body, err := a.pub.Post("channel=d", "refused")
	if err != nil || status != 503 || !strings.Contains(body, "nothing was published") {
		t.Fatalf("HTTP publish with NATS down: %d %q %v, want 503 saying nothing was published", status, body, err)
	}
	replies, err := ssetest.LineExchange(a.socket, ssetest.LineCommand("d", "", "refused too"), 1)
	if err != nil || len(replies) != 1 || !strings.HasPrefix(replies[0], "-ERR ") {
		t.Fatalf("line publish with NATS down: %q %v, want -ERR", replies, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("refusals took %v, want a prompt answer", d)
	}
	// The stream stays open: heartbeats go on while NATS is away.
	for range 2 {
		f, err := st.Next(5 * time.Second)
		if err != nil || f.Dispatched {
			t.Fatalf("stream while NATS is down: %q %v, want heartbeats", f.Raw, err)
		}
	}

	b.Start()
	for _, n := range []*node{a, c} {
		ssetest.WaitFor(t, 20*time.Second, "publishes to be acknowledged again", func() bool {
			status, body, _ := n.pub.Post("channel=d", "after")
			if status == 200 {
				id, _ := strconv.ParseUint(strings.TrimSpace(body), 10, 64)
				acked = append(acked, id)
			}
			return status == 200
		})
	}
	if acked[3] <= acked[2] || acked[4] <= acked[3] {
		t.Fatalf("ids after the outage %v are not above %d, in order", acked[3:], acked[2])
	}
	expectIDs(t, st, acked[3:]...)
	// A late joiner resumes the whole log: exactly the acknowledged events.
	late := startNode(t, "--cluster", b.URL())
	expectIDs(t, late.subscribe(t, "/events?channel=d", fmt.Sprint(acked[0]-1)), acked...)
	if code, body := readyz(adminA); code != 200 {
		t.Fatalf("readyz with NATS back: %d %q", code, body)
	}
	a.logs.Wait(t, 5*time.Second, 1, "lost the NATS connection")
	a.logs.Wait(t, 5*time.Second, 1, "NATS connection back")
	if n := a.logs.Count("lost the NATS connection"); n != 1 {
		t.Fatalf("the outage was logged %d times, want once", n)
	}
}
