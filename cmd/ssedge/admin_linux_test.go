package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// --admin-listen on an address a subscriber listener uses is refused at
// start, with the fix; a distinct address is accepted.
func TestAdminListenNotOnSubscriberAddress(t *testing.T) {
	for _, c := range []struct {
		args []string
		bad  bool
	}{
		{[]string{"--listen", "127.0.0.1:8080", "--admin-listen", "127.0.0.1:8080"}, true},
		{[]string{"--listen", "0.0.0.0:8080", "--admin-listen", "127.0.0.1:8080"}, true},
		{[]string{"--listen", "127.0.0.1:8080", "--admin-listen", ":8080"}, true},
		{[]string{"--proxy-listen", "[::1]:8443", "--admin-listen", "[0:0::1]:8443"}, true},
		{[]string{"--listen", "unix:/run/ssedge/sub.sock", "--admin-listen", "unix:/run/ssedge//sub.sock"}, true},
		{[]string{"--admin-listen", "127.0.0.1:8080"}, true}, // the default --listen
		{[]string{"--listen", "127.0.0.1:8080", "--admin-listen", "127.0.0.1:9090"}, false},
		{[]string{"--listen", "unix:/run/ssedge/sub.sock", "--admin-listen", "unix:/run/ssedge/admin.sock"}, false},
		{[]string{"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}, false},
	} {
		_, err := parseServe(c.args)
		if c.bad && (err == nil || !strings.Contains(err.Error(), "is a subscriber address")) {
			t.Errorf("%v: err %v, want a refusal naming the subscriber address", c.args, err)
		}
		if !c.bad && err != nil {
			t.Errorf("%v: %v", c.args, err)
		}
	}
	for _, bad := range []string{"nonsense", "unix:"} {
		if _, err := parseServe([]string{"--admin-listen", bad}); err == nil || !strings.Contains(err.Error(), "expected HOST:PORT or unix:PATH") && !strings.Contains(err.Error(), "with a path") {
			t.Errorf("--admin-listen %q: err %v, want it explained", bad, err)
		}
	}
	// The binary says so and exits non-zero.
	out, err := run(t, "serve", "--listen", "127.0.0.1:18089", "--admin-listen", "127.0.0.1:18089")
	if err == nil || !strings.Contains(out, "is a subscriber address") {
		t.Fatalf("serve with the admin endpoint on the subscriber port: err %v, output %q", err, out)
	}
}

// adminGet fetches path from an admin endpoint on a unix socket.
func adminGet(t *testing.T, sock, path string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}}
	resp, err := c.Get("http://admin" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// With --procs 3, one scrape of the supervisor shows the whole server:
// every worker's series labelled worker="0".."2", and the supervisor's
// own (publishes, relay queues) beside them; an event to subscribers on
// every worker shows in their deliveries.
func TestAdminProcs(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "admin.sock")
	// The supervisor puts the workers' admin sockets in a temporary
	// directory it removes on a clean stop; the test kills it.
	t.Setenv("TMPDIR", t.TempDir())
	s := startServer(t, "--procs", "3", "--loops", "1", "--admin-listen", "unix:"+sock)
	if !strings.Contains(s.log, `"admin_listen":"unix:`+sock+`"`) {
		t.Fatalf("the admin address is not logged at start:\n%s", s.log)
	}
	var streams []*stream
	for range 30 {
		streams = append(streams, openStream(t, s.listen, "/events?channel=news"))
	}
	s.waitSubscribed(t, 30)
	publishID(t, s.socket, "news", "hello")
	for _, st := range streams {
		if _, err := st.ids(1); err != nil {
			t.Fatal(err)
		}
	}
	status, body := adminGet(t, sock, "/metrics")
	if status != http.StatusOK {
		t.Fatalf("/metrics: %d %s", status, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, body)
	}
	per := func(name string) map[string]float64 {
		out := map[string]float64{}
		fam, ok := fams[name]
		if !ok {
			t.Fatalf("no %s in the supervisor's scrape:\n%s", name, body)
		}
		for _, m := range fam.Metric {
			var w string
			for _, l := range m.Label {
				if l.GetName() == "worker" {
					w = l.GetValue()
				}
			}
			switch {
			case m.Counter != nil:
				out[w] += m.Counter.GetValue()
			case m.Gauge != nil:
				out[w] += m.Gauge.GetValue()
			}
		}
		return out
	}
	deliveries := per("ssedge_deliveries_total")
	total := 0.0
	for _, w := range []string{"0", "1", "2"} {
		if _, ok := deliveries[w]; !ok {
			t.Errorf("no ssedge_deliveries_total{worker=%q}: %v", w, deliveries)
		}
		total += deliveries[w]
	}
	if total != 30 {
		t.Errorf("deliveries over the workers %v = %v, want 30 (one event to 30 subscribers)", deliveries, total)
	}
	if got := per("ssedge_publishes_total")["supervisor"]; got != 1 {
		t.Errorf("supervisor's publishes %v, want 1", got)
	}
	for _, w := range []string{"0", "1", "2"} {
		if _, ok := per("ssedge_relay_queue_bytes")[w]; !ok {
			t.Errorf("no relay queue for worker %s", w)
		}
		if _, ok := per("ssedge_process_open_fds")[w]; !ok {
			t.Errorf("no process metrics for worker %s", w)
		}
	}
	if status, body := adminGet(t, sock, "/readyz"); status != http.StatusOK {
		t.Errorf("/readyz %d %q", status, body)
	}
	status, body = adminGet(t, sock, "/stats")
	for _, w := range []string{`"0"`, `"1"`, `"2"`} {
		if status != http.StatusOK || !strings.Contains(body, w) {
			t.Errorf("/stats does not show worker %s: %d %s", w, status, body)
		}
	}
	// Readiness follows the publish socket in the supervisor too.
	if err := os.Remove(s.socket); err != nil {
		t.Fatal(err)
	}
	if status, body := adminGet(t, sock, "/readyz"); status != http.StatusServiceUnavailable || !strings.Contains(body, s.socket) {
		t.Errorf("/readyz after removing the publish socket: %d %q, want 503 naming it", status, body)
	}
}
