//go:build linux

package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ssedge/ssedge/pubsub"
)

// A publisher may pipeline a whole batch before it reads anything: it
// writes every command, half-closes, and only then reads. Its replies
// wait in the connection's queue meanwhile (MaxQueuedReplies), so it gets
// every id, and they are exactly the events on the ring. (Before the
// queue, the server stopped reading while its reply write blocked, the
// publisher blocked writing, and the write deadline cut both.)
func TestPipelineBeforeReading(t *testing.T) {
	for _, tc := range []struct {
		name  string
		n     int
		batch func(int) string
		ids   func(*testing.T, []byte) []uint64
	}{
		{"line", 200_000, lineBatch, lineIDs},
		{"http", 40_000, httpBatch, httpIDs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := pubsub.NewHub(pubsub.Config{RingSize: 1 << 18})
			cur := h.Subscribe(func() {})
			in, err := Listen(h, Config{Path: filepath.Join(t.TempDir(), "p.sock")})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { in.Close(context.Background()); h.Close() })
			conn, err := net.Dial("unix", in.Path())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// A bound for a hang only: a server that stops reading fails
			// the write when its ReadTimeout (30 s) ends the connection.
			conn.SetDeadline(time.Now().Add(2 * time.Minute))
			if _, err := io.WriteString(conn, tc.batch(tc.n)); err != nil {
				t.Fatalf("writing the batch before reading: %v (published so far: %d)", err, h.Published())
			}
			if err := conn.(*net.UnixConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			out, err := io.ReadAll(conn)
			if err != nil {
				t.Fatalf("reading replies: %v (got %d bytes)", err, len(out))
			}
			checkAll(t, tc.ids(t, out), tc.n, cur)
		})
	}
}

// A publisher that sends more than MaxQueuedReplies of replies' worth
// without reading stops being read (back-pressure); when it then neither
// reads nor sends for ReadTimeout it is closed, with a warning that counts
// the events published whose replies it was not sent. Those and the
// replies it can still read add up to every event published.
func TestBackPressureThenStall(t *testing.T) {
	h := pubsub.NewHub(pubsub.Config{})
	defer h.Close()
	core, logs := observer.New(zapcore.WarnLevel)
	const timeout = 500 * time.Millisecond
	in, err := Listen(h, Config{Path: filepath.Join(t.TempDir(), "p.sock"), ReadTimeout: timeout, Log: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close(context.Background())
	conn, err := net.Dial("unix", in.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// 150,000 HTTP replies (about 96 bytes each) are well past the bound.
	batch := httpBatch(150_000)
	conn.SetWriteDeadline(time.Now().Add(time.Minute))
	wrote := make(chan error, 1)
	go func() { _, err := io.WriteString(conn, batch); wrote <- err }()
	select {
	case err := <-wrote:
		// The server stopped reading, so the rest of the batch cannot go
		// out: the write ends when the server closes.
		if err == nil {
			t.Fatal("the whole batch was read: no back-pressure")
		}
	case <-time.After(time.Minute):
		t.Fatal("the stalled publisher was never closed")
	}
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	out, err := io.ReadAll(conn)
	if err != nil && !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("reading what was sent: %v", err)
	}
	got := len(httpIDs(t, out[:completeHTTP(out)]))
	var lost int64 = -1
	deadline := time.Now().Add(10 * time.Second)
	for lost < 0 && time.Now().Before(deadline) {
		for _, e := range logs.FilterMessageSnippet("stopped taking its replies").All() {
			lost = e.ContextMap()["published_without_reply"].(int64)
		}
		if lost < 0 {
			time.Sleep(10 * time.Millisecond) // polls the log with a deadline
		}
	}
	if lost < 0 {
		t.Fatalf("no warning for the stalled publisher; logs: %v", logs.All())
	}
	if pub := h.Published(); pub >= 150_000 || uint64(got)+uint64(lost) != pub {
		t.Fatalf("published %d: the publisher read %d ids and the warning says %d were not sent (want the sum)", pub, got, lost)
	}
	if queued := got * 96; queued > 2*MaxQueuedReplies {
		t.Fatalf("%d replies reached the publisher: more than the bound lets queue", got)
	}
	t.Logf("published %d, read %d, unsent %d", h.Published(), got, lost)
}

// completeHTTP is the length of the whole HTTP responses at the start of b.
func completeHTTP(b []byte) int {
	end := 0
	for {
		head := bytes.Index(b[end:], []byte("\r\n\r\n"))
		if head < 0 {
			return end
		}
		size := 0
		if _, v, ok := bytes.Cut(b[end:end+head], []byte("Content-Length: ")); ok {
			v, _, _ = bytes.Cut(v, []byte("\r\n"))
			size, _ = strconv.Atoi(string(v))
		}
		if end+head+4+size > len(b) {
			return end
		}
		end += head + 4 + size
	}
}

// An idle publisher does not keep the buffer of its largest event: after
// 16 connections each published a 1 MiB event (and then small ones, so the
// ring no longer holds the large frames), the heap holds far less than
// those 16 MiB.
func TestIdlePublisherReleasesBuffers(t *testing.T) {
	const conns, size = 16, 1 << 20
	h := pubsub.NewHub(pubsub.Config{RingSize: 2, MaxEventBytes: size, History: pubsub.HistoryConfig{PerChannel: -1}})
	defer h.Close()
	in, err := Listen(h, Config{Path: filepath.Join(t.TempDir(), "p.sock")})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close(context.Background())
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	big := fmt.Sprintf("PUB big %d\r\n%s\r\n", size, strings.Repeat("x", size))
	for range conns {
		c, br := dialIngest(t, in)
		io.WriteString(c, big+"PUB small 1\r\nx\r\nPUB small 1\r\ny\r\n")
		for i := range 3 {
			if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK ") {
				t.Fatalf("reply %d: %q %v", i, line, err)
			}
		}
	}
	big = ""
	if grew := int64(heap()) - int64(before); grew > conns*size/2 {
		t.Fatalf("the heap grew by %d bytes with %d idle publishers: their %d-byte event buffers are kept", grew, conns, size)
	}
}
