package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/ssedge/ssedge/internal/rules"
	"github.com/ssedge/ssedge/internal/ssetest"
	"github.com/ssedge/ssedge/poller"
	"github.com/ssedge/ssedge/pubsub"
	"github.com/ssedge/ssedge/pubsub/ingest"
)

// ruled is a hub, subscriber server and publish socket in this process,
// with a rule set applied by applyRules.
type ruled struct {
	hub  *pubsub.Hub
	srv  *poller.Server
	in   *ingest.Server
	addr string
	sock string
	pub  *ssetest.Publisher
}

func startRuled(t *testing.T, rs ...rules.Rule) *ruled {
	t.Helper()
	r := &ruled{hub: pubsub.NewHub(pubsub.Config{History: pubsub.HistoryConfig{PerChannel: 10}})}
	var err error
	if r.srv, err = poller.New(poller.Config{Hub: r.hub, Listen: []string{"127.0.0.1:0"}, Loops: 2, Log: zaptest.NewLogger(t)}); err != nil {
		t.Fatal(err)
	}
	r.addr = r.srv.Addrs()[0].String()
	r.sock = filepath.Join(t.TempDir(), "pub.sock")
	if r.in, err = ingest.Listen(r.hub, ingest.Config{Path: r.sock}); err != nil {
		r.srv.Close()
		t.Fatal(err)
	}
	r.srv.Start()
	r.pub = ssetest.NewPublisher(r.sock)
	t.Cleanup(func() {
		r.pub.Close()
		r.in.Close(context.Background())
		r.hub.Close()
		r.srv.Close()
	})
	set, err := rules.Compile(rs)
	if err != nil {
		t.Fatal(err)
	}
	if err := applyRules(set, r.hub, r.srv, r.in); err != nil {
		t.Fatal(err)
	}
	return r
}

func ptr[T any](v T) *T { return &v }

// resume opens a stream on channel from Last-Event-ID last and returns its
// first n events (gap events included).
func (r *ruled) resume(t *testing.T, channel string, last uint64, n int) []ssetest.Frame {
	t.Helper()
	st := ssetest.MustSubscribe(t, ssetest.Request{Addr: r.addr, Target: "/events?channel=" + channel, Header: []string{"Last-Event-ID: " + strconv.FormatUint(last, 10)}})
	defer st.Close()
	var out []ssetest.Frame
	for range n {
		out = append(out, st.MustEvent(t))
	}
	return out
}

func (r *ruled) publishN(t *testing.T, channel string, n int) []uint64 {
	var ids []uint64
	for range n {
		ids = append(ids, r.pub.MustPublish(t, channel, "", "x"))
	}
	return ids
}

// A rule's history-per-channel and history-age are what a resuming client
// finds: the rule's count, none (a gap) for -1, the server's for others.
func TestApplyRulesHistory(t *testing.T) {
	r := startRuled(t,
		rules.Rule{Match: "short", HistoryPerChannel: ptr(2)},
		rules.Rule{Match: "none", HistoryPerChannel: ptr(-1)},
		rules.Rule{Match: "brief:*", HistoryAge: ptr(rules.Duration(100 * time.Millisecond))},
	)
	short, none, plain := r.publishN(t, "short", 5), r.publishN(t, "none", 3), r.publishN(t, "plain", 5)
	got := r.resume(t, "short", short[0], 3)
	if got[0].Event != "ssedge.gap" || got[1].ID != strconv.FormatUint(short[3], 10) || got[2].ID != strconv.FormatUint(short[4], 10) {
		t.Errorf("short (2 kept): %+v, want a gap then %d, %d", got, short[3], short[4])
	}
	got = r.resume(t, "plain", plain[0], 4)
	for i, f := range got {
		if f.ID != strconv.FormatUint(plain[i+1], 10) {
			t.Errorf("plain (the server's 10): event %d is %+v, want id %d", i, f, plain[i+1])
		}
	}
	if got = r.resume(t, "none", none[0], 1); got[0].Event != "ssedge.gap" {
		t.Errorf("none (-1): %+v, want a gap", got)
	}
	brief := r.publishN(t, "brief:1", 2)
	// The age bound is applied on publish and by the hub's janitor, once a
	// second: wait until the history no longer holds the events.
	ssetest.WaitFor(t, 10*time.Second, "brief:1's events evicted after 100ms", func() bool {
		return r.hub.HistoryAfter("brief:1", brief[0]-1, r.hub.LastID()+1).Next == nil
	})
	if got = r.resume(t, "brief:1", brief[0], 1); got[0].Event != "ssedge.gap" {
		t.Errorf("brief:1 (100ms): %+v, want a gap", got)
	}
}

// publish-allow-uid / publish-allow-gid refuse other publishers with 403
// (HTTP) or -ERR (line protocol) naming the channel, uid and gid; the
// connection stays usable.
func TestApplyRulesPublishRights(t *testing.T) {
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	r := startRuled(t,
		rules.Rule{Match: "locked", PublishAllowUID: []uint32{uid + 1}},
		rules.Rule{Match: "ops:*", PublishAllowGID: []uint32{gid}},
	)
	who := "uid " + strconv.Itoa(int(uid)) + " (gid " + strconv.Itoa(int(gid)) + ")"
	replies, err := ssetest.LineExchange(r.sock, ssetest.LineCommand("locked", "", "x")+ssetest.LineCommand("ops:a", "", "y")+ssetest.LineCommand("open", "", "z"), 3)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(replies[0], "-ERR ") || !strings.Contains(replies[0], `"locked"`) || !strings.Contains(replies[0], who) {
		t.Errorf("line PUB locked: %q, want -ERR naming the channel and %s", replies[0], who)
	}
	if !strings.HasPrefix(replies[1], "+OK ") || !strings.HasPrefix(replies[2], "+OK ") {
		t.Errorf("line PUB ops:a, open after the refusal: %q", replies[1:])
	}

	c, err := net.Dial("unix", r.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	post := func(ch string) string {
		return "POST /publish?channel=" + ch + " HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx"
	}
	io.WriteString(c, post("locked")+post("open"))
	br := bufio.NewReader(c)
	for i, want := range []int{403, 200} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want || want == 403 && (!strings.Contains(string(body), `"locked"`) || !strings.Contains(string(body), who)) {
			t.Errorf("response %d: %d %q, want %d", i, resp.StatusCode, body, want)
		}
	}
}

// With --procs a supervisor has no subscriber server and a worker no
// publish socket: applyRules takes nil parts; a rule the subscriber server
// cannot enforce is refused before anything changes.
func TestApplyRulesParts(t *testing.T) {
	set, _ := rules.Compile([]rules.Rule{{Match: "a", HistoryPerChannel: ptr(1), PublishAllowUID: []uint32{0}}})
	hub := pubsub.NewHub(pubsub.Config{})
	defer hub.Close()
	if err := applyRules(set, hub, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := applyRules(set, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	r := startRuled(t, rules.Rule{Match: "keep", HistoryPerChannel: ptr(1)})
	bad, _ := rules.Compile([]rules.Rule{{Match: "keep", Private: ptr(true), HistoryPerChannel: ptr(-1)}})
	if err := applyRules(bad, r.hub, r.srv, r.in); !errors.Is(err, rules.ErrBadRule) {
		t.Fatalf("a private rule without a key: %v, want ErrBadRule", err)
	}
	ids := r.publishN(t, "keep", 2)
	if got := r.hub.HistoryAfter("keep", ids[0], ids[1]+1); got.Next == nil || got.Next.ID != ids[1] {
		t.Fatalf("the refused rules changed the history: %+v", got)
	}
}
