package ingest

import (
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ssedge/ssedge/internal/ssetest"
	"github.com/ssedge/ssedge/pubsub"
)

// Close ends idle publishers and ones waiting for the rest of a message,
// without waiting for them to go, and returns once they are gone.
func TestCloseEndsPublishers(t *testing.T) {
	h := pubsub.NewHub(pubsub.Config{})
	defer h.Close()
	in, err := Listen(h, Config{Path: filepath.Join(t.TempDir(), "p.sock")})
	if err != nil {
		t.Fatal(err)
	}
	idle, ibr := dialIngest(t, in)
	io.WriteString(idle, "PING\r\n")
	if line, err := ibr.ReadString('\n'); line != "+PONG\r\n" {
		t.Fatalf("PING: %q %v", line, err)
	}
	partial, pbr := dialIngest(t, in)
	io.WriteString(partial, "PING\r\nPUB a 5\r\nhe")
	if line, err := pbr.ReadString('\n'); line != "+PONG\r\n" {
		t.Fatalf("PING: %q %v", line, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := in.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for name, br := range map[string]io.Reader{"idle": ibr, "partial": pbr} {
		if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
			t.Errorf("%s publisher after Close: %q %v, want EOF", name, rest, err)
		}
	}
	if h.Published() != 0 {
		t.Fatalf("the cut-off command was published")
	}
	if _, err := net.Dial("unix", in.Path()); err == nil {
		t.Fatal("the socket still accepts after Close")
	}
}

// ReadTimeout bounds the wait for the rest of a started message; an idle
// publisher (between messages) is never timed out.
func TestReadTimeout(t *testing.T) {
	h := pubsub.NewHub(pubsub.Config{})
	defer h.Close()
	const timeout = 200 * time.Millisecond
	in, err := Listen(h, Config{Path: filepath.Join(t.TempDir(), "p.sock"), ReadTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close(context.Background())

	idle, ibr := dialIngest(t, in)
	// Lets real time pass: idle for longer than the timeout.
	time.Sleep(3 * timeout)
	io.WriteString(idle, "PUB a 2\r\nhi\r\n")
	if line, err := ibr.ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK ") {
		t.Fatalf("an idle publisher was timed out: %q %v", line, err)
	}

	stuck, sbr := dialIngest(t, in)
	start := time.Now()
	io.WriteString(stuck, "PUB a 5\r\nhe")
	if rest, err := io.ReadAll(sbr); err != nil || len(rest) != 0 {
		t.Fatalf("a publisher stuck mid-message: %q %v, want the connection closed", rest, err)
	}
	if d := time.Since(start); d < timeout {
		t.Fatalf("closed after %v, before the %v timeout", d, timeout)
	}
}

// Close returns by its context's deadline even when a connection's
// command waits in Hub.Publish for ring room (the ring is full and its
// one reader never moves); that goroutine is left to end when the hub
// closes.
func TestCloseBoundedByContext(t *testing.T) {
	h := pubsub.NewHub(pubsub.Config{RingSize: 2})
	defer h.Close()
	h.Subscribe(func() {}) // never reads: the ring fills after 2 events
	in, err := Listen(h, Config{Path: filepath.Join(t.TempDir(), "p.sock")})
	if err != nil {
		t.Fatal(err)
	}
	conn, _ := dialIngest(t, in)
	io.WriteString(conn, strings.Repeat("PUB a 1\r\nx\r\n", 3))
	ssetest.WaitFor(t, 10*time.Second, "a publish waiting for ring room", func() bool {
		buf := make([]byte, 1<<20)
		return strings.Contains(string(buf[:runtime.Stack(buf, true)]), "waitRoom")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	closed := make(chan error, 1)
	go func() { closed <- in.Close(ctx) }()
	select {
	case err := <-closed:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close: %v, want the context's error", err)
		}
	case <-time.After(10 * time.Second):
		h.Close() // frees the publish, and so Close, for the rest of the run
		t.Fatal("Close still waiting 10 s after its 200 ms context ended")
	}
}
