package poller_test

import (
	"encoding/binary"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ssedge/ssedge/poller"
	"github.com/ssedge/ssedge/pubsub"
)

// observed starts a server whose debug log the test can read.
func observed(t *testing.T, cfg poller.Config) (*harness, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	cfg.Log = zap.New(core)
	return start(t, cfg), logs
}

// clientOf waits for the subscribe log line and returns its client field.
func clientOf(t *testing.T, logs *observer.ObservedLogs) string {
	t.Helper()
	var client string
	waitFor(t, "the subscribe log line", func() bool {
		for _, e := range logs.FilterMessage("subscribe").AllUntimed() {
			client = e.ContextMap()["client"].(string)
			return true
		}
		return false
	})
	logs.TakeAll()
	return client
}

func v2Header(src [4]byte, port uint16) string {
	b := []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c")
	b = append(b, src[:]...)
	b = append(b, 127, 0, 0, 1, 0, 0, 0x1f, 0x90)
	binary.BigEndian.PutUint16(b[24:], port)
	return string(b)
}

// On a PROXY listener the client address is the one the trusted proxy
// announces (v1 and v2); a header from an untrusted peer, or none, is
// refused.
func TestProxyProtocol(t *testing.T) {
	h, logs := observed(t, poller.Config{Listen: []string{}, ProxyListen: []string{"127.0.0.1:0"}})
	for _, c := range []struct{ header, want string }{
		{"PROXY TCP4 198.51.100.22 127.0.0.1 35646 8080\r\n", "198.51.100.22"},
		{v2Header([4]byte{203, 0, 113, 7}, 4000), "203.0.113.7"},
		{"PROXY UNKNOWN\r\n", "127.0.0.1"},
	} {
		conn := h.dial()
		io.WriteString(conn, c.header+"GET /events?channel=p HTTP/1.1\r\nHost: x\r\n\r\n")
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 17)
		if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "HTTP/1.1 200 OK\r\n" {
			t.Fatalf("%q: %q %v", c.header, buf, err)
		}
		if got := clientOf(t, logs); got != c.want {
			t.Errorf("%q: client %s, want %s", c.header, got, c.want)
		}
	}
	if got := h.rawRequest("GET /events?channel=p HTTP/1.1\r\nHost: x\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 400 ") || !strings.Contains(got, "PROXY") {
		t.Errorf("no PROXY header: %q", got)
	}
}

func TestProxyFromUntrustedPeer(t *testing.T) {
	h := start(t, poller.Config{Listen: []string{}, ProxyListen: []string{"127.0.0.1:0"},
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	got := h.rawRequest("PROXY TCP4 198.51.100.22 127.0.0.1 35646 8080\r\nGET /events?channel=p HTTP/1.1\r\nHost: x\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 400 ") || !strings.Contains(got, "not a trusted proxy") {
		t.Fatalf("PROXY header from an untrusted peer: %q", got)
	}
}

// X-Real-IP and X-Forwarded-For count only from trusted proxies; in the
// chain, the nearest untrusted hop is the client.
func TestForwardedFor(t *testing.T) {
	h, logs := observed(t, poller.Config{TrustedProxies: []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}})
	for _, c := range []struct{ header, want string }{
		{"X-Real-IP: 198.51.100.9", "198.51.100.9"},
		{"X-Forwarded-For: 203.0.113.1, 198.51.100.3, 10.1.2.3", "198.51.100.3"},
		{"X-Forwarded-For: 10.9.9.9", "10.9.9.9"},
		{"X-Forwarded-For: garbage", "127.0.0.1"},
	} {
		h.subscribe("/events?channel=x", c.header)
		if got := clientOf(t, logs); got != c.want {
			t.Errorf("%q: client %s, want %s", c.header, got, c.want)
		}
	}
	// --client-ip-header picks the header; a spoofed X-Real-IP passed
	// through by a proxy that only sets X-Forwarded-For is then ignored.
	spoof := []string{"X-Real-IP: 192.0.2.66", "X-Forwarded-For: 198.51.100.4"}
	for _, c := range []struct{ mode, want string }{
		{poller.ClientIPAuto, "192.0.2.66"},
		{poller.ClientIPForwardedFor, "198.51.100.4"},
		{poller.ClientIPRealIP, "192.0.2.66"},
		{poller.ClientIPNone, "127.0.0.1"},
	} {
		hm, logsm := observed(t, poller.Config{ClientIPHeader: c.mode})
		hm.subscribe("/events?channel=x", spoof...)
		if got := clientOf(t, logsm); got != c.want {
			t.Errorf("client-ip-header %s: client %s, want %s", c.mode, got, c.want)
		}
	}
	hr, logsr := observed(t, poller.Config{ClientIPHeader: poller.ClientIPRealIP})
	hr.subscribe("/events?channel=x", "X-Forwarded-For: 198.51.100.4")
	if got := clientOf(t, logsr); got != "127.0.0.1" {
		t.Errorf("client-ip-header x-real-ip believed X-Forwarded-For: %s", got)
	}
	if _, err := poller.New(poller.Config{Hub: pubsub.NewHub(pubsub.Config{}), ClientIPHeader: "Forwarded"}); err == nil || !strings.Contains(err.Error(), `"Forwarded"`) {
		t.Errorf("unknown client-ip-header: %v", err)
	}
	h2, logs2 := observed(t, poller.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	h2.subscribe("/events?channel=x", "X-Real-IP: 198.51.100.9")
	if got := clientOf(t, logs2); got != "127.0.0.1" {
		t.Errorf("X-Real-IP from an untrusted peer was believed: %s", got)
	}
}
