package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"
)

// WorkerTimeout bounds how long one scrape waits for a worker's answer.
const WorkerTimeout = 2 * time.Second

// WorkerLabel is the label the supervisor adds to every series.
const WorkerLabel = "worker"

// Worker is one worker process's admin endpoint, as its supervisor sees it.
type Worker struct {
	Label  string // the value of the worker label: "0", "1"...
	Socket string // the private unix socket the worker serves its admin handler on
}

// Workers gathers the workers' metrics and stats at scrape time, over
// their private sockets. It is a prometheus.Gatherer.
type Workers struct {
	list   []Worker
	relay  func() []RelayQueue
	client *http.Client
	errs   sync.Map // label -> *atomic.Uint64: scrapes a worker did not answer
}

// NewWorkers returns the gatherer for list.
// relay, if not nil, reports the supervisor's relay queue per worker.
func NewWorkers(list []Worker, relay func() []RelayQueue) *Workers {
	sockets := make(map[string]string, len(list))
	for _, w := range list {
		sockets[w.Label] = w.Socket
	}
	tr := &http.Transport{
		// The host part of the URL names the worker; dial its socket.
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			host, _, _ := net.SplitHostPort(addr)
			path, ok := sockets[host]
			if !ok {
				return nil, fmt.Errorf("admin: no worker %q", host)
			}
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		MaxIdleConnsPerHost: 1,
	}
	w := &Workers{list: list, relay: relay, client: &http.Client{Transport: tr, Timeout: WorkerTimeout}}
	for _, x := range list {
		w.errs.Store(x.Label, new(atomic.Uint64))
	}
	return w
}

func (w *Workers) get(ctx context.Context, label, path, accept string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+label+path, nil)
	if err != nil {
		return nil, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("%s: status %s", path, resp.Status)
	}
	return resp, nil
}

// each runs f for every worker at once and returns the errors by label;
// a failure counts in ssedge_worker_scrape_errors_total.
func (w *Workers) each(f func(x Worker) error) map[string]error {
	var mu sync.Mutex
	failed := map[string]error{}
	var wg sync.WaitGroup
	for _, x := range w.list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(x); err != nil {
				if n, ok := w.errs.Load(x.Label); ok {
					n.(*atomic.Uint64).Add(1)
				}
				mu.Lock()
				failed[x.Label] = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return failed
}

// Gather fetches every worker's families and labels their series with
// worker="N". A worker that does not answer is left out, with an error
// that promhttp logs; the others are still served.
func (w *Workers) Gather() ([]*dto.MetricFamily, error) {
	var mu sync.Mutex
	var all []*dto.MetricFamily
	failed := w.each(func(x Worker) error {
		fams, err := w.gatherOne(x)
		if err != nil {
			return err
		}
		mu.Lock()
		all = append(all, fams...)
		mu.Unlock()
		return nil
	})
	var errs []error
	for label, err := range failed {
		errs = append(errs, fmt.Errorf("worker %s: %w", label, err))
	}
	return all, errors.Join(errs...)
}

func (w *Workers) gatherOne(x Worker) ([]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(context.Background(), WorkerTimeout)
	defer cancel()
	resp, err := w.get(ctx, x.Label, "/metrics", string(expfmt.NewFormat(expfmt.TypeProtoDelim)))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	dec := expfmt.NewDecoder(resp.Body, expfmt.ResponseFormat(resp.Header))
	var fams []*dto.MetricFamily
	for {
		mf := &dto.MetricFamily{}
		if err := dec.Decode(mf); errors.Is(err, io.EOF) {
			return fams, nil
		} else if err != nil {
			return nil, err
		}
		for _, m := range mf.Metric {
			m.Label = append(m.Label, &dto.LabelPair{Name: proto.String(WorkerLabel), Value: proto.String(x.Label)})
			sort.Slice(m.Label, func(i, j int) bool { return m.Label[i].GetName() < m.Label[j].GetName() })
		}
		fams = append(fams, mf)
	}
}

// Stats fetches every worker's /stats, by label, and the errors of those
// that did not answer.
func (w *Workers) Stats() (map[string]any, map[string]string) {
	var mu sync.Mutex
	out := map[string]any{}
	failed := w.each(func(x Worker) error {
		ctx, cancel := context.WithTimeout(context.Background(), WorkerTimeout)
		defer cancel()
		resp, err := w.get(ctx, x.Label, "/stats", "")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var v json.RawMessage
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			return err
		}
		mu.Lock()
		out[x.Label] = v
		mu.Unlock()
		return nil
	})
	var errs map[string]string
	for label, err := range failed {
		if errs == nil {
			errs = map[string]string{}
		}
		errs[label] = err.Error()
	}
	return out, errs
}

// Ready is a ReadyCheck: every worker answers its /readyz with 200.
func (w *Workers) Ready() error {
	failed := w.each(func(x Worker) error {
		ctx, cancel := context.WithTimeout(context.Background(), WorkerTimeout)
		defer cancel()
		resp, err := w.get(ctx, x.Label, "/readyz", "")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	if len(failed) == 0 {
		return nil
	}
	var errs []string
	for label, err := range failed {
		errs = append(errs, fmt.Sprintf("worker %s: %v", label, err))
	}
	sort.Strings(errs)
	return errors.New(strings.Join(errs, "; "))
}

var dWorkerErrs = desc("worker_scrape_errors_total", "Scrapes of the supervisor in which a worker's admin endpoint did not answer (its series were left out of that scrape).", WorkerLabel)

// Describe sends nothing (unchecked).
func (w *Workers) Describe(chan<- *prometheus.Desc) {}

// Collect exports the supervisor's series that belong to one worker: the
// scrape errors and the relay queue. Registered on the supervisor's
// registry unwrapped, Workers is both its gatherer and this collector.
func (w *Workers) Collect(ch chan<- prometheus.Metric) {
	if w.relay != nil {
		for _, q := range w.relay() {
			gauge(ch, dRelayBatch, float64(q.Batches), q.Worker)
			gauge(ch, dRelayBytes, float64(q.Bytes), q.Worker)
		}
	}
	for _, x := range w.list {
		if n, ok := w.errs.Load(x.Label); ok {
			ch <- prometheus.MustNewConstMetric(dWorkerErrs, prometheus.CounterValue, float64(n.(*atomic.Uint64).Load()), x.Label)
		}
	}
}
