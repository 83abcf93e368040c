package cluster_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/ssedge/ssedge/internal/ssetest"
)

// allChars is a channel name with every allowed character.
const allChars = "AZaz09-._~:@/x"

// One log, one id space: a publish on A reaches subscribers on B and C
// with the same id, and channels whose names differ only by dots stay
// apart.
func TestPublishOnOneNodeSameIDsEverywhere(t *testing.T) {
	b := startBroker(t)
	a, bn, c := startNode(t, "--cluster", b.URL()), startNode(t, "--cluster", b.URL()), startNode(t, "--cluster", b.URL())
	chans := []string{"a", "a.b", "a.b.c", allChars}
	target := func(ch string) string { return "/events?channel=" + url.QueryEscape(ch) }
	var onB, onC []*streamOf
	for _, ch := range chans {
		onB = append(onB, &streamOf{ch, bn.subscribe(t, target(ch), "")})
		onC = append(onC, &streamOf{ch, c.subscribe(t, target(ch), "")})
	}
	bn.waitSubscribed(t, len(chans))
	c.waitSubscribed(t, len(chans))
	ids := map[string]uint64{}
	var first uint64
	for i, ch := range chans {
		id := a.pub.MustPublish(t, ch, "ev", fmt.Sprintf("data %d on %s", i, ch))
		if i == 0 {
			first = id
		}
		if id != first+uint64(i) {
			t.Fatalf("publish %d got id %d, want %d (consecutive stream sequences)", i, id, first+uint64(i))
		}
		ids[ch] = id
	}
	for _, list := range [][]*streamOf{onB, onC} {
		for _, s := range list {
			id, typ, data := event(t, s.st)
			if id != ids[s.ch] || typ != "ev" || !strings.HasSuffix(data, " on "+s.ch) {
				t.Fatalf("channel %q got %d %q %q, want id %d of its own channel", s.ch, id, typ, data, ids[s.ch])
			}
		}
	}
	// Nothing else arrived on any channel: a second event on each channel
	// must be each stream's next one.
	for _, ch := range chans {
		ids[ch] = a.pub.MustPublish(t, ch, "", "second")
	}
	for _, list := range [][]*streamOf{onB, onC} {
		for _, s := range list {
			expectIDs(t, s.st, ids[s.ch])
		}
	}
}

type streamOf struct {
	ch string
	st *ssetest.Stream
}

// Moving from local mode: a stream ssedge creates starts at the clock, so
// its ids are above every id local mode issued; a client that brings a
// local-mode id gets a gap (reason evicted: the events of local mode are
// not in the stream), never "future", then the stream's events.
func TestMoveFromLocalMode(t *testing.T) {
	local := startNode(t)
	old := local.pub.MustPublish(t, "m", "", "local")
	local.Stop()
	b := startBroker(t)
	n := startNode(t, "--cluster", b.URL())
	id := n.pub.MustPublish(t, "m", "", "clustered")
	if id <= old {
		t.Fatalf("first cluster id %d is not above local mode's %d", id, old)
	}
	st := n.subscribe(t, "/events?channel=m", fmt.Sprint(old))
	f := st.MustEvent(t)
	if f.Event != "ssedge.gap" || !strings.Contains(f.Data, `"reason":"evicted"`) {
		t.Fatalf("resume with a local-mode id: %q, want an evicted gap", f.Raw)
	}
	expectIDs(t, st, id)
}
