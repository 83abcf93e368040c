package poller_test

import (
	"bytes"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ssedge/ssedge/internal/auth"
	"github.com/ssedge/ssedge/poller"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef-test")

func withAuth(t *testing.T, cfg poller.Config) *harness {
	t.Helper()
	cfg.Auth = testVerifier(t)
	return start(t, cfg)
}

// testVerifier checks tokens minted with testSecret; channels under
// "private-" and "user:" need one.
func testVerifier(t *testing.T) *auth.Verifier {
	t.Helper()
	f := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(f, testSecret, 0o600)
	v, err := auth.New(auth.Config{Prefixes: []string{"private-", "user:"}, SecretFile: f})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// mint makes a token valid for ttl from now; a negative ttl makes one that
// expired that long ago.
func mint(t *testing.T, ttl time.Duration, channels ...string) string {
	t.Helper()
	now := time.Now()
	if ttl < 0 {
		now, ttl = now.Add(2*ttl), -ttl
	}
	tok, err := auth.Mint(testSecret, channels, ttl, now)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Private channels need a token that allows them: 401 without or with a
// bad or expired one, 403 when it does not allow the channel; the token
// may come in the query, a cookie or a bearer header; public channels need
// none. Refusals never echo the token.
func TestPrivateChannels(t *testing.T) {
	h := withAuth(t, poller.Config{})
	good := mint(t, time.Hour, "private-a", "user:7:*")
	expired := mint(t, -time.Minute, "private-a")
	for _, c := range []struct {
		name, target, header, status, reason string
	}{
		{"no token", "/events?channel=private-a", "", "401", "no token"},
		{"garbage token", "/events?channel=private-a&token=abc.def.ghi", "", "401", "invalid token"},
		{"expired", "/events?channel=private-a&token=" + expired, "", "401", "expired"},
		{"not allowed", "/events?channel=private-b&token=" + good, "", "403", "private-b"},
		{"mixed, one not allowed", "/events?channel=news&channel=user:8:inbox&token=" + good, "", "403", "user:8:inbox"},
	} {
		got := h.rawRequest("GET " + c.target + " HTTP/1.1\r\nHost: x\r\n" + c.header + "\r\n")
		if !strings.HasPrefix(got, "HTTP/1.1 "+c.status+" ") || !strings.Contains(got, c.reason) {
			t.Errorf("%s: %q", c.name, got)
		}
		if strings.Contains(got, good[10:40]) || strings.Contains(got, expired[10:40]) {
			t.Errorf("%s: the refusal echoes the token: %q", c.name, got)
		}
	}
	h.subscribe("/events?channel=news") // public: no token needed
	h.subscribe("/events?channel=private-a&channel=user:7:inbox&token=" + url.QueryEscape(good))
	h.subscribe("/events?channel=private-a", "Cookie: theme=dark; ssedge_token="+good)
	s := h.subscribe("/events?channel=user:7:x", "Authorization: Bearer "+good)
	waitFor(t, "subscriptions", func() bool { return h.srv.Stats().Subscribers == 4 })
	id := h.publish("user:7:x", "", "for user 7")
	if f := s.event(t); f.id != id {
		t.Fatalf("got %+v", f)
	}
}

// When the token expires the stream gets ssedge.expired and is closed.
func TestTokenExpiryClosesStream(t *testing.T) {
	h := withAuth(t, poller.Config{})
	s := h.subscribe("/events?channel=private-a&token=" + mint(t, 1500*time.Millisecond, "private-a"))
	f, err := s.nextEvent(5 * time.Second)
	if err != nil || f.event != "ssedge.expired" || !strings.Contains(f.data, "token expired") {
		t.Fatalf("got %+v, %v; want the ssedge.expired event", f, err)
	}
	s.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if rest, err := io.ReadAll(s.br); err != nil || bytes.Contains(rest, []byte("id:")) {
		t.Fatalf("after expiry: %q %v; want a clean close", rest, err)
	}
	waitFor(t, "the close counted", func() bool { return h.srv.Stats().Closed[poller.CloseTokenExpired] == 1 })
}

// A stream without a token outlives the request-head deadline it was
// accepted with (that deadline must not fire as an "expiry").
func TestStreamOutlivesHeaderDeadline(t *testing.T) {
	h := withAuth(t, poller.Config{HeaderTimeout: 200 * time.Millisecond})
	s := h.subscribe("/events?channel=news")
	p := h.subscribe("/events?channel=private-a&token=" + mint(t, time.Hour, "private-a"))
	time.Sleep(600 * time.Millisecond) // lets real time pass the 200 ms head deadline the streams were accepted with
	id := h.publish("news", "", "still here")
	if f := s.event(t); f.id != id {
		t.Fatalf("public stream: %+v", f)
	}
	id = h.publish("private-a", "", "still here")
	if f := p.event(t); f.id != id {
		t.Fatalf("private stream: %+v", f)
	}
	if st := h.srv.Stats(); st.Subscribers != 2 || st.Closed[poller.CloseTokenExpired] != 0 {
		t.Fatalf("stats %+v", st)
	}
}
