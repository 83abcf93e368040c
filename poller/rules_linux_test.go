package poller_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ssedge/ssedge/internal/rules"
	"github.com/ssedge/ssedge/poller"
)

func ptr[T any](v T) *T { return &v }

// setRules compiles and applies rules, failing the test on an error.
func (h *harness) setRules(rs ...rules.Rule) {
	h.t.Helper()
	set, err := rules.Compile(rs)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.srv.SetRules(set); err != nil {
		h.t.Fatal(err)
	}
}

// status is the status line of a raw GET.
func (h *harness) status(target string) string {
	h.t.Helper()
	got := h.rawRequest("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n")
	line, _, _ := strings.Cut(got, "\r\n")
	return line + " | " + got[strings.Index(got, "\r\n\r\n")+4:]
}

// A private rule makes a channel need a token like a private prefix does;
// private = false opens a channel under a private prefix.
func TestRulePrivate(t *testing.T) {
	h := withAuth(t, poller.Config{})
	h.setRules(rules.Rule{Match: "private-open", Private: ptr(false)}, rules.Rule{Match: "team:*", Private: ptr(true)})
	if got := h.status("/events?channel=team:red"); !strings.HasPrefix(got, "HTTP/1.1 401 ") {
		t.Errorf("team:red without a token: %q, want 401", got)
	}
	if got := h.status("/events?channel=team:red&token=" + mint(t, time.Hour, "team:blue")); !strings.HasPrefix(got, "HTTP/1.1 403 ") || !strings.Contains(got, "team:red") {
		t.Errorf("team:red with a token for team:blue: %q, want 403 naming the channel", got)
	}
	if got := h.status("/poll?channel=team:red&timeout=0"); !strings.HasPrefix(got, "HTTP/1.1 401 ") {
		t.Errorf("long-poll on team:red without a token: %q, want 401", got)
	}
	h.subscribe("/events?channel=team:red&token=" + mint(t, time.Hour, "team:*"))
	s := h.subscribe("/events?channel=private-open") // under the private- prefix, opened by its rule
	if got := h.status("/events?channel=private-other"); !strings.HasPrefix(got, "HTTP/1.1 401 ") {
		t.Errorf("private-other (the prefix still applies): %q, want 401", got)
	}
	waitFor(t, "two streams", func() bool { return h.srv.Stats().Subscribers == 2 })
	id := h.publish("private-open", "", "for all")
	if f := s.event(t); f.id != id {
		t.Fatalf("private-open got %+v", f)
	}
}

// A private rule needs a token key.
func TestRulePrivateNeedsKey(t *testing.T) {
	h := start(t, poller.Config{})
	set, _ := rules.Compile([]rules.Rule{{Match: "a", Private: ptr(true)}})
	if err := h.srv.SetRules(set); !errors.Is(err, rules.ErrBadRule) || !strings.Contains(err.Error(), `"a"`) {
		t.Fatalf("SetRules = %v, want an error naming the rule", err)
	}
	set, _ = rules.Compile([]rules.Rule{{Match: "a", Private: ptr(false), MaxSubscribers: ptr(3)}})
	if err := h.srv.SetRules(set); err != nil {
		t.Fatalf("a public rule without a key: %v", err)
	}
}

// max-subscribers counts streams and parked polls on a channel across all
// loops; the one past it gets 429 naming the channel; a close frees a slot.
func TestRuleMaxSubscribers(t *testing.T) {
	h := start(t, poller.Config{Loops: 3})
	h.setRules(rules.Rule{Match: "room", MaxSubscribers: ptr(2)})
	a := h.subscribe("/events?channel=room")
	poll := h.dial() // a parked long-poll counts too
	io.WriteString(poll, "GET /poll?channel=room&timeout=30 HTTP/1.1\r\nHost: x\r\n\r\n")
	waitFor(t, "two on room", func() bool { return h.srv.ChannelSubscribers("room") == 2 })
	if got := h.status("/events?channel=other&channel=room"); !strings.HasPrefix(got, "HTTP/1.1 429 ") || !strings.Contains(got, `"room"`) {
		t.Fatalf("third on room: %q, want 429 naming the channel", got)
	}
	h.subscribe("/events?channel=other") // other channels are not limited
	waitFor(t, "the refusal counted as over limit", func() bool { return h.srv.Stats().Closed[poller.CloseOverLimit] == 1 })
	a.st.Close()
	waitFor(t, "the close frees a slot", func() bool { return h.srv.ChannelSubscribers("room") == 1 })
	b := h.subscribe("/events?channel=room")
	// The poll is answered by an event: it no longer counts.
	id := h.publish("room", "", "x")
	if f := b.event(t); f.id != id {
		t.Fatalf("got %+v", f)
	}
	waitFor(t, "the answered poll gives its slot back", func() bool { return h.srv.ChannelSubscribers("room") == 1 })
	h.subscribe("/events?channel=room")
}

// A reload that makes a channel private revokes the open streams on it
// that hold no token allowing it (ssedge.revoked, then a close); a stream
// with an allowing token stays, and streams on other channels keep
// receiving.
func TestReloadRevokesStreams(t *testing.T) {
	h := withAuth(t, poller.Config{})
	anon := h.subscribe("/events?channel=room")
	other := h.subscribe("/events?channel=room&channel=news&token=" + mint(t, time.Hour, "news"))
	holder := h.subscribe("/events?channel=room&token=" + mint(t, time.Hour, "room"))
	news := h.subscribe("/events?channel=news")
	waitFor(t, "four streams", func() bool { return h.srv.Stats().Subscribers == 4 })
	h.setRules(rules.Rule{Match: "room", Private: ptr(true)})
	for _, c := range []struct {
		name string
		s    *sub
		why  string
	}{{"no token", anon, "no valid token"}, {"token for news only", other, "does not allow"}} {
		f, err := c.s.nextEvent(10 * time.Second)
		if err != nil || f.event != "ssedge.revoked" || !strings.Contains(f.data, `"channel":"room"`) || !strings.Contains(f.data, c.why) {
			t.Fatalf("%s: got %+v, %v; want ssedge.revoked naming room and %q", c.name, f, err, c.why)
		}
		c.s.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if rest, err := io.ReadAll(c.s.br); err != nil || bytes.Contains(rest, []byte("id:")) {
			t.Fatalf("%s: after ssedge.revoked: %q %v; want a clean close", c.name, rest, err)
		}
	}
	waitFor(t, "two revoked", func() bool { return h.srv.Stats().Closed[poller.CloseRevoked] == 2 })
	id := h.publish("news", "", "n")
	if f := news.event(t); f.id != id {
		t.Fatalf("news: %+v", f)
	}
	id = h.publish("room", "", "r")
	if f := holder.event(t); f.id != id {
		t.Fatalf("the stream whose token allows room: %+v", f)
	}
	if got := h.status("/events?channel=room"); !strings.HasPrefix(got, "HTTP/1.1 401 ") {
		t.Fatalf("new unauthenticated subscriber on room: %q, want 401", got)
	}
	if st := h.srv.Stats(); st.Subscribers != 2 {
		t.Fatalf("subscribers %d, want 2", st.Subscribers)
	}
}
