package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ssedge/ssedge/internal/ssetest"
)

// A node whose memory holds fewer events than the stream (its
// --history-per-channel is 2, the stream keeps 50 a channel) resumes a
// client from the stream: every event after the client's id exactly once,
// in id order across its channels, then live. The same on a node started
// after the events were published (it restored only the last 2 a
// channel), and by long-poll.
func TestResumeFromStream(t *testing.T) {
	b := startBroker(t)
	a := startNode(t, "--cluster", b.URL(), "--history-per-channel", "50") // creates the stream with its limits
	small := startNode(t, "--cluster", b.URL(), "--history-per-channel", "2")
	var xy []uint64 // the ids on channels x and y, in order
	for i := range 30 {
		ch := []string{"x", "y", "z"}[i%3]
		id := a.pub.MustPublish(t, ch, "", fmt.Sprint(i))
		if ch != "z" {
			xy = append(xy, id)
		}
	}
	late := startNode(t, "--cluster", b.URL(), "--history-per-channel", "2")
	for _, n := range []*node{small, late} {
		st := n.subscribe(t, "/events?channel=x&channel=y", fmt.Sprint(xy[0]-1))
		expectIDs(t, st, xy...)
		id := a.pub.MustPublish(t, "y", "", "live")
		expectIDs(t, st, id) // live right after the replay: no hole, nothing twice
		st.Close()
		xy = append(xy, id)

		st = n.subscribe(t, "/events?channel=x&channel=y", fmt.Sprint(xy[5]))
		expectIDs(t, st, xy[6:]...)
		st.Close()

		got := pollAll(t, n, "channel=x&channel=y", xy[0]-1, len(xy))
		if !slices.Equal(got, xy) {
			t.Fatalf("long-poll from before the node's memory: %v, want %v", got, xy)
		}
	}
	if a.logs.Count(`"msg":"closing a resuming stream`) != 0 {
		t.Fatal("a resume was closed, with the broker up")
	}
}

// pollAll long-polls n from last on until it has want events, and returns
// their ids; a gap fails the test.
func pollAll(t *testing.T, n *node, query string, last uint64, want int) []uint64 {
	t.Helper()
	var got []uint64
	for i := 0; len(got) < want; i++ {
		if i == 50 {
			t.Fatalf("long-poll: %d events after 50 polls, want %d: %v", len(got), want, got)
		}
		a := poll(t, n, fmt.Sprintf("%s&lastEventId=%d&timeout=5", query, last))
		if len(a.Gaps) != 0 {
			t.Fatalf("poll after %d: gaps %s", last, a.Gaps)
		}
		for _, e := range a.Events {
			got = append(got, e.ID)
		}
		if a.LastEventID < last {
			t.Fatalf("poll after %d answered lastEventId %d", last, a.LastEventID)
		}
		last = a.LastEventID
	}
	return got
}

// What the stream itself evicted (its per-channel limit is 5) is a gap,
// reason evicted, naming exactly the lost ids, before the events it still
// holds — on a node whose memory (2 a channel) holds fewer still.
func TestResumeFromStreamEvicted(t *testing.T) {
	b := startBroker(t)
	a := startNode(t, "--cluster", b.URL(), "--history-per-channel", "5")
	small := startNode(t, "--cluster", b.URL(), "--history-per-channel", "2")
	var ids []uint64
	for i := range 8 {
		ids = append(ids, a.pub.MustPublish(t, "e", "", fmt.Sprint(i)))
		a.pub.MustPublish(t, "other", "", fmt.Sprint(i))
	}
	st := small.subscribe(t, "/events?channel=e", fmt.Sprint(ids[0]))
	f := st.MustEvent(t)
	want := fmt.Sprintf(`"lastEventId":%d,"firstAvailableId":%d,"reason":"evicted"`, ids[0], ids[3])
	if f.Event != "ssedge.gap" || !strings.Contains(f.Data, want) {
		t.Fatalf("resume before the stream's per-channel limit: %q, want a gap with %s", f.Raw, want)
	}
	expectIDs(t, st, ids[3:]...)

	an := poll(t, small, fmt.Sprintf("channel=e&lastEventId=%d&timeout=5", ids[0]))
	if len(an.Gaps) != 1 || !strings.Contains(string(an.Gaps[0]), want) {
		t.Fatalf("long-poll before the stream's per-channel limit: gaps %s, want one with %s", an.Gaps, want)
	}
	got := []uint64{}
	for _, e := range an.Events {
		got = append(got, e.ID)
	}
	if len(got) == 0 || got[0] != ids[3] {
		t.Fatalf("long-poll after the gap: %v, want from %d on", got, ids[3])
	}
	rest := pollAll(t, small, "channel=e", an.LastEventID, len(ids[3:])-len(got))
	if all := append(got, rest...); !slices.Equal(all, ids[3:]) {
		t.Fatalf("long-poll after the gap: %v, want %v", all, ids[3:])
	}
	live := a.pub.MustPublish(t, "e", "", "live")
	expectIDs(t, st, live)
}

// With the broker down, a resume that needs the stream is not left
// hanging and does not skip anything: the stream is closed (the client
// reconnects and resumes from the same id), a long-poll is answered 503;
// once the broker is back, the same resume is exact.
func TestResumeFromStreamBrokerDown(t *testing.T) {
	b := startBroker(t)
	a := startNode(t, "--cluster", b.URL(), "--history-per-channel", "50")
	small := startNode(t, "--cluster", b.URL(), "--history-per-channel", "2")
	var ids []uint64
	for i := range 6 {
		ids = append(ids, a.pub.MustPublish(t, "d", "", fmt.Sprint(i)))
	}
	b.Stop()
	st := small.subscribe(t, "/events?channel=d", fmt.Sprint(ids[0]))
	if f, err := st.NextEvent(20 * time.Second); !errors.Is(err, io.EOF) {
		t.Fatalf("resume needing the stream with the broker down: %q, %v; want the stream closed", f.Raw, err)
	}
	small.logs.Wait(t, 10*time.Second, 1, `"msg":"closing a resuming stream`)

	c := &http.Client{Timeout: 20 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://%s/poll?channel=d&lastEventId=%d&timeout=5", small.listen, ids[0]))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(body), "poll again") {
		t.Fatalf("long-poll needing the stream with the broker down: %d %q, want 503 saying to poll again", resp.StatusCode, body)
	}

	b.Start()
	small.logs.Wait(t, 30*time.Second, 1, "NATS connection back")
	st = small.subscribe(t, "/events?channel=d", fmt.Sprint(ids[0]))
	expectIDs(t, st, ids[1:]...)
}

// --procs: each worker's memory (2 a channel) holds less than the stream,
// and its resumes read the rest from the stream too.
func TestResumeFromStreamProcs(t *testing.T) {
	b := startBroker(t)
	a := startNode(t, "--cluster", b.URL(), "--history-per-channel", "50")
	var ids []uint64
	for i := range 10 {
		ids = append(ids, a.pub.MustPublish(t, "w", "", fmt.Sprint(i)))
	}
	n := startNode(t, "--cluster", b.URL(), "--history-per-channel", "2", "--procs", "2", "--loops", "1")
	// Enough connections that both workers serve some (the kernel spreads
	// them over the workers' SO_REUSEPORT sockets).
	for range 8 {
		st := n.subscribe(t, "/events?channel=w", fmt.Sprint(ids[0]))
		expectIDs(t, st, ids[1:]...)
		st.Close()
	}
	live := n.subscribe(t, "/events?channel=w", fmt.Sprint(ids[0]-1))
	expectIDs(t, live, ids...)
	id := a.pub.MustPublish(t, "w", "", "live")
	expectIDs(t, live, id)
}

// Events the stream aged out (its first sequence moved past them) are a
// gap, reason evicted, before the ones it still holds — told by the
// stream, not by the node's memory, which here keeps only 1 a channel.
func TestResumeFromStreamAged(t *testing.T) {
	b := startBroker(t)
	a := startNode(t, "--cluster", b.URL(), "--history-per-channel", "50", "--history-age", "1s")
	small := startNode(t, "--cluster", b.URL(), "--history-per-channel", "1", "--history-age", "1s")
	old := []uint64{a.pub.MustPublish(t, "aged", "", "0"), a.pub.MustPublish(t, "aged", "", "1")}
	nc, err := nats.Connect(b.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	s, err := js.Stream(context.Background(), "SSEDGE")
	if err != nil {
		t.Fatal(err)
	}
	ssetest.WaitFor(t, 20*time.Second, "the stream to age out the first events", func() bool {
		info, err := s.Info(context.Background())
		return err == nil && info.State.FirstSeq > old[1]
	})
	var held []uint64
	for i := range 3 {
		held = append(held, a.pub.MustPublish(t, "aged", "", fmt.Sprint("new ", i)))
	}
	// From before both old events: the node's memory (1 a channel) lacks
	// old[0] for sure, so the stream is asked, and it has neither. (A
	// resume from old[0] could get old[1] from memory, if the node's own
	// age bound has not yet dropped it: memory may hold what the stream
	// no longer does.)
	st := small.subscribe(t, "/events?channel=aged", fmt.Sprint(old[0]-1))
	f := st.MustEvent(t)
	want := fmt.Sprintf(`"lastEventId":%d,"firstAvailableId":%d,"reason":"evicted"`, old[0]-1, held[0])
	if f.Event != "ssedge.gap" || !strings.Contains(f.Data, want) {
		t.Fatalf("resume from before the stream's first sequence: %q, want a gap with %s", f.Raw, want)
	}
	expectIDs(t, st, held...)
}
