package main

// The admin endpoint (--admin-listen): how serve, the supervisor and its
// workers start internal/admin, and the checks on the address.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"

	"go.uber.org/zap"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ssedge/ssedge/internal/admin"
	"github.com/ssedge/ssedge/poller"
	"github.com/ssedge/ssedge/pubsub"
	"github.com/ssedge/ssedge/pubsub/ingest"
)

// workerAdminEnv names the private unix socket a worker serves its admin
// handler on, for the supervisor to gather (set only with --admin-listen).
const workerAdminEnv = "SSEDGE_WORKER_ADMIN"

// adminCollectors are registered on every admin endpoint besides the core
// counters: the seam for other parts' metrics (reload counters, say).
// Append to it before serve starts (from an init function); it is read,
// never written, once the endpoint runs.
var adminCollectors = []prometheus.Collector{
	prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ssedge_config_reloads_total",
		Help:        "Configuration reloads (SIGHUP) by result: ok, or failed (the configuration in force stayed).",
		ConstLabels: prometheus.Labels{"result": "ok"}}, func() float64 { return float64(reloads.OK()) }),
	prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ssedge_config_reloads_total",
		Help:        "Configuration reloads (SIGHUP) by result: ok, or failed (the configuration in force stayed).",
		ConstLabels: prometheus.Labels{"result": "failed"}}, func() float64 { return float64(reloads.Failed()) }),
	prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ssedge_config_last_reload_success_timestamp_seconds",
		Help: "When the configuration in force was loaded (start or last successful reload), unix seconds."},
		func() float64 { return float64(reloads.LastSuccess().Unix()) }),
}

// adminReady are extra readiness checks (a cluster connection, say), on
// the same terms as adminCollectors.
var adminReady []admin.ReadyCheck

func addAdminFlag(fs *flag.FlagSet, o *serveOptions) {
	fs.StringVar(&o.adminListen, "admin-listen", "", "admin endpoint (/metrics, /healthz, /readyz, /stats): HOST:PORT or unix:PATH; never a subscriber address (default: off)")
}

// checkAdminListen refuses an admin address that is malformed or that
// would share a subscriber listener: admin traffic must never reach, or
// be reached through, the subscriber side.
func (o *serveOptions) checkAdminListen() error {
	if o.adminListen == "" {
		return nil
	}
	if _, _, err := admin.ParseAddr(o.adminListen); err != nil {
		return fmt.Errorf("--admin-listen: %w", err)
	}
	for _, l := range append(append([]string(nil), o.listen.vals...), o.proxyListen.vals...) {
		if sameListenAddr(o.adminListen, l) {
			return fmt.Errorf("--admin-listen %q is a subscriber address (--listen/--proxy-listen %q): give the admin endpoint an address of its own, such as 127.0.0.1:9090 or unix:/run/ssedge/admin.sock", o.adminListen, l)
		}
	}
	return nil
}

// sameListenAddr reports whether two listen addresses would bind the same
// socket: the same unix path, or the same TCP port on the same host or on
// a wildcard host (which covers every host). Port 0 picks a free port, so
// it never clashes.
func sameListenAddr(a, b string) bool {
	pa, aUnix := cutUnix(a)
	pb, bUnix := cutUnix(b)
	if aUnix || bUnix {
		return aUnix && bUnix && filepath.Clean(pa) == filepath.Clean(pb)
	}
	ha, porta, errA := net.SplitHostPort(a)
	hb, portb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil {
		return a == b
	}
	if porta != portb || porta == "0" {
		return false
	}
	wild := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	if wild(ha) || wild(hb) || ha == hb {
		return true
	}
	ia, ib := net.ParseIP(ha), net.ParseIP(hb)
	return ia != nil && ib != nil && ia.Equal(ib)
}

func cutUnix(a string) (string, bool) {
	if len(a) > 5 && a[:5] == "unix:" {
		return a[5:], true
	}
	return "", false
}

// startAdmin serves the admin endpoint of a single process, or of the
// supervisor (workers set); it returns a no-op when --admin-listen is off.
// Readiness: not stopping (ctx), the publish socket file still ours, and
// each worker ready.
func (o *serveOptions) startAdmin(ctx context.Context, log *zap.Logger, src admin.Sources, in *ingest.Server, workers *admin.Workers) (stop func(), err error) {
	if h := o.adminHandoff; h != nil && h.ln != nil && o.adminListen == "" {
		// Handed over, and now off in the flags: closed here (a stale
		// unix socket file is replaced at the next start).
		log.Warn("upgrade: --admin-listen is now off: the handed-over admin endpoint is closed", zap.String("admin_listen", h.addr))
		h.ln.Close()
		if h.lock != nil {
			h.lock.Close()
		}
		h.ln, h.lock = nil, nil
	}
	if o.adminListen == "" {
		return func() {}, nil
	}
	ready := []admin.ReadyCheck{
		func() error {
			if ctx.Err() != nil {
				return errors.New("stopping")
			}
			return nil
		},
		func() error { return in.CheckSocket() },
	}
	if workers != nil {
		ready = append(ready, workers.Ready)
	}
	cfg := admin.Config{Addr: o.adminListen, Log: log, Workers: workers,
		Collectors: append([]prometheus.Collector{admin.NewCoreCollector(src)}, adminCollectors...),
		Ready:      append(ready, adminReady...),
		Stats: func() any {
			st := admin.StatsOf(src)
			if workers != nil {
				st.Workers, st.Errors = workers.Stats()
			}
			return st
		}}
	if workers != nil {
		cfg.Labels = prometheus.Labels{admin.WorkerLabel: "supervisor"}
	}
	if h := o.adminHandoff; h != nil && h.ln != nil { // upgrade.go
		cfg.Inherited, cfg.InheritedLock = h.ln, h.lock
		// The old process answers on the same socket until it lets go
		// (serveAdmin, after the commit): a probe meanwhile gets its
		// answer, not one from a process that may still give up.
		cfg.Deferred = true
		// The endpoint served is the one handed over: a changed
		// --admin-listen takes effect at a restart.
		if h.addr != cfg.Addr {
			log.Warn("upgrade: serving the handed-over admin endpoint, not --admin-listen (a new address takes a restart)",
				zap.String("admin_listen", h.addr), zap.String("flag", cfg.Addr))
			cfg.Addr, o.adminListen = h.addr, h.addr // what this process serves (and hands on)
		}
	}
	s, err := admin.Listen(cfg)
	if err != nil {
		return nil, err
	}
	if h := o.adminHandoff; h != nil {
		h.srv = s
	}
	log.Info("admin endpoint", zap.String("admin_listen", s.Addr()),
		zap.String("metrics", "curl "+adminCurl(s.Addr())+"/metrics"))
	return func() { s.Close() }, nil
}

func adminCurl(addr string) string {
	if path, ok := cutUnix(addr); ok {
		return "--unix-socket " + path + " http://x"
	}
	return "http://" + addr
}

// startWorkerAdmin serves a worker's admin handler on the private socket
// its supervisor chose, if any.
func startWorkerAdmin(log *zap.Logger, srv *poller.Server, hub *pubsub.Hub) (stop func(), err error) {
	path := os.Getenv(workerAdminEnv)
	if path == "" {
		return func() {}, nil
	}
	src := admin.Sources{Poller: srv, Hub: hub}
	s, err := admin.Listen(admin.Config{Addr: "unix:" + path, UnixMode: 0o600, Log: log,
		Collectors: append([]prometheus.Collector{admin.NewCoreCollector(src)}, adminCollectors...),
		Ready:      adminReady,
		Stats:      func() any { return admin.StatsOf(src) }})
	if err != nil {
		return nil, fmt.Errorf("worker admin socket: %w", err)
	}
	return func() { s.Close() }, nil
}

// supervisorAdmin is the supervisor's side of --admin-listen: a private
// directory for the workers' admin sockets, and each worker's relay
// connection, for its queue.
type supervisorAdmin struct {
	dir     string
	workers *admin.Workers
	relay   *pubsub.Relay

	mu    sync.Mutex // guards conns
	conns map[int]net.Conn
}

// newSupervisorAdmin returns nil when --admin-listen is off; every method
// is a no-op on nil.
func newSupervisorAdmin(o *serveOptions) (*supervisorAdmin, error) {
	if o.adminListen == "" {
		return nil, nil
	}
	dir, err := os.MkdirTemp("", "ssedge-admin-") // 0700: only this user reaches the workers' sockets
	if err != nil {
		return nil, fmt.Errorf("--admin-listen: a directory for the workers' admin sockets: %w", err)
	}
	a := &supervisorAdmin{dir: dir, conns: make(map[int]net.Conn)}
	var list []admin.Worker
	for i := range o.procs {
		list = append(list, admin.Worker{Label: strconv.Itoa(i), Socket: a.socket(i)})
	}
	a.workers = admin.NewWorkers(list, a.queues)
	return a, nil
}

func (a *supervisorAdmin) socket(i int) string {
	return filepath.Join(a.dir, "worker-"+strconv.Itoa(i)+".sock")
}

// workerEnv is what worker i's environment gets.
func (a *supervisorAdmin) workerEnv(i int) []string {
	if a == nil {
		return nil
	}
	return []string{workerAdminEnv + "=" + a.socket(i)}
}

// attached records worker i's relay connection (nil: detached).
func (a *supervisorAdmin) attached(i int, conn net.Conn) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if conn == nil {
		delete(a.conns, i)
	} else {
		a.conns[i] = conn
	}
}

func (a *supervisorAdmin) queues() []admin.RelayQueue {
	a.mu.Lock()
	conns := make(map[int]net.Conn, len(a.conns))
	for i, c := range a.conns {
		conns[i] = c
	}
	a.mu.Unlock()
	var out []admin.RelayQueue
	for i, c := range conns {
		if b, n, ok := a.relay.Queue(c); ok {
			out = append(out, admin.RelayQueue{Worker: strconv.Itoa(i), Batches: b, Bytes: n})
		}
	}
	sort.Slice(out, func(x, y int) bool { return out[x].Worker < out[y].Worker })
	return out
}

// startSupervisorAdmin serves the supervisor's endpoint, which gathers
// the workers' (nil and a no-op stop when --admin-listen is off); stop
// also removes the sockets' directory.
func startSupervisorAdmin(ctx context.Context, o *serveOptions, log *zap.Logger, hub *pubsub.Hub, in *ingest.Server, relay *pubsub.Relay) (*supervisorAdmin, func(), error) {
	a, err := newSupervisorAdmin(o)
	if a == nil || err != nil {
		return nil, func() {}, err
	}
	a.relay = relay
	stopAdmin, err := o.startAdmin(ctx, log, admin.Sources{Ingest: in, Hub: hub, Relay: a.queues}, in, a.workers)
	if err != nil {
		os.RemoveAll(a.dir)
		return nil, nil, err
	}
	return a, func() { stopAdmin(); os.RemoveAll(a.dir) }, nil
}

// serveAdmin starts answering on a handed-over admin endpoint, once this
// process has taken over (startAdmin defers it).
func (o *serveOptions) serveAdmin() {
	if h := o.adminHandoff; h != nil && h.srv != nil {
		h.srv.Serve()
	}
}

// startSingleAdmin serves the endpoint of a single-process server.
func (o *serveOptions) startSingleAdmin(ctx context.Context, log *zap.Logger, srv *poller.Server, in *ingest.Server, hub *pubsub.Hub) (stop func(), err error) {
	return o.startAdmin(ctx, log, admin.Sources{Poller: srv, Ingest: in, Hub: hub}, in, nil)
}
