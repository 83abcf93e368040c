package admin_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ssedge/ssedge/internal/admin"
	"github.com/ssedge/ssedge/pubsub"
)

// The supervisor's view: a worker that answers shows with its label, one
// that does not is left out of the scrape and counted, and readiness
// names it; the supervisor's own series carry worker="supervisor".
func TestWorkersGatheredAndMissingOneCounted(t *testing.T) {
	dir := t.TempDir()
	hub := pubsub.NewHub(pubsub.Config{})
	t.Cleanup(hub.Close)
	up := filepath.Join(dir, "worker-0.sock")
	w0, err := admin.Listen(admin.Config{Addr: "unix:" + up,
		Collectors: []prometheus.Collector{admin.NewCoreCollector(admin.Sources{Hub: hub})}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w0.Close() })
	workers := admin.NewWorkers([]admin.Worker{
		{Label: "0", Socket: up},
		{Label: "1", Socket: filepath.Join(dir, "worker-1.sock")}, // never started
	}, func() []admin.RelayQueue { return []admin.RelayQueue{{Worker: "0", Batches: 2, Bytes: 300}} })
	sup, err := admin.Listen(admin.Config{Addr: "127.0.0.1:0", Workers: workers,
		Labels:     prometheus.Labels{admin.WorkerLabel: "supervisor"},
		Collectors: []prometheus.Collector{admin.NewCoreCollector(admin.Sources{Hub: hub})},
		Ready:      []admin.ReadyCheck{workers.Ready}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sup.Close() })

	m := scrape(t, sup.Addr())
	if got := m.value(t, "ssedge_ring_size_events", "worker=0"); got != float64(hub.RingStats().Size) {
		t.Errorf("worker 0's ring size %v, want %d", got, hub.RingStats().Size)
	}
	m.value(t, "ssedge_ring_size_events", "worker=supervisor")
	m.value(t, "ssedge_process_open_fds", "worker=0")
	if got := m.value(t, "ssedge_relay_queue_bytes", "worker=0"); got != 300 {
		t.Errorf("relay queue bytes %v, want 300", got)
	}
	for _, s := range m["ssedge_ring_size_events"].Metric {
		for _, l := range s.Label {
			if l.GetName() == "worker" && l.GetValue() == "1" {
				t.Errorf("series from worker 1, which does not run: %v", s)
			}
		}
	}
	if got := m.value(t, "ssedge_worker_scrape_errors_total", "worker=1"); got != 1 {
		t.Errorf("worker 1's scrape errors %v, want 1", got)
	}
	if got := m.value(t, "ssedge_worker_scrape_errors_total", "worker=0"); got != 0 {
		t.Errorf("worker 0's scrape errors %v, want 0", got)
	}
	status, _, body := get(t, sup.Addr(), http.MethodGet, "/readyz")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "worker 1") || strings.Contains(body, "worker 0") {
		t.Errorf("/readyz %d %q, want 503 naming worker 1 only", status, body)
	}
}
