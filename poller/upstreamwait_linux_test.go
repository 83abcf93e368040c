package poller_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
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

// A poll waiting for the log is answered at its token's expiry, with
// nothing and its own lastEventId (as a poll on its channels is), not
// later with what the read brings; the next poll needs a new token.
func TestFetchingPollTokenExpiry(t *testing.T) {
	h, lg, first, _ := upstreamHarness(t, poller.Config{Auth: testVerifier(t)})
	h.srv.SetUpstreamGiveUp(time.Hour) // only the token's expiry can end the wait
	tok := url.QueryEscape(mint(t, 2*time.Second, "private-p"))
	q := fmt.Sprintf("channel=private-p&lastEventId=%d&timeout=50&token=%s", first, tok)
	p := h.pollConn(pollRequest(q, false))
	waitFor(t, "a read from the log to start", func() bool { return lg.started.Load() == 1 })
	waitFor(t, "the poll answered at the token's expiry", func() bool { return h.srv.Stats().LongPollsAnswered == 1 })
	close(lg.hold)
	a := p.poll()
	if len(a.Events) != 0 || len(a.Gaps) != 0 || a.LastEventID != first {
		t.Fatalf("answer at the token's expiry: %+v; want nothing, lastEventId %d", a, first)
	}
	if status, body := getPollStatus(t, h.addr, q); status != 401 || !strings.Contains(body, "expired") {
		t.Fatalf("the next poll: %d %q, want 401 expired", status, body)
	}
}

// A read from the log that never finishes does not hold its client for
// ever: the loop gives up on it, answers the poll 503 (poll again) and
// closes the resuming stream (it resumes again).
func TestUpstreamGiveUp(t *testing.T) {
	h, lg, first, _ := upstreamHarness(t, poller.Config{})
	h.srv.SetUpstreamGiveUp(300 * time.Millisecond)
	status, body := getPollStatus(t, h.addr, fmt.Sprintf("channel=p&lastEventId=%d&timeout=5", first))
	if status != 503 || !strings.Contains(body, "in time") || !strings.Contains(body, "poll again") {
		t.Fatalf("poll whose read never finished: %d %q, want 503 saying to poll again", status, body)
	}
	s := h.subscribe("/events?channel=p", fmt.Sprintf("Last-Event-ID: %d", first))
	if f, err := s.nextEvent(10 * time.Second); !errors.Is(err, io.EOF) {
		t.Fatalf("resume whose read never finished: %+v, %v; want the stream closed", f, err)
	}
	waitFor(t, "both counted", func() bool { return h.srv.Stats().Closed[poller.CloseUnavailable] == 2 })
	if n := lg.started.Load(); n != 2 {
		t.Fatalf("%d reads from the log, want 2", n)
	}
}

// A hand-off waits a moment for a poll's read from the log; one still
// under way then is answered 503 with Retry-After (poll again, from the
// new process), not closed unanswered with the old one.
func TestHandoffFetchingPoll(t *testing.T) {
	h, lg, first, _ := upstreamHarness(t, poller.Config{})
	p := h.pollConn(pollRequest(fmt.Sprintf("channel=p&lastEventId=%d&timeout=5", first), false))
	waitFor(t, "a read from the log to start", func() bool { return lg.started.Load() == 1 })
	hd := pause(t, h)
	status, retry, body := p.answer()
	if status != 503 || retry == "" || !strings.Contains(body, "poll again") {
		t.Fatalf("poll waiting for the log at a hand-off: %d (Retry-After %q) %q, want 503 saying to poll again", status, retry, body)
	}
	if len(hd.Conns) != 0 {
		t.Fatalf("exported %+v, want nothing: the refused poll ends with the old process", hd.Conns)
	}
	hd.Abort()
}

// A drain answers a poll waiting for the log at once: 503 with
// Retry-After.
func TestDrainFetchingPoll(t *testing.T) {
	h, lg, first, _ := upstreamHarness(t, poller.Config{})
	p := h.pollConn(pollRequest(fmt.Sprintf("channel=p&lastEventId=%d&timeout=5", first), false))
	waitFor(t, "a read from the log to start", func() bool { return lg.started.Load() == 1 })
	done := make(chan poller.DrainResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- h.srv.Drain(ctx, 0)
	}()
	status, retry, body := p.answer()
	if status != 503 || retry == "" || !strings.Contains(body, "poll again") {
		t.Fatalf("poll waiting for the log at a drain: %d (Retry-After %q) %q, want 503 saying to poll again", status, retry, body)
	}
	if r := <-done; r.Cut {
		t.Fatalf("drain cut short: %+v", r)
	}
}
