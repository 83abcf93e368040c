package main

// Reload (SIGHUP, what `systemctl reload` sends): re-read the command line's
// --config file and the token key files, check everything as a start
// would, and put in force what can change without closing a connection:
// the [[channel]] rules (applyRules), the limits, timeouts and history
// bounds, CORS, trusted proxies, the token keys (the previous ones still
// verify for --auth-rotation-overlap) and the log level. A setting that
// needs a restart (listen addresses, --procs, --loops, the publish socket,
// the ring size...) keeps its old value and is named in the log. A file
// that fails the check changes nothing: the error is logged and counted.
//
// With --procs the supervisor checks the file, applies what it owns (the
// rules on the publish socket, its log level) and passes the reload on
// with SIGHUP to every worker that is ready; each worker re-reads the file
// itself. A worker that starts during a reload reads the file as it is
// then, and one that got ready after a reload it missed gets it then.

import (
	"context"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/ssedge/ssedge/internal/auth"
	"github.com/ssedge/ssedge/internal/rules"
	"github.com/ssedge/ssedge/poller"
	"github.com/ssedge/ssedge/pubsub"
	"github.com/ssedge/ssedge/pubsub/ingest"
)

// processLevel is the level of the process's logger (newLogger), which a
// reload changes.
var processLevel = zap.NewAtomicLevel()

// ReloadCounts counts this process's reloads by result. The admin
// endpoint exports them, e.g.
//
//	prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ssedge_config_reloads_total",
//		ConstLabels: prometheus.Labels{"result": "ok"}}, func() float64 { return float64(reloads.OK()) })
//
// and the same with Failed for result="failed".
type ReloadCounts struct {
	ok, failed atomic.Uint64
	last       atomic.Int64 // unix seconds of the last successful reload (or the start); 0: none
}

// OK is the number of reloads put in force.
func (r *ReloadCounts) OK() uint64 { return r.ok.Load() }

// Failed is the number of reloads refused (the configuration in force stayed).
func (r *ReloadCounts) Failed() uint64 { return r.failed.Load() }

// LastSuccess is when the configuration in force was loaded.
func (r *ReloadCounts) LastSuccess() time.Time { return time.Unix(r.last.Load(), 0) }

// reloads are this process's counts.
var reloads ReloadCounts

// liveKeys are the flags a reload puts in force; any other that changed
// waits for a restart.
var liveKeys = map[string]bool{
	"heartbeat": true, "header-timeout": true, "retry": true, "poll-timeout": true, "poll-max-timeout": true,
	"max-conns": true, "max-conns-per-ip": true, "max-channels": true, "max-backlog-bytes": true, "max-backlog-frames": true,
	"history-per-channel": true, "history-age": true, "history-memory": true,
	"cors-origin": true, "cors-credentials": true, "trusted-proxy": true, "client-ip-header": true,
	"private-prefix": true, "auth-secret-file": true, "auth-public-key": true, "token-cookie": true, "auth-rotation-overlap": true,
	"log-level": true,
}

// notifyHUP catches SIGHUP from now on; call it before anything binds, so
// that a reload during start-up does not kill the process (SIGHUP's
// default). Signals that come before the reloader runs wait in the channel.
func notifyHUP() chan os.Signal {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGHUP)
	return c
}

// reloader applies reloads to one process's parts.
type reloader struct {
	o       *serveOptions // in force
	log     *zap.Logger
	hub     *pubsub.Hub
	srv     *poller.Server      // nil in the supervisor
	in      *ingest.Server      // nil in a worker
	keys    *auth.Verifier      // the keys loaded last, without their predecessors
	workers func(*serveOptions) // the supervisor's: pass the accepted configuration on; nil elsewhere
}

// newReloader records what is in force at start and puts the rules in
// force.
func newReloader(o *serveOptions, side *subscriberSide, log *zap.Logger, hub *pubsub.Hub, srv *poller.Server, in *ingest.Server) (*reloader, error) {
	r := &reloader{o: o, log: log, hub: hub, srv: srv, in: in}
	if side != nil {
		r.keys = side.verifier
	}
	if err := applyRules(o.rules, hub, srv, in); err != nil {
		return nil, err
	}
	reloads.last.Store(time.Now().Unix())
	return r, nil
}

// run reloads on each SIGHUP until ctx ends.
func (r *reloader) run(ctx context.Context, hup <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.reload()
		}
	}
}

// reload re-reads and applies the configuration, or refuses it whole.
func (r *reloader) reload() {
	if err := r.apply(); err != nil {
		reloads.failed.Add(1)
		// No stack trace: the error says all, and says where.
		r.log.WithOptions(zap.AddStacktrace(zap.DPanicLevel)).Error("config reload refused; the configuration in force stays", zap.String("config", r.o.configPath),
			zap.Error(err), zap.Uint64("reloads_failed", reloads.Failed()))
		return
	}
	if r.workers != nil {
		r.workers(r.o)
	}
}

func (r *reloader) apply() error {
	o, side, err := checkServe(r.o.args) // the keys are read once, there
	if err != nil {
		return err
	}
	lvl, err := zapcore.ParseLevel(o.logLevel)
	if err != nil {
		return err
	}
	// Everything that can refuse was checked above (checkServe, whose
	// subscriberSide checks the rules against the new keys). The order below
	// matters: the subscriber server takes the new settings (keys,
	// prefixes) before the new rules, whose generation is what makes each
	// loop re-check its open streams, so that re-check sees both; and the
	// hub takes its server-wide bounds and the rules' bounds in one step,
	// so no in-between state evicts what neither the old nor the new
	// configuration would.
	if r.srv != nil {
		cfg := o.pollerConfig(side, r.hub, r.log)
		if o.overlap > 0 {
			cfg.Auth = side.verifier.WithPrevious(r.keys, time.Now().Add(o.overlap))
		}
		if err := r.srv.Reload(settingsOf(cfg)); err != nil {
			return err
		}
	}
	if err := applyRules(o.rules, nil, r.srv, r.in); err != nil {
		return err
	}
	if r.srv != nil {
		r.hub.SetHistoryBounds(o.hubConfig(0).History, historyLimits(o.rules))
	}
	changed, restart := r.o.diff(o)
	r.o, r.keys = o, side.verifier
	reloads.ok.Add(1)
	reloads.last.Store(time.Now().Unix())
	// The reload is logged under the more verbose of the old and the new
	// level, so that the line that says the level changed is seen.
	if lvl < processLevel.Level() {
		processLevel.SetLevel(lvl)
	}
	r.log.Info("config reloaded", zap.String("config", o.configPath), zap.Strings("changed", changed),
		zap.Int("rules", o.rules.Len()), zap.Uint64("reloads_ok", reloads.OK()))
	if len(restart) > 0 {
		r.log.Warn("config reload: these settings changed but need a restart; the old values stay in force",
			zap.Strings("needs_restart", restart))
	}
	processLevel.SetLevel(lvl)
	return nil
}

// diff names the settings whose values differ from o's ("channel" for the
// rules), and of those the ones a reload cannot apply.
func (old *serveOptions) diff(o *serveOptions) (changed, restart []string) {
	for name, v := range o.values {
		if old.values[name] != v {
			changed = append(changed, name)
			if !liveKeys[name] {
				restart = append(restart, name)
			}
		}
	}
	sort.Strings(changed)
	sort.Strings(restart)
	if rulesText(old.rules) != rulesText(o.rules) {
		changed = append(changed, "channel")
	}
	return changed, restart
}

// rulesText is a rule set as TOML, to compare two sets.
func rulesText(set *rules.Set) string {
	var b strings.Builder
	toml.NewEncoder(&b).Encode(struct {
		Channel []rules.Rule `toml:"channel"`
	}{set.Rules()})
	return b.String()
}

// settingsOf is the part of a poller configuration a reload may change.
func settingsOf(c poller.Config) poller.Settings {
	return poller.Settings{HeaderTimeout: c.HeaderTimeout, Heartbeat: c.Heartbeat,
		MaxBacklogBytes: c.MaxBacklogBytes, MaxBacklogFrames: c.MaxBacklogFrames, MaxChannels: c.MaxChannels,
		MaxConns: c.MaxConns, MaxConnsPerIP: c.MaxConnsPerIP,
		Retry: c.Retry, PollTimeout: c.PollTimeout, PollMaxTimeout: c.PollMaxTimeout,
		CORS: c.CORS, Auth: c.Auth, TokenCookie: c.TokenCookie,
		TrustedProxies: c.TrustedProxies, ClientIPHeader: c.ClientIPHeader}
}
