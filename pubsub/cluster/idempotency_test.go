package cluster_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssedge/ssedge/internal/ssetest"
)

// postKeyed publishes data on channel with an Idempotency-Key header.
func postKeyed(t *testing.T, sock, channel, key, data string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}}
	defer c.CloseIdleConnections()
	req, _ := http.NewRequest("POST", "http://x/publish?channel="+channel, strings.NewReader(data))
	req.Header.Set("Idempotency-Key", key)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("keyed publish: %d %q", resp.StatusCode, b)
	}
	return strings.TrimSpace(string(b))
}

// A retry with the same idempotency key, on any node and either protocol,
// returns the first publish's id and stores nothing twice; a bad key is
// refused.
func TestIdempotencyKey(t *testing.T) {
	b := startBroker(t)
	a, c := startNode(t, "--cluster", b.URL()), startNode(t, "--cluster", b.URL())
	first := postKeyed(t, a.socket, "k", "order-17", "paid")
	if again := postKeyed(t, c.socket, "k", "order-17", "paid"); again != first {
		t.Fatalf("retry with the same key got id %s, want %s", again, first)
	}
	cmd := "PUB k 4 key=order-18\r\nsent\r\n"
	replies, err := ssetest.LineExchange(a.socket, cmd+cmd+"PUB k 1 key=bad\x01key\r\nx\r\n", 3)
	if err != nil || len(replies) != 3 || replies[0] != replies[1] || !strings.HasPrefix(replies[0], "+OK ") || !strings.HasPrefix(replies[2], "-ERR ") {
		t.Fatalf("line protocol with keys: %q %v, want the same +OK twice, then -ERR", replies, err)
	}
	last := a.pub.MustPublish(t, "k", "", "unkeyed")
	id, _ := strconv.ParseUint(first, 10, 64)
	st := c.subscribe(t, "/events?channel=k", fmt.Sprint(id-1))
	for _, want := range []string{"paid", "sent", "unkeyed"} {
		id, _, data := event(t, st)
		if data != want || (want == "unkeyed" && id != last) {
			t.Fatalf("got %d %q, want %q (each keyed event once, then id %d)", id, data, want, last)
		}
	}
}
