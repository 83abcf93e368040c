package ingest

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ssedge/ssedge/internal/ssetest"
	"github.com/ssedge/ssedge/pubsub"
)

// Past MaxConns open connections, a new one is refused in its protocol
// when it says which (-ERR for the line protocol, 503 with Retry-After
// for HTTP), closed unanswered when it says nothing, counted and logged;
// once a connection closes, a new one is served again.
func TestMaxConns(t *testing.T) {
	h := pubsub.NewHub(pubsub.Config{})
	defer h.Close()
	core, logs := observer.New(zapcore.WarnLevel)
	in, err := Listen(h, Config{Path: filepath.Join(t.TempDir(), "p.sock"), MaxConns: 2, Log: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close(context.Background())
	var held []net.Conn
	for range 2 {
		c, br := dialIngest(t, in)
		io.WriteString(c, "PING\r\n")
		if line, err := br.ReadString('\n'); line != "+PONG\r\n" {
			t.Fatalf("publisher under the limit: %q %v", line, err)
		}
		held = append(held, c)
	}

	line, lbr := dialIngest(t, in)
	io.WriteString(line, "PING\r\n")
	if got, err := io.ReadAll(lbr); err != nil || !strings.HasPrefix(string(got), "-ERR too many publisher connections (2 open") {
		t.Fatalf("line publisher over the limit: %q %v", got, err)
	}

	post, pbr := dialIngest(t, in)
	io.WriteString(post, "POST /publish?channel=a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx")
	if r := readResponse(t, pbr); r.status != 503 || !r.close || !strings.Contains(r.body, "too many publisher connections") {
		t.Fatalf("HTTP publisher over the limit: %+v", r)
	}

	// Both refusals end once their clients close; then the next one is
	// answered too (a third at once would be closed unanswered).
	line.Close()
	post.Close()
	ssetest.WaitFor(t, 10*time.Second, "refusals to end", func() bool { return in.refusingNow() == 0 })
	silent, sbr := dialIngest(t, in)
	start := time.Now()
	if got, err := io.ReadAll(sbr); err != nil || len(got) != 0 {
		t.Fatalf("silent connection over the limit: %q %v, want a close", got, err)
	}
	if d := time.Since(start); d < refuseWait/2 {
		t.Fatalf("silent connection closed after %v: not given refuseWait (%v) to speak", d, refuseWait)
	}
	silent.Close()

	if n := in.Refused(); n != 3 {
		t.Fatalf("Refused() = %d, want 3", n)
	}
	if h.Published() != 0 {
		t.Fatalf("a refused connection published")
	}
	if logs.FilterMessage("publish refused").FilterField(zap.String("reason", "too many publisher connections (2 open, the limit): retry later")).Len() == 0 {
		t.Fatalf("no refusal logged: %v", logs.All())
	}

	held[0].Close()
	ssetest.WaitFor(t, 10*time.Second, "a publisher served after one of the two closed", func() bool {
		c, err := net.Dial("unix", in.Path())
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "PUB a 2\r\nhi\r\n")
		b := make([]byte, 4)
		_, err = io.ReadFull(c, b)
		return err == nil && string(b) == "+OK "
	})
}
