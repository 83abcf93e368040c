package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/ssedge/ssedge/internal/sockfile"
)

// Prefix begins every metric name.
const Prefix = "ssedge_"

// ReadyCheck returns nil when its part of the server is ready, else the
// reason it is not (shown in /readyz's body). It is called on every
// /readyz request, from net/http's goroutines.
type ReadyCheck func() error

// Config configures the admin endpoint.
type Config struct {
	// Addr is HOST:PORT or unix:PATH.
	Addr string
	// UnixMode is the file mode of a unix:PATH socket; default 0660.
	UnixMode os.FileMode
	// Collectors are registered besides the process and Go runtime
	// collectors (Server's, NewCoreCollector's, or a caller's own, such
	// as reload counters). Their names must start with Prefix.
	Collectors []prometheus.Collector
	// Workers, in a supervisor, are gathered on each scrape besides this
	// process's own series (see the package doc).
	Workers *Workers
	// Labels are added to this process's own series (worker="supervisor").
	Labels prometheus.Labels
	// Ready are the readiness checks; all must pass for /readyz to be 200.
	Ready []ReadyCheck
	// Stats returns the value /stats shows as JSON; nil: an empty object.
	Stats func() any
	Log   *zap.Logger
	// Inherited is the listening socket a previous process handed over on
	// a binary upgrade (Server.Files), served instead of binding Addr;
	// InheritedLock is a unix socket's lock file.
	Inherited, InheritedLock *os.File
	// Deferred binds (or adopts) the endpoint but answers nobody until
	// Serve: a new process taking over on an upgrade holds the same
	// listening socket as the old one, which answers until the commit
	// (connections meanwhile wait in the socket's queue for either).
	Deferred bool
}

// Server is a running admin endpoint.
type Server struct {
	cfg    Config
	reg    *prometheus.Registry
	gather prometheus.Gatherer
	http   *http.Server
	ln     net.Listener
	sock   *sockfile.Socket // unix:PATH only
	addr   string
	done   chan struct{}
	serve  sync.Once // starts the serving goroutine, or (Close first) marks it never started
}

// ParseAddr splits an --admin-listen value into a network and address.
func ParseAddr(a string) (network, addr string, err error) {
	if path, ok := strings.CutPrefix(a, "unix:"); ok {
		if path == "" {
			return "", "", fmt.Errorf("admin address %q: expected unix:PATH with a path", a)
		}
		return "unix", path, nil
	}
	if _, _, err := net.SplitHostPort(a); err != nil {
		return "", "", fmt.Errorf("admin address %q: expected HOST:PORT or unix:PATH", a)
	}
	return "tcp", a, nil
}

// Listen binds cfg.Addr and starts serving (with cfg.Deferred, Serve
// starts it).
func Listen(cfg Config) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.UnixMode == 0 {
		cfg.UnixMode = 0o660
	}
	network, addr, err := ParseAddr(cfg.Addr)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, reg: prometheus.NewRegistry(), done: make(chan struct{})}
	own := prometheus.WrapRegistererWith(cfg.Labels, s.reg)
	runtime := prometheus.WrapRegistererWithPrefix(Prefix, own)
	if err := runtime.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, err
	}
	if err := runtime.Register(collectors.NewGoCollector()); err != nil {
		return nil, err
	}
	var gatherers prometheus.Gatherers = []prometheus.Gatherer{s.reg}
	if cfg.Workers != nil {
		// Unwrapped: its series name their worker themselves.
		if err := s.reg.Register(cfg.Workers); err != nil {
			return nil, err
		}
		// Workers first: Gatherers runs them in order, so this scrape's
		// failures are already counted when the registry collects them.
		gatherers = prometheus.Gatherers{cfg.Workers, s.reg}
	}
	s.gather = gatherers
	for _, c := range cfg.Collectors {
		if err := own.Register(c); err != nil {
			return nil, fmt.Errorf("admin: registering a collector: %w", err)
		}
	}
	if cfg.Inherited != nil {
		if err := s.adopt(network, addr); err != nil {
			return nil, err
		}
	} else if network == "unix" {
		s.sock, err = sockfile.Listen(addr, cfg.UnixMode, -1, -1, "admin socket", "--admin-listen")
		if err != nil {
			return nil, err
		}
		s.ln, s.addr = s.sock.Listener, "unix:"+addr
	} else {
		if s.ln, err = net.Listen("tcp", addr); err != nil {
			return nil, fmt.Errorf("admin address %q: %w", cfg.Addr, err)
		}
		s.addr = s.ln.Addr().String()
	}
	s.http = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: zap.NewStdLog(cfg.Log)}
	if !cfg.Deferred {
		s.Serve()
	}
	return s, nil
}

// Serve starts answering, once; after Close it does nothing.
func (s *Server) Serve() {
	s.serve.Do(func() {
		go func() {
			defer close(s.done)
			if err := s.http.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.cfg.Log.Error("admin endpoint stopped", zap.Error(err))
			}
		}()
	})
}

// Addr is the bound address: HOST:PORT (the port chosen if 0 was given)
// or unix:PATH.
func (s *Server) Addr() string { return s.addr }

// Close stops serving, waiting up to a second for scrapes in progress,
// and removes a unix socket file.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s.serve.Do(func() { // never served: nothing tracks the listener
		s.ln.Close()
		close(s.done)
	})
	err := s.http.Shutdown(ctx)
	if err != nil {
		s.http.Close()
	}
	<-s.done
	if s.sock != nil {
		s.sock.Remove()
	}
	return err
}

// Handler routes the admin paths.
func (s *Server) Handler() http.Handler {
	// A worker that does not answer is worth a warning; the scrape still
	// serves what the others gave.
	errLog, _ := zap.NewStdLogAt(s.cfg.Log, zap.WarnLevel) // fails only for an invalid level
	metrics := promhttp.HandlerFor(s.gather, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, ErrorLog: errLog})
	routes := map[string]http.HandlerFunc{
		"/metrics": metrics.ServeHTTP,
		"/healthz": func(w http.ResponseWriter, r *http.Request) { text(w, http.StatusOK, "ok\n") },
		"/readyz":  s.readyz,
		"/stats":   s.stats,
	}
	pid := strconv.Itoa(os.Getpid())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Which process answered: during an upgrade two share the socket
		// (the old one answers until it lets go).
		w.Header().Set("Ssedge-Pid", pid)
		h, ok := routes[r.URL.Path]
		switch {
		case !ok:
			text(w, http.StatusNotFound, fmt.Sprintf("no such path %q: the admin endpoint serves /metrics, /healthz, /readyz and /stats\n", r.URL.Path))
		case r.Method != http.MethodGet && r.Method != http.MethodHead:
			w.Header().Set("Allow", "GET, HEAD")
			text(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %q not allowed on %s: use GET\n", r.Method, r.URL.Path))
		default:
			h(w, r)
		}
	})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	var why []string
	for _, check := range s.cfg.Ready {
		if err := check(); err != nil {
			why = append(why, err.Error())
		}
	}
	if len(why) > 0 {
		text(w, http.StatusServiceUnavailable, "not ready: "+strings.Join(why, "; ")+"\n")
		return
	}
	text(w, http.StatusOK, "ready\n")
}

func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	var v any = struct{}{}
	if s.cfg.Stats != nil {
		v = s.cfg.Stats()
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		text(w, http.StatusInternalServerError, "stats: "+err.Error()+"\n")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(append(b, '\n'))
}

func text(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	w.Write([]byte(body))
}
