package admin_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ssedge/ssedge/internal/admin"
	"github.com/ssedge/ssedge/internal/ssetest"
	"github.com/ssedge/ssedge/poller"
	"github.com/ssedge/ssedge/pubsub"
	"github.com/ssedge/ssedge/pubsub/ingest"
)

// server is a real single-process ssedge in this process: subscriber loops
// on a TCP port, the publish socket and the admin endpoint.
type server struct {
	hub   *pubsub.Hub
	srv   *poller.Server
	in    *ingest.Server
	adm   *admin.Server
	addr  string // subscribers
	sock  string // publish socket
	admin string // admin HOST:PORT
	pub   *ssetest.Publisher
}

func start(t *testing.T, cfg poller.Config) *server {
	t.Helper()
	s := &server{hub: pubsub.NewHub(pubsub.Config{})}
	t.Cleanup(s.hub.Close)
	cfg.Hub = s.hub
	cfg.Listen = []string{"127.0.0.1:0"}
	if cfg.Loops == 0 {
		cfg.Loops = 2
	}
	var err error
	if s.srv, err = poller.New(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.srv.Close() })
	s.addr = s.srv.Addrs()[0].String()
	s.sock = filepath.Join(t.TempDir(), "pub.sock")
	if s.in, err = ingest.Listen(s.hub, ingest.Config{Path: s.sock}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.in.Close(context.Background()) })
	src := admin.Sources{Poller: s.srv, Ingest: s.in, Hub: s.hub}
	s.adm, err = admin.Listen(admin.Config{Addr: "127.0.0.1:0",
		Collectors: []prometheus.Collector{admin.NewCoreCollector(src)},
		Ready:      []admin.ReadyCheck{s.in.CheckSocket},
		Stats:      func() any { return admin.StatsOf(src) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.adm.Close() })
	s.admin = s.adm.Addr()
	s.srv.Start()
	s.pub = ssetest.NewPublisher(s.sock)
	t.Cleanup(s.pub.Close)
	return s
}

// get fetches an admin path and returns its status and body.
func get(t testing.TB, addr, method, path string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// metrics is one scrape, parsed.
type metrics map[string]*dto.MetricFamily

func scrape(t testing.TB, addr string) metrics {
	t.Helper()
	status, _, body := get(t, addr, http.MethodGet, "/metrics")
	if status != http.StatusOK {
		t.Fatalf("/metrics: status %d: %s", status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, body)
	}
	return fams
}

// value is the sample of name whose labels include every "k=v" given;
// it fails unless exactly one sample matches.
func (m metrics) value(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	fam, ok := m[name]
	if !ok {
		t.Fatalf("no metric %s in the scrape", name)
	}
	var found []float64
	for _, s := range fam.Metric {
		if !hasLabels(s, labels) {
			continue
		}
		switch {
		case s.Counter != nil:
			found = append(found, s.Counter.GetValue())
		case s.Gauge != nil:
			found = append(found, s.Gauge.GetValue())
		case s.Histogram != nil:
			found = append(found, float64(s.Histogram.GetSampleCount()))
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s%v: %d samples match, want 1", name, labels, len(found))
	}
	return found[0]
}

func hasLabels(s *dto.Metric, labels []string) bool {
	for _, kv := range labels {
		k, v, _ := strings.Cut(kv, "=")
		ok := false
		for _, l := range s.Label {
			if l.GetName() == k && l.GetValue() == v {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// subscribe opens n streams on channel and waits until the loops hold
// them all.
func (s *server) subscribe(t *testing.T, n int, channel string) []*ssetest.Stream {
	t.Helper()
	base := s.srv.Stats().Subscribers
	out := make([]*ssetest.Stream, n)
	for i := range out {
		out[i] = ssetest.MustSubscribe(t, ssetest.Request{Addr: s.addr, Target: "/events?channel=" + channel})
		t.Cleanup(func() { out[i].Close() })
	}
	ssetest.WaitFor(t, 10*time.Second, fmt.Sprintf("%d subscribers", n), func() bool {
		return s.srv.Stats().Subscribers == base+int64(n)
	})
	return out
}
