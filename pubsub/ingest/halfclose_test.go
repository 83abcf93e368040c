//go:build linux

package ingest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssedge/ssedge/internal/ssetest"
	"github.com/ssedge/ssedge/pubsub"
)

// lineBatch is n pipelined line-protocol publishes.
func lineBatch(n int) string {
	var b strings.Builder
	for i := range n {
		body := fmt.Sprintf("event %d", i)
		fmt.Fprintf(&b, "PUB hc %d\r\n%s\r\n", len(body), body)
	}
	return b.String()
}

// httpBatch is n pipelined HTTP publishes.
func httpBatch(n int) string {
	var b strings.Builder
	for i := range n {
		body := fmt.Sprintf("event %d", i)
		fmt.Fprintf(&b, "POST /publish?channel=hc HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	}
	return b.String()
}

// lineIDs parses line-protocol replies: every one must be +OK <id>, ids
// increasing.
func lineIDs(t *testing.T, out []byte) []uint64 {
	t.Helper()
	var ids []uint64
	for _, line := range strings.SplitAfter(string(out), "\r\n") {
		if line == "" {
			continue
		}
		id, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(line, "+OK "), "\r\n"), 10, 64)
		if err != nil || !strings.HasPrefix(line, "+OK ") || len(ids) > 0 && id <= ids[len(ids)-1] {
			t.Fatalf("reply %d: %q", len(ids), line)
		}
		ids = append(ids, id)
	}
	return ids
}

// httpIDs parses pipelined HTTP replies: every one must be 200 with an
// id, ids increasing.
func httpIDs(t *testing.T, out []byte) []uint64 {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(out))
	var ids []uint64
	for {
		if _, err := br.Peek(1); err == io.EOF {
			return ids
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reply %d: %v", len(ids), err)
		}
		body, _ := io.ReadAll(resp.Body)
		id, err := strconv.ParseUint(strings.TrimSpace(string(body)), 10, 64)
		if resp.StatusCode != 200 || err != nil || len(ids) > 0 && id <= ids[len(ids)-1] {
			t.Fatalf("reply %d: %d %q", len(ids), resp.StatusCode, body)
		}
		ids = append(ids, id)
	}
}

// checkAll fails unless the publisher got n ids and they are exactly the
// events on the ring.
func checkAll(t *testing.T, ids []uint64, n int, cur *pubsub.Cursor) {
	t.Helper()
	if len(ids) != n {
		t.Fatalf("publisher got %d ids for %d commands", len(ids), n)
	}
	if ring := ringIDs(cur); fmt.Sprint(ring) != fmt.Sprint(ids) {
		t.Fatalf("ring holds %d events, replies gave %d ids (first ring %v)", len(ring), len(ids), ring[:min(3, len(ring))])
	}
}

// A Go publisher that pipelines 1,000 commands and half-closes (CloseWrite)
// gets all 1,000 ids, on both protocols.
func TestHalfCloseGoClient(t *testing.T) {
	const n = 1000
	for _, tc := range []struct {
		name  string
		batch string
		ids   func(*testing.T, []byte) []uint64
	}{
		{"line", lineBatch(n), lineIDs},
		{"http", httpBatch(n), httpIDs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, _, cur := startIngest(t, pubsub.Config{})
			conn, br := dialIngest(t, in)
			// Writing from a goroutine: the server answers while the client
			// is still writing, and the client must read to let it.
			wrote := make(chan error, 1)
			go func() {
				_, err := io.WriteString(conn, tc.batch)
				if err == nil {
					err = conn.(*net.UnixConn).CloseWrite()
				}
				wrote <- err
			}()
			out, err := io.ReadAll(br)
			if err != nil {
				t.Fatalf("reading replies: %v (got %d bytes)", err, len(out))
			}
			if err := <-wrote; err != nil {
				t.Fatal(err)
			}
			checkAll(t, tc.ids(t, out), n, cur)
		})
	}
}

// socat and OpenBSD nc -N, fed a batch on stdin, shut down their write
// side at the end of input and print every reply.
func TestHalfCloseTools(t *testing.T) {
	const n = 200
	for _, tc := range []struct {
		name, tool string
		args       func(sock string) []string
		batch      string
		ids        func(*testing.T, []byte) []uint64
	}{
		// -t 30: after its input ends, socat waits up to 30 s (not its
		// default 0.5 s) for the server's replies and close.
		{"socat/line", "socat", func(s string) []string { return []string{"-t", "30", "-", "UNIX-CONNECT:" + s} }, lineBatch(n), lineIDs},
		{"socat/http", "socat", func(s string) []string { return []string{"-t", "30", "-", "UNIX-CONNECT:" + s} }, httpBatch(n), httpIDs},
		{"nc/line", "nc", func(s string) []string { return []string{"-N", "-U", s} }, lineBatch(n), lineIDs},
		{"nc/http", "nc", func(s string) []string { return []string{"-N", "-U", s} }, httpBatch(n), httpIDs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tool := ssetest.NeedTool(t, tc.tool)
			in, _, cur := startIngest(t, pubsub.Config{})
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, tool, tc.args(in.Path())...)
			cmd.Stdin = strings.NewReader(tc.batch)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s: %v (%s)", cmd, err, stderr.Bytes())
			}
			checkAll(t, tc.ids(t, out), n, cur)
		})
	}
}
