//go:build unix

package e2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ssedge/ssedge/internal/ssetest"
)

// clientWait bounds every wait for what an EventSource client reports. It
// is long because nothing here is a timing assertion: a reconnect takes
// ssedge's retry: (500 ms in these tests) plus a browser's scheduling.
const clientWait = 20 * time.Second

// resumeSetup is ssedge behind the example nginx config, with a second
// server block for the page (the "page origin"), and a short retry and
// history for the resume scenario.
type resumeSetup struct {
	s          *ssedge
	n          *nginx
	pageOrigin string // where page.html is served
	sseOrigin  string // where /events is served
	sseURL     string // the EventSource URL: two channels, resuming after a first event
	before     string // the id of that first event
}

func startResumeSetup(t *testing.T) *resumeSetup {
	t.Helper()
	r := &resumeSetup{}
	pagePort, ssePort := ssetest.FreePort(t), ssetest.FreePort(t)
	r.pageOrigin = fmt.Sprintf("http://127.0.0.1:%d", pagePort)
	r.sseOrigin = fmt.Sprintf("http://127.0.0.1:%d", ssePort)
	r.s = startSsedge(t, tempDir(t), 4, true, "--cors-origin", r.pageOrigin, "--retry", "500ms", "--history-per-channel", "2")

	www := tempDir(t)
	page, err := os.ReadFile(filepath.Join("testdata", "page.html"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(www, "page.html"), page, 0o644); err != nil {
		t.Fatal(err)
	}
	pageServer := fmt.Sprintf(`
server {
    listen 127.0.0.1:%d;
    root %s;
    default_type text/html;
}
`, pagePort, www)
	r.n = startNginx(t, nginxMain("$NGINX_DIR", httpConf(t, r.s, ssePort, "ssedge_unix", "60s")+pageServer, ""))

	// The client starts after this event (lastEventId= in the URL, for
	// clients that cannot set headers), so no later event can slip past
	// before its subscription is registered.
	r.before = r.s.publish(t, "news", "", "before")
	r.sseURL = r.sseOrigin + "/events?channel=news&channel=sport&lastEventId=" + r.before
	return r
}

// run drives one EventSource client, whose reports seen returns one line
// per callback (the format of testdata/page.html), through two cut-offs:
//
//  1. named events (two channels) and an unnamed one arrive;
//  2. nginx stops, which cuts the stream; events are published while it is
//     down; nginx starts again; the client reconnects by itself, sends
//     Last-Event-ID, and gets exactly the missed events, then live ones;
//  3. cut off again while 10 events are published on a channel that keeps
//     2: the client gets event ssedge.gap naming what it lost, then the 2.
//
// It returns the client's lines.
func (r *resumeSetup) run(t *testing.T, seen func() []string) []string {
	t.Helper()
	o := r.sseOrigin
	wait := func(what string, want ...string) {
		t.Helper()
		missing := ""
		if !ssetest.Until(clientWait, func() bool {
			lines := seen()
			missing = ""
			for _, w := range want {
				if !slices.Contains(lines, w) {
					missing = w
					break
				}
			}
			return missing == ""
		}) {
			t.Fatalf("waiting for %s: no %q after %v; the client saw:\n%s\nnginx error log:\n%s",
				what, missing, clientWait, joinLines(seen()), r.n.errorLog())
		}
	}
	// waitError waits for an error report after the first n lines.
	waitError := func(n int) {
		t.Helper()
		ssetest.WaitFor(t, clientWait, "the client to report the cut-off", func() bool {
			return slices.ContainsFunc(seen()[n:], func(l string) bool { return strings.HasPrefix(l, "error") })
		})
	}
	line := func(typ, id, data string) string { return fmt.Sprintf("%s %s %s %s", typ, id, data, o) }

	wait("the stream to open", "open")
	a := r.s.publish(t, "news", "headline", "A")
	b := r.s.publish(t, "sport", "score", "B")
	wait("live named events", line("headline", a, "A"), line("score", b, "B"))

	// Cut off: nginx's fast shutdown closes the client's connection.
	r.n.stop()
	waitError(len(seen()))
	c := r.s.publish(t, "news", "headline", "C")
	d := r.s.publish(t, "sport", "score", "D")
	e := r.s.publish(t, "news", "", "E")
	r.n.start()
	wait("the missed events after reconnecting", line("headline", c, "C"), line("score", d, "D"), line("message", e, "E"))
	f := r.s.publish(t, "news", "headline", "F")
	wait("a live event after the resume", line("headline", f, "F"))

	// Cut off while 10 events pass on a channel that keeps 2.
	r.n.stop()
	waitError(len(seen()))
	var g []string
	for i := 1; i <= 10; i++ {
		g = append(g, r.s.publish(t, "news", "headline", fmt.Sprintf("G%d", i)))
	}
	r.n.start()
	gap := fmt.Sprintf(`ssedge.gap {"channel":"news","lastEventId":%s,"firstAvailableId":%s,"reason":"evicted"}`, f, g[8])
	wait("the gap event and the retained events", line("headline", g[8], "G9"), line("headline", g[9], "G10"))
	lines := seen()
	gapLine := ""
	for _, l := range lines {
		if strings.HasPrefix(l, "ssedge.gap ") {
			gapLine = l
		}
	}
	if !sameJSON(gapLine, gap) {
		t.Errorf("gap event %q, want %q", gapLine, gap)
	}

	// Every event once, in order, with the gap where events were lost; the
	// "open" and "error" reports around the two cut-offs.
	want := []string{
		line("headline", a, "A"), line("score", b, "B"),
		line("headline", c, "C"), line("score", d, "D"), line("message", e, "E"), line("headline", f, "F"),
		gapLine, line("headline", g[8], "G9"), line("headline", g[9], "G10"),
	}
	var events []string
	opens := 0
	for _, l := range lines {
		switch {
		case l == "open":
			opens++
		case strings.HasPrefix(l, "error"):
		default:
			events = append(events, l)
		}
	}
	if !slices.Equal(events, want) || opens != 3 {
		t.Errorf("the client saw (%d opens, want 3):\n%swant the events:\n%s", opens, joinLines(lines), joinLines(want))
	}

	// nginx logs each stream when it ends: stop it to log the last one.
	// The first request resumed from the URL's lastEventId; each
	// reconnection sent the Last-Event-ID header with the last id seen.
	r.n.stop()
	var got []string
	for _, m := range regexp.MustCompile(`GET /events\S* (\d+) last_event_id="([^"]*)"`).FindAllStringSubmatch(r.n.accessLog(), -1) {
		got = append(got, m[1]+" "+m[2])
	}
	if wantLog := []string{"200 -", "200 " + b, "200 " + f}; !slices.Equal(got, wantLog) {
		t.Errorf("streams in nginx's access log (status, Last-Event-ID): %q, want %q\n%s", got, wantLog, r.n.accessLog())
	}
	return lines
}

func sameJSON(line, want string) bool {
	a, okA := strings.CutPrefix(line, "ssedge.gap ")
	b, _ := strings.CutPrefix(want, "ssedge.gap ")
	var x, y map[string]any
	return okA && json.Unmarshal([]byte(a), &x) == nil && json.Unmarshal([]byte(b), &y) == nil && fmt.Sprint(x) == fmt.Sprint(y)
}

// pageURL is page.html on the page origin, told to subscribe to sseURL.
func (r *resumeSetup) pageURL() string {
	return r.pageOrigin + "/page.html?sse=" + url.QueryEscape(r.sseURL)
}
