//go:build linux

package ingest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssedge/ssedge/pubsub"
)

// fuzzDeadline bounds one fuzzed exchange. The client half-closes after
// its input, so a server that is not stuck answers and closes well within
// it; hitting it means the server hung.
const fuzzDeadline = 5 * time.Second

// fuzzHubConfig keeps events small so the fuzzer reaches the too-large
// paths (refuse and discard, refuse and close) with short inputs.
var fuzzHubConfig = pubsub.Config{MaxEventBytes: 64, RingSize: 1024}

// exchange sends prefix+input on a fresh publish-socket connection,
// half-closes, and returns everything the server answers until it closes.
// A half-close is the end of input, not of the conversation: the server
// answers every complete command before it closes. fuzzDeadline catches a
// server that hangs.
func exchange(t *testing.T, in *Server, prefix string, input []byte) []byte {
	t.Helper()
	conn, err := net.Dial("unix", in.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	deadline := time.Now().Add(fuzzDeadline)
	conn.SetDeadline(deadline)
	// Write from a goroutine: a server that answers before it has read
	// everything must not deadlock against a client still writing.
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		io.WriteString(conn, prefix)
		conn.Write(input)
		conn.(*net.UnixConn).CloseWrite()
	}()
	out, err := io.ReadAll(conn)
	<-wrote
	if isTimeout(err) {
		t.Fatalf("server neither answered nor closed within %v after input %.200q; answered so far %.200q", fuzzDeadline, input, out)
	}
	return out
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// ringIDs drains the cursor and returns the ids published so far.
func ringIDs(c *pubsub.Cursor) []uint64 {
	var ids []uint64
	for ev := c.Next(); ev != nil; ev = c.Next() {
		ids = append(ids, ev.ID)
	}
	c.Commit()
	return ids
}

// checkSameIDs fails unless the acknowledged ids are exactly the ids on
// the ring: nothing acknowledged was lost, nothing published unacknowledged.
func checkSameIDs(t *testing.T, input []byte, acked, ring []uint64) {
	t.Helper()
	if fmt.Sprint(acked) != fmt.Sprint(ring) {
		t.Fatalf("input %.200q: acknowledged ids %v, ring holds %v", input, acked, ring)
	}
}

// FuzzLineProtocol feeds arbitrary bytes after a PING to the line protocol.
// Properties: every reply line is +PONG, +OK <id> or -ERR <reason>; the
// first is +PONG; ids strictly increase and are exactly the events on the
// ring; the server closes or answers within fuzzDeadline; and a fresh
// connection afterwards still gets +PONG and +OK.
func FuzzLineProtocol(f *testing.F) {
	for _, s := range []string{
		"",
		"PING\r\n",
		"PING\n",
		"PUB news 5\r\nhello\r\n",
		"PUB news headline 3\r\nbye\r\nPING\r\n",
		"PUB a 0\r\n\r\n",
		"PUB a 2\nhi\n",
		"PUB a 4\r\na\r\nb\r\n",
		"PUB a 1\r\n\r\r\n",
		"PUB a 2\r\nhiXX",
		"PUB a 2\r\nhi",
		"PUB a 5\r\nhi",
		"PUB a\r\n",
		"PUB\r\n",
		"PUB \r\n",
		"PUB a b c 1\r\nx\r\n",
		"PUB a -1\r\n",
		"PUB a +1\r\nx\r\n",
		"PUB a 0x10\r\n",
		"PUB a 99999999999999999999\r\n",
		"PUB a 65\r\n" + strings.Repeat("x", 65) + "\r\nPING\r\n",
		"PUB a 100000\r\n",
		"PUB a 70000000\r\n",
		"PUB bad%20name 1\r\nx\r\nPING\r\n",
		"PUB a bad\x00event 1\r\nx\r\nPING\r\n",
		"PUB " + strings.Repeat("c", 200) + " 1\r\nx\r\n",
		"PUB a " + strings.Repeat("1", 1100) + "\r\n",
		strings.Repeat("P", 1100),
		"HELLO\r\nPING\r\n",
		"ping\r\n",
		"PUB\ta 1\r\nx\r\n",
		"PUB  a  1\r\nx\r\n",
		"\r\n\r\nPING\r\n",
		"PUB a 1\r\nx\r\nPUB b 1\r\ny\r\nPUB c 1\r\nz\r\n",
		"\x00\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		in, _, cur := startIngest(t, fuzzHubConfig)
		out := exchange(t, in, "PING\r\n", input)
		if len(out) > 0 && !bytes.HasSuffix(out, []byte("\r\n")) {
			t.Fatalf("input %.200q: reply does not end in \\r\\n: %q", input, out)
		}
		lines := strings.Split(strings.TrimSuffix(string(out), "\r\n"), "\r\n")
		if len(out) == 0 || lines[0] != "+PONG" {
			t.Fatalf("input %.200q: first reply %q, want +PONG (all: %q)", input, lines[0], out)
		}
		var acked []uint64
		for _, l := range lines {
			switch {
			case l == "+PONG":
			case strings.HasPrefix(l, "+OK "):
				id, err := strconv.ParseUint(l[len("+OK "):], 10, 64)
				if err != nil {
					t.Fatalf("input %.200q: bad id in %q", input, l)
				}
				if n := len(acked); n > 0 && id <= acked[n-1] {
					t.Fatalf("input %.200q: id %d after %d", input, id, acked[n-1])
				}
				acked = append(acked, id)
			case strings.HasPrefix(l, "-ERR ") && len(l) > len("-ERR "):
				if strings.ContainsAny(l, "\r\n") {
					t.Fatalf("input %.200q: reply line holds a line break: %q", input, l)
				}
			default:
				t.Fatalf("input %.200q: reply line %q is none of +PONG, +OK <id>, -ERR <reason> (all: %q)", input, l, out)
			}
		}
		checkSameIDs(t, input, acked, ringIDs(cur))

		// The server still serves a fresh publisher.
		conn, br := dialIngest(t, in)
		io.WriteString(conn, "PING\r\nPUB ok 2\r\nhi\r\n")
		pong, err1 := br.ReadString('\n')
		ok, err2 := br.ReadString('\n')
		if err1 != nil || err2 != nil || pong != "+PONG\r\n" || !strings.HasPrefix(ok, "+OK ") {
			t.Fatalf("after input %.200q, a fresh connection got %q %q (%v, %v)", input, pong, ok, err1, err2)
		}
		id, err := strconv.ParseUint(strings.TrimSuffix(ok[len("+OK "):], "\r\n"), 10, 64)
		if err != nil || len(acked) > 0 && id <= acked[len(acked)-1] {
			t.Fatalf("after input %.200q (acked %v), a fresh publish got %q", input, acked, ok)
		}
	})
}

// httpReply is one response read off a publish connection.
type httpReply struct {
	status int
	body   string
}

// readReplies parses back-to-back HTTP/1.1 responses (each with a
// Content-Length, or none for 1xx) until the input ends.
func readReplies(out []byte) ([]httpReply, error) {
	br := bufio.NewReader(bytes.NewReader(out))
	var rs []httpReply
	for {
		status, err := br.ReadString('\n')
		if err == io.EOF && status == "" {
			return rs, nil
		}
		if err != nil {
			return rs, fmt.Errorf("truncated status line %q", status)
		}
		f := strings.Fields(status)
		if len(f) < 2 || f[0] != "HTTP/1.1" || !strings.HasSuffix(status, "\r\n") {
			return rs, fmt.Errorf("bad status line %q", status)
		}
		code, err := strconv.Atoi(f[1])
		if err != nil {
			return rs, fmt.Errorf("bad status line %q", status)
		}
		length := -1
		for {
			line, err := br.ReadString('\n')
			if err != nil || !strings.HasSuffix(line, "\r\n") {
				return rs, fmt.Errorf("truncated head after %q: %q", status, line)
			}
			if line == "\r\n" {
				break
			}
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				return rs, fmt.Errorf("bad header line %q", line)
			}
			if strings.EqualFold(k, "Content-Length") {
				if length, err = strconv.Atoi(strings.TrimSpace(v)); err != nil || length < 0 {
					return rs, fmt.Errorf("bad Content-Length %q", line)
				}
			}
		}
		if code < 200 {
			rs = append(rs, httpReply{status: code})
			continue
		}
		if length < 0 {
			return rs, fmt.Errorf("%d response without Content-Length", code)
		}
		body := make([]byte, length)
		if _, err := io.ReadFull(br, body); err != nil {
			return rs, fmt.Errorf("truncated body of %d response", code)
		}
		rs = append(rs, httpReply{status: code, body: string(body)})
	}
}

// httpStatuses are the answers the publish socket may give (docs/protocol.md).
var httpStatuses = map[int]bool{100: true, 200: true, 400: true, 404: true, 405: true, 411: true, 413: true, 414: true, 417: true, 431: true, 501: true, 503: true, 505: true}

const validPost = "POST /publish?channel=a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx"

// FuzzHTTPPublish is FuzzLineProtocol's twin for HTTP publishes: arbitrary
// bytes after one valid POST. Every answer is a well-formed response with a
// documented status, 200 bodies are strictly increasing ids that are
// exactly the events on the ring, and a fresh connection can still publish.
func FuzzHTTPPublish(f *testing.F) {
	for _, s := range []string{
		"",
		validPost,
		"POST /publish?channel=b&event=e HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
		"POST /publish?channel=b HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi",
		"POST /publish?channel=b HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
		"POST /publish?channel=b HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx" + validPost,
		"POST /publish?channel=b HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
		"POST /publish?channel=b HTTP/1.1\r\nHost: x\r\nExpect: nope\r\nContent-Length: 1\r\n\r\nx",
		"POST /publish?channel=b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
		"POST /publish?channel=b HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\nx",
		"POST /publish?channel=b HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
		"POST /publish?channel=b HTTP/1.1\r\nHost: x\r\nContent-Length: 65\r\n\r\n" + strings.Repeat("y", 65) + validPost,
		"POST /publish?channel=b HTTP/1.1\r\nHost: x\r\nContent-Length: 70000000\r\n\r\n",
		"POST /publish?channel=b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab",
		"POST /publish HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx",
		"POST /publish?channel=a&channel=b HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx",
		"POST /publish?channel=%zz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx",
		"GET /publish?channel=a HTTP/1.1\r\nHost: x\r\n\r\n",
		"HEAD /publish?channel=a HTTP/1.1\r\nHost: x\r\n\r\n",
		"BREW /publish?channel=a HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /other HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx",
		"POST /publish?channel=a HTTP/2.0\r\nHost: x\r\n\r\n",
		"POST /publish?channel=a HTTP/1.1\nHost: x\n\n",
		"POST /publish?channel=a HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
		"POST /publish?channel=a HTTP/1.1\r\nHo\x00st: x\r\n\r\n",
		"POST /" + strings.Repeat("a", 9000) + " HTTP/1.1\r\n\r\n",
		"\r\n\r\n",
		"\x16\x03\x01\x00",
		"PUB a 1\r\nx\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		in, _, cur := startIngest(t, fuzzHubConfig)
		out := exchange(t, in, validPost, input)
		rs, err := readReplies(out)
		if err != nil {
			t.Fatalf("input %.200q: %v (all: %q)", input, err, out)
		}
		if len(rs) == 0 || rs[0].status != 200 {
			t.Fatalf("input %.200q: first reply %+v, want 200 (all: %q)", input, rs, out)
		}
		var acked []uint64
		for _, r := range rs {
			if !httpStatuses[r.status] {
				t.Fatalf("input %.200q: undocumented status %d (all: %q)", input, r.status, out)
			}
			if r.status != 200 {
				continue
			}
			id, err := strconv.ParseUint(strings.TrimSuffix(r.body, "\n"), 10, 64)
			if err != nil || !strings.HasSuffix(r.body, "\n") {
				t.Fatalf("input %.200q: 200 body %q is no id", input, r.body)
			}
			if n := len(acked); n > 0 && id <= acked[n-1] {
				t.Fatalf("input %.200q: id %d after %d", input, id, acked[n-1])
			}
			acked = append(acked, id)
		}
		checkSameIDs(t, input, acked, ringIDs(cur))

		conn, br := dialIngest(t, in)
		io.WriteString(conn, validPost)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("after input %.200q, a fresh connection got %+v (%v)", input, resp, err)
		}
		resp.Body.Close()
	})
}

// A command cut off after its payload and a lone \r (the publisher died
// mid-write) is incomplete: it must not be published, as its publisher
// never learns the id and will retry. Found by FuzzLineProtocol
// (input "PUB 0 0\n\r").
func TestLineTruncatedCommandNotPublished(t *testing.T) {
	in, _, cur := startIngest(t, pubsub.Config{})
	conn, br := dialIngest(t, in)
	io.WriteString(conn, "PING\r\nPUB news 5\r\nhello\r")
	conn.(*net.UnixConn).CloseWrite()
	// The server answers what is complete, then closes: once the client
	// reads EOF, the server has decided about the cut-off command.
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "+PONG\r\n" {
		t.Fatalf("replies %q (%v), want only +PONG", rest, err)
	}
	if ids := ringIDs(cur); len(ids) != 0 {
		t.Fatalf("a truncated command was published: ring holds %v", ids)
	}
}
