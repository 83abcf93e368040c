package ingest

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ssedge/ssedge/pubsub"
)

// Every line-protocol refusal either keeps the connection (its framing
// is intact: a following publish gets an id) or closes it after -ERR, as
// docs/protocol.md classifies it.
func TestLineRefusalConnection(t *testing.T) {
	in, h, _ := startIngest(t, pubsub.Config{MaxEventBytes: 4})
	cases := []struct {
		name, cmd, reply string
		keeps            bool
	}{
		{"empty channel", "PUB  5\r\nhello\r\n", "-ERR pubsub: no channel given", true},
		{"empty channel, bare LF", "PUB  2\nhi\n", "-ERR pubsub: no channel given", true},
		{"too many words", "PUB ch a b 3\r\nabc\r\n", "-ERR malformed PUB", true},
		{"invalid channel", "PUB bad! 1\r\nx\r\n", "-ERR sse: invalid channel name", true},
		{"invalid event", "PUB ok \xff 2\r\nab\r\n", "-ERR sse: invalid event name", true},
		{"too large", "PUB ok 9\r\n123456789\r\n", "-ERR pubsub: event data too large", true},
		{"too large, bad channel", "PUB bad! 9\r\n123456789\r\n", "-ERR pubsub: event data too large", true},
		{"unknown command", "NOPE x\r\n", "-ERR unknown command", true},
		{"no arguments", "PUB\r\n", "-ERR malformed PUB", false},
		{"no byte count", "PUB ch\r\n", "-ERR PUB byte count \"ch\"", false},
		{"negative byte count", "PUB ch -1\r\n", "-ERR PUB byte count \"-1\"", false},
		{"too many words, no count", "PUB ch a b x\r\n", "-ERR PUB byte count \"x\"", false},
		{"payload longer than its count", "PUB ok 1\r\nxyz\r\n", "-ERR payload not followed", false},
		{"refused payload longer than its count", "PUB  1\r\nxyz\r\n", "-ERR payload not followed", false},
		{"over the discard limit", "PUB ok 70000000\r\n", "-ERR pubsub: event data too large", false},
		{"line too long", "PUB " + strings.Repeat("c", maxLine) + " 1\r\nx\r\n", "-ERR command line longer", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := h.Published()
			conn, br := dialIngest(t, in)
			// PING first: it selects the line protocol for any command.
			io.WriteString(conn, "PING\r\n"+tc.cmd+"PUB ok 2\r\nhi\r\n")
			if line, err := br.ReadString('\n'); line != "+PONG\r\n" {
				t.Fatalf("PING: %q (%v)", line, err)
			}
			if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, tc.reply) {
				t.Fatalf("got %q (%v), want %q...", line, err, tc.reply)
			}
			next, err := br.ReadString('\n')
			switch {
			case tc.keeps && !strings.HasPrefix(next, "+OK "):
				t.Fatalf("the connection should stay usable: the next publish got %q (%v)", next, err)
			case !tc.keeps && err != io.EOF:
				t.Fatalf("the connection should close: got %q (%v)", next, err)
			}
			if want := before + map[bool]uint64{true: 1}[tc.keeps]; h.Published() != want {
				t.Fatalf("published %d events, want %d", h.Published()-before, want-before)
			}
		})
	}
}

// Every HTTP refusal either keeps the connection (a following publish
// gets an id) or answers with Connection: close and closes, as
// docs/protocol.md classifies it.
func TestHTTPRefusalConnection(t *testing.T) {
	in, h, _ := startIngest(t, pubsub.Config{MaxEventBytes: 16})
	const next = "POST /publish?channel=ok HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok"
	cases := []struct {
		name, req string
		status    int
		reason    string
		keeps     bool
	}{
		{"no channel", "POST /publish HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx", 400, "no channel", true},
		{"invalid channel", "POST /publish?channel=bad%20name HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx", 400, "channel", true},
		{"two channels", "POST /publish?channel=a&channel=b HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx", 400, "one channel", true},
		{"invalid event", "POST /publish?channel=a&event=a%0Ab HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx", 400, "event", true},
		{"bad % escape", "POST /publish?channel=a%zz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx", 400, "%-escapes", true},
		{"bad % escape, no body", "POST /publish?channel=a%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400, "%-escapes", true},
		{"bad % escape in path", "POST /pub%zz?channel=a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx", 400, "%-escapes", true},
		{"character outside RFC 3986", "POST /publish?channel=a<b> HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx", 400, "RFC 3986", true},
		{"too large", "POST /publish?channel=a HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n12345678901234567", 413, "limit is 16", true},
		{"wrong method", "GET /publish?channel=a HTTP/1.1\r\nHost: x\r\n\r\n", 405, "use POST", true},
		{"wrong path", "POST /pub?channel=a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx", 404, "/publish", true},
		{"bad % escape, Connection: close", "POST /publish?channel=a%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", 400, "%-escapes", false},
		{"bad % escape, bad head", "POST /publish?channel=a%zz HTTP/1.1\r\nContent-Length: 1\r\n\r\nx", 400, "%-escapes", false},
		{"chunked", "POST /publish?channel=a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n", 411, "Content-Length", false},
		{"unknown expectation", "POST /publish?channel=a HTTP/1.1\r\nHost: x\r\nExpect: magic\r\nContent-Length: 1\r\n\r\nx", 417, "100-continue", false},
		{"refused with 100-continue", "POST /publish HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", 400, "no channel", false},
		{"over the discard limit", "POST /publish?channel=a HTTP/1.1\r\nHost: x\r\nContent-Length: 70000000\r\n\r\n", 413, "limit is 16", false},
		{"no Host", "POST /publish?channel=a HTTP/1.1\r\nContent-Length: 1\r\n\r\nx", 400, "Host", false},
		// An unknown line-protocol verb as a connection's first bytes: not
		// "PUB " or "PING", so HTTP, and a malformed request.
		{"unknown command as the first bytes", "NOPE x\r\n", 501, "method", false},
		{"unknown bare command as the first bytes", "NOPE\r\n", 400, "", false},
		{"Content-Length with Transfer-Encoding", "POST /publish?channel=a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := h.Published()
			conn, br := dialIngest(t, in)
			io.WriteString(conn, tc.req+next)
			resp := readResponse(t, br)
			if resp.status != tc.status || !strings.Contains(resp.body, tc.reason) {
				t.Fatalf("got %d %q, want %d mentioning %q", resp.status, resp.body, tc.status, tc.reason)
			}
			if resp.close == tc.keeps {
				t.Fatalf("Connection: close is %v, want %v", resp.close, !tc.keeps)
			}
			if tc.keeps {
				if r := readResponse(t, br); r.status != 200 {
					t.Fatalf("the connection should stay usable: the next publish got %d %q", r.status, r.body)
				}
			} else if _, err := br.ReadByte(); err != io.EOF {
				t.Fatalf("the connection should close: %v", err)
			}
			if want := before + map[bool]uint64{true: 1}[tc.keeps]; h.Published() != want {
				t.Fatalf("published %d events, want %d", h.Published()-before, want-before)
			}
		})
	}
}

type response struct {
	status int
	body   string
	close  bool
}

func readResponse(t *testing.T, br *bufio.Reader) response {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, string(body), resp.Close}
}
