//go:build unix

package e2e

import (
	"regexp"
	"strings"
	"testing"

	"github.com/ssedge/ssedge/internal/ssetest"
)

// Headless Chromium's native EventSource, on a page from another origin
// than the stream (CORS through nginx), receives named events, survives
// two cut-offs by reconnecting by itself with Last-Event-ID, gets the
// missed events, and is told of lost ones with ssedge.gap.
func TestChromiumEventSource(t *testing.T) {
	t.Parallel()
	ssetest.NeedTool(t, "nginx")
	br := startBrowser(t)
	r := startResumeSetup(t)
	tab := br.open(t, r.pageURL())
	seen := func() []string {
		text := strings.TrimSuffix(br.eval(t, tab, `document.getElementById('log')?.textContent ?? ''`), "\n")
		if text == "" {
			return nil
		}
		return strings.Split(text, "\n")
	}
	r.run(t, seen)

	// The browser sent its page's origin on every stream request, and never
	// needed a preflight (Last-Event-ID is one EventSource may send).
	log := r.n.accessLog()
	for _, m := range regexp.MustCompile(`GET /events\S* \d+ \S+ origin="([^"]*)"`).FindAllStringSubmatch(log, -1) {
		if m[1] != r.pageOrigin {
			t.Errorf("stream request with Origin %q, want %q", m[1], r.pageOrigin)
		}
	}
	if strings.Contains(log, "OPTIONS ") {
		t.Logf("the browser sent a CORS preflight:\n%s", log)
	}
}
