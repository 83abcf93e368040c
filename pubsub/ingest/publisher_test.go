package ingest

import (
	"io"
	"strings"
	"testing"

	"github.com/ssedge/ssedge/pubsub"
)

// Idempotency keys: in local mode accepted and ignored (each publish is
// its own event); a bad key is refused and the connection goes on.
func TestIdempotencyKeyLocal(t *testing.T) {
	in, h, _ := startIngest(t, pubsub.Config{})
	conn, br := dialIngest(t, in)
	io.WriteString(conn, "PUB ch 1 key=k1\r\nx\r\nPUB ch ev 1 key=k1\r\ny\r\nPUB ch 1 key=\r\nz\r\nPUB ch 1 key=a\x01b\r\nz\r\nPUB ch 1 key="+strings.Repeat("k", 129)+"\r\nz\r\nPING\r\n")
	want := []string{"+OK ", "+OK ", "-ERR empty idempotency key", "-ERR idempotency key", "-ERR idempotency key of 129 bytes", "+PONG"}
	for _, w := range want {
		line, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, w) {
			t.Fatalf("got %q (%v), want %q...", line, err, w)
		}
	}
	conn, br = dialIngest(t, in) // a connection speaks one protocol
	io.WriteString(conn, "POST /publish?channel=ch HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k1\r\nContent-Length: 1\r\n\r\nw"+
		"POST /publish?channel=ch HTTP/1.1\r\nHost: x\r\nIdempotency-Key: bad key\r\nContent-Length: 1\r\n\r\nw")
	if code, body := readHTTP(t, br); code != 200 {
		t.Fatalf("keyed HTTP publish: %d %q", code, body)
	}
	if code, body := readHTTP(t, br); code != 400 || !strings.Contains(body, "idempotency key") {
		t.Fatalf("bad key over HTTP: %d %q, want 400", code, body)
	}
	if h.Published() != 3 {
		t.Fatalf("published %d, want 3", h.Published())
	}
}
