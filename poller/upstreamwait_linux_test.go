package poller_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/ssedge/ssedge/poller"
	"github.com/ssedge/ssedge/pubsub"
)

// Waiting on reads from the cluster's log: what comes behind a poll that
// waits, and how long and how far the wait goes (a token's expiry, a read
// that never finishes, a drain, a hand-off).

// pollConn is one raw client connection that sends requests as given
// (pipelined when several are in one write) and reads the answers in turn.
type pollConn struct {
	t  *testing.T
	br *bufio.Reader
}

func (h *harness) pollConn(raw string) *pollConn {
	h.t.Helper()
	c := h.dial()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		h.t.Fatal(err)
	}
	return &pollConn{t: h.t, br: bufio.NewReader(c)}
}

// answer reads the next response: its status, Retry-After and body.
func (p *pollConn) answer() (status int, retryAfter, body string) {
	p.t.Helper()
	resp, err := http.ReadResponse(p.br, nil)
	if err != nil {
		p.t.Fatalf("reading an answer: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		p.t.Fatalf("reading an answer's body: %v", err)
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
}

// poll reads the next response and decodes it as a 200 long-poll answer.
func (p *pollConn) poll() pollAnswer {
	p.t.Helper()
	status, _, body := p.answer()
	var a pollAnswer
	if status != 200 {
		p.t.Fatalf("poll answer: %d %q, want 200", status, body)
	}
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		p.t.Fatalf("poll answer %q: %v", body, err)
	}
	return a
}

// eof reports whether the server closed the connection with nothing more.
func (p *pollConn) eof() bool {
	_, err := p.br.ReadByte()
	return errors.Is(err, io.EOF)
}

func pollRequest(query string, closing bool) string {
	r := "GET /poll?" + query + " HTTP/1.1\r\nHost: x\r\n"
	if closing {
		r += "Connection: close\r\n"
	}
	return r + "\r\n"
}

func ids(a pollAnswer) []uint64 {
	var out []uint64
	for _, e := range a.Events {
		out = append(out, e.ID)
	}
	return out
}

// A request pipelined in the same packet as a long-poll that parks is
// answered after the poll, not dropped.
func TestPipelinedBehindParkedPoll(t *testing.T) {
	h := start(t, poller.Config{Loops: 1})
	p := h.pollConn(pollRequest("channel=q&timeout=0", false) + pollRequest("channel=q&timeout=0", true))
	first, second := p.poll(), p.poll()
	if len(first.Events) != 0 || len(second.Events) != 0 {
		t.Fatalf("answers %+v, %+v; want two empty ones", first, second)
	}
	if !p.eof() {
		t.Fatal("the connection is still open after the answer to Connection: close")
	}
}

// upstreamHarness is a hub that keeps 2 events a channel in memory and
// reads older ones from lg, with first and then 4 more events on "p" (and
// on private-p when the server has Auth), and the server on top.
func upstreamHarness(t *testing.T, cfg poller.Config) (h *harness, lg *testLog, first uint64, want []uint64) {
	t.Helper()
	lg = newTestLog()
	cfg.Loops = 1
	h = startHub(t, cfg, pubsub.Config{History: pubsub.HistoryConfig{PerChannel: 2}, UpstreamFetch: lg.fetch})
	t.Cleanup(func() {
		select {
		case <-lg.hold:
		default:
			close(lg.hold) // let the reads the test left waiting end
		}
	})
	ch := "p"
	if cfg.Auth != nil {
		ch = "private-p"
	}
	first = lg.publish(h, ch, "first")
	for i := range 4 {
		want = append(want, lg.publish(h, ch, fmt.Sprint(i)))
	}
	return h, lg, first, want
}

// A poll pipelined behind a poll that waits for the log, and that needs
// the log too, is taken up when the first is answered, in the same pass
// over the waiting reads: it is answered as well.
func TestPipelinedPollsFromLog(t *testing.T) {
	h, lg, first, want := upstreamHarness(t, poller.Config{})
	close(lg.hold)
	q := fmt.Sprintf("channel=p&lastEventId=%d&timeout=5", first)
	p := h.pollConn(pollRequest(q, false) + pollRequest(q, true))
	a, b := p.poll(), p.poll()
	if len(a.Events) == 0 || !slices.Equal(ids(a), want[:len(a.Events)]) || !slices.Equal(ids(a), ids(b)) {
		t.Fatalf("answers %v and %v, want the same start of %v twice", ids(a), ids(b), want)
	}
	if n := h.srv.Stats().UpstreamFetches; n != 2 {
		t.Fatalf("%d reads from the log, want 2", n)
	}
}
