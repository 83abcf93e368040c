package admin_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssedge/ssedge/internal/ssetest"
	"github.com/ssedge/ssedge/poller"
	"github.com/ssedge/ssedge/tuning"
)

// One event to N subscribers moves deliveries by exactly N; one publish
// moves publishes and the latency histogram's count by exactly one.
func TestMetricsMoveExactly(t *testing.T) {
	s := start(t, poller.Config{})
	const n = 25
	streams := s.subscribe(t, n, "news")
	before := scrape(t, s.admin)
	id := s.pub.MustPublish(t, "news", "", "hello")
	for _, st := range streams {
		f := st.MustEvent(t)
		if f.ID != strconv.FormatUint(id, 10) || f.Data != "hello" {
			t.Fatalf("got %+v, want id %d data hello", f, id)
		}
	}
	// The frame is with the client, so the loop has counted it.
	after := scrape(t, s.admin)
	for _, c := range []struct {
		name   string
		labels []string
		delta  float64
	}{
		{"ssedge_deliveries_total", nil, n},
		{"ssedge_publishes_total", []string{"protocol=http", "outcome=ok"}, 1},
		{"ssedge_publishes_total", []string{"protocol=line", "outcome=ok"}, 0},
		{"ssedge_publish_duration_seconds", []string{"protocol=http"}, 1},
		{"ssedge_history_events", nil, 1},
		{"ssedge_connections_accepted_total", nil, 0},
		{"ssedge_slow_consumers_total", nil, 0},
	} {
		if d := after.value(t, c.name, c.labels...) - before.value(t, c.name, c.labels...); d != c.delta {
			t.Errorf("%s%v moved by %v, want %v", c.name, c.labels, d, c.delta)
		}
	}
	if got := after.value(t, "ssedge_connections", "state=streaming"); got != n {
		t.Errorf("streaming connections %v, want %d", got, n)
	}
	if w := after.value(t, "ssedge_written_bytes_total"); w <= before.value(t, "ssedge_written_bytes_total") {
		t.Errorf("written bytes did not move (%v)", w)
	}
	// A refused publish is counted by its outcome, not as ok.
	if status, _, _ := s.pub.Post("", "x"); status != http.StatusBadRequest {
		t.Fatalf("publish without a channel: status %d, want 400", status)
	}
	refused := scrape(t, s.admin)
	if d := refused.value(t, "ssedge_publishes_total", "protocol=http", "outcome=invalid") - after.value(t, "ssedge_publishes_total", "protocol=http", "outcome=invalid"); d != 1 {
		t.Errorf("invalid publishes moved by %v, want 1", d)
	}
	if d := refused.value(t, "ssedge_publishes_total", "protocol=http", "outcome=ok") - after.value(t, "ssedge_publishes_total", "protocol=http", "outcome=ok"); d != 0 {
		t.Errorf("ok publishes moved by %v on a refusal", d)
	}
	// Every family is ssedge_-prefixed and has its help text.
	for name, fam := range refused {
		if !strings.HasPrefix(name, "ssedge_") || fam.GetHelp() == "" {
			t.Errorf("metric %q: want the ssedge_ prefix and HELP text (help %q)", name, fam.GetHelp())
		}
	}
}

// A subscriber that stops reading is closed as a slow consumer: its
// reason moves by exactly one, and no other.
func TestSlowConsumerCounted(t *testing.T) {
	s := start(t, poller.Config{MaxBacklogFrames: 4, MaxBacklogBytes: 64 << 10})
	streams := s.subscribe(t, 1, "flood")
	_ = streams // never read: its socket buffers fill, then its backlog
	before := scrape(t, s.admin)
	data := strings.Repeat("x", 32<<10)
	ssetest.WaitFor(t, 30*time.Second, "the stalled subscriber to be closed", func() bool {
		s.pub.MustPublish(t, "flood", "", data)
		return s.srv.Stats().SlowConsumers() == 1
	})
	after := scrape(t, s.admin)
	if d := after.value(t, "ssedge_connections_closed_total", "reason=slow consumer") - before.value(t, "ssedge_connections_closed_total", "reason=slow consumer"); d != 1 {
		t.Errorf("slow consumer closes moved by %v, want 1", d)
	}
	if d := after.value(t, "ssedge_slow_consumers_total") - before.value(t, "ssedge_slow_consumers_total"); d != 1 {
		t.Errorf("ssedge_slow_consumers_total moved by %v, want 1", d)
	}
	for _, r := range []string{"peer closed", "peer reset", "shutdown"} {
		if d := after.value(t, "ssedge_connections_closed_total", "reason="+r) - before.value(t, "ssedge_connections_closed_total", "reason="+r); d != 0 {
			t.Errorf("closes for %q moved by %v, want 0", r, d)
		}
	}
}

// Readiness flips to 503, with the reason, when the publish socket file
// is removed; health stays 200.
func TestReadinessFollowsPublishSocket(t *testing.T) {
	s := start(t, poller.Config{})
	if status, _, body := get(t, s.admin, http.MethodGet, "/readyz"); status != http.StatusOK {
		t.Fatalf("/readyz %d %q before anything happened", status, body)
	}
	if err := os.Remove(s.sock); err != nil {
		t.Fatal(err)
	}
	status, _, body := get(t, s.admin, http.MethodGet, "/readyz")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, s.sock) || !strings.Contains(body, "gone") {
		t.Fatalf("/readyz after removing the publish socket: %d %q, want 503 naming it", status, body)
	}
	if status, _, _ := get(t, s.admin, http.MethodGet, "/healthz"); status != http.StatusOK {
		t.Fatalf("/healthz %d, want 200 while the process serves", status)
	}
}

func TestRoutes(t *testing.T) {
	s := start(t, poller.Config{})
	for _, c := range []struct {
		method, path string
		status       int
		allow, body  string
	}{
		{"GET", "/healthz", 200, "", "ok"},
		{"HEAD", "/healthz", 200, "", ""},
		{"GET", "/stats", 200, "", `"loops"`},
		{"GET", "/nope", 404, "", "no such path"},
		{"GET", "/metrics/x", 404, "", "no such path"},
		{"POST", "/metrics", 405, "GET, HEAD", "use GET"},
		{"DELETE", "/readyz", 405, "GET, HEAD", "use GET"},
	} {
		status, h, body := get(t, s.admin, c.method, c.path)
		if status != c.status || h.Get("Allow") != c.allow || !strings.Contains(body, c.body) {
			t.Errorf("%s %s: %d Allow %q body %q; want %d Allow %q body with %q", c.method, c.path, status, h.Get("Allow"), body, c.status, c.allow, c.body)
		}
	}
}

// A scrape loop running through a fan-out to 5,000 subscribers
// does not disturb delivery: every subscriber gets every event, in order.
func TestScrapeDuringFanout(t *testing.T) {
	const subscribers, events = 5000, 20
	if _, err := tuning.RaiseFileLimit(); err != nil {
		t.Logf("cannot raise the open-files limit: %v", err)
	}
	s := start(t, poller.Config{})
	streams := s.subscribe(t, subscribers, "wide")
	stop := make(chan struct{})
	scrapes := 0
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			// Not scrape(): t.Fatal belongs to the test's goroutine.
			for _, path := range []string{"/metrics", "/stats"} {
				resp, err := http.Get("http://" + s.admin + path)
				if err != nil {
					t.Errorf("%s during the fan-out: %v", path, err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("%s during the fan-out: status %d", path, resp.StatusCode)
				}
			}
			scrapes++
		}
	}()
	var ids []string
	for i := range events {
		ids = append(ids, strconv.FormatUint(s.pub.MustPublish(t, "wide", "", fmt.Sprint("event ", i)), 10))
	}
	errs := make(chan error, subscribers)
	var readers sync.WaitGroup
	for i, st := range streams {
		readers.Add(1)
		go func() {
			defer readers.Done()
			deadline := time.Now().Add(60 * time.Second)
			for j, want := range ids {
				f, err := st.NextEventBy(deadline)
				if err != nil {
					errs <- fmt.Errorf("subscriber %d, event %d: %v", i, j, err)
					return
				}
				if f.ID != want {
					errs <- fmt.Errorf("subscriber %d, event %d: id %s, want %s", i, j, f.ID, want)
					return
				}
			}
		}()
	}
	readers.Wait()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if scrapes == 0 {
		t.Fatal("no scrape completed during the fan-out")
	}
	m := scrape(t, s.admin)
	if got := m.value(t, "ssedge_deliveries_total"); got < subscribers*events {
		t.Errorf("deliveries %v, want at least %d", got, subscribers*events)
	}
	t.Logf("%d scrapes during the fan-out of %d events to %d subscribers", scrapes, events, subscribers)
}

// Heartbeats sent to a silent stream show in ssedge_heartbeats_total and
// in /stats.
func TestHeartbeatsCounted(t *testing.T) {
	s := start(t, poller.Config{Loops: 1, Heartbeat: 100 * time.Millisecond})
	streams := s.subscribe(t, 1, "quiet")
	before := scrape(t, s.admin)
	comments := 0
	for comments < 2 {
		f, err := streams[0].Next(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		comments += len(f.Comments)
	}
	ssetest.WaitFor(t, 10*time.Second, "the heartbeats the client read in the metric", func() bool {
		after := scrape(t, s.admin)
		return after.value(t, "ssedge_heartbeats_total")-before.value(t, "ssedge_heartbeats_total") >= 2
	})
	_, _, body := get(t, s.admin, "GET", "/stats")
	if !strings.Contains(body, `"heartbeats":`) {
		t.Errorf("/stats has no heartbeats count: %s", body)
	}
}
