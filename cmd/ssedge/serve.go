package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/ssedge/ssedge/internal/auth"
	"github.com/ssedge/ssedge/internal/sockfile"
	"github.com/ssedge/ssedge/poller"
	"github.com/ssedge/ssedge/pubsub"
	"github.com/ssedge/ssedge/pubsub/ingest"
	"github.com/ssedge/ssedge/sse"
	"github.com/ssedge/ssedge/tuning"
)

// serveOptions are serve's flags, parsed.
type serveOptions struct {
	listen, proxyListen, trusted, allowUIDs, allowGIDs, cors, privPrefix *listFlag
	unixMode, mode                                                       modeFlag
	clientIPHeader                                                       string
	backlogBytes, eventBytes, histBytes                                  sizeFlag

	socket, pubOwner, pubGroup                              string
	secretFile, publicKey, tokenCookie, logFormat, logLevel string
	procs, loops, conns, backlogFrames, maxChannels         int
	maxConns, maxPerIP, ringSize, histCount                 int
	maxPublishers                                           int
	heartbeat, headerTimeout, histAge, retry                time.Duration
	pollTimeout, pollMax                                    time.Duration
	drainWindow                                             time.Duration
	corsCreds                                               bool
	adminListen                                             string         // admin.go
	cluster                                                 clusterOptions // cluster.go
	upgrade                                                 upgradeOptions // upgrade.go
	adminHandoff                                            *adminHandoff  // upgrade.go: the admin endpoint's sockets, either way

	args []string // as given, for worker processes

	configOptions // --config and what it loaded (config.go)
}

func parseServe(args []string) (*serveOptions, error) {
	o := &serveOptions{
		listen:      &listFlag{vals: []string{"127.0.0.1:8080"}},
		trusted:     &listFlag{vals: []string{"127.0.0.0/8", "::1/128"}},
		proxyListen: &listFlag{}, allowUIDs: &listFlag{}, allowGIDs: &listFlag{}, cors: &listFlag{}, privPrefix: &listFlag{},
		unixMode: 0o666, mode: 0o660,
		backlogBytes: poller.DefaultMaxBacklogBytes, eventBytes: pubsub.DefaultMaxEventBytes, histBytes: pubsub.DefaultHistoryBytes,
		args: args,
	}
	fs := newFlagSet("serve", "ssedge serve [flags]")
	fs.Var(o.listen, "listen", "subscriber listen address: HOST:PORT, or unix:PATH (for nginx: no ephemeral ports); repeat for several (the default is dropped when only --proxy-listen is given)")
	fs.Var(o.proxyListen, "proxy-listen", "like --listen, but each connection starts with a PROXY protocol header (v1 or v2), as nginx's stream proxy_protocol sends; repeat for several")
	fs.Var(o.trusted, "trusted-proxy", "address or CIDR whose PROXY headers and X-Forwarded-For / X-Real-IP are believed; repeat for several")
	fs.StringVar(&o.clientIPHeader, "client-ip-header", poller.ClientIPAuto, "which header from a trusted proxy names the client: auto (X-Real-IP, else X-Forwarded-For), x-real-ip, x-forwarded-for (for proxies that pass a client's own X-Real-IP through, as HAProxy does) or none")
	fs.Var(&o.unixMode, "listen-unix-mode", "file mode of unix:PATH subscriber sockets, octal")
	fs.StringVar(&o.socket, "publish-socket", sockfile.DefaultPublishPath(), "unix socket for publishers (HTTP POST /publish and the line protocol)")
	fs.Var(&o.mode, "publish-socket-mode", "file mode of the publish socket, octal")
	fs.StringVar(&o.pubOwner, "publish-socket-owner", "", "user (name or uid) to own the publish socket (needs root); empty: the server's")
	fs.StringVar(&o.pubGroup, "publish-socket-group", "", "group (name or gid) of the publish socket, for publishers in that group; empty: the server's")
	fs.Var(o.allowUIDs, "publish-allow-uid", "only publishers with this uid (or an allowed gid) may publish, checked with SO_PEERCRED; repeat for several (default: whoever can open the socket)")
	fs.Var(o.allowGIDs, "publish-allow-gid", "only publishers with this primary gid (or an allowed uid) may publish; repeat for several")
	fs.IntVar(&o.maxPublishers, "max-publishers", ingest.DefaultMaxConns, "open publisher connections on the publish socket; past it a new one is refused (-ERR or 503) and closed. With --max-conns 0 it is held to half the descriptors kept in reserve (see docs/security.md)")
	fs.IntVar(&o.procs, "procs", 1, "worker processes sharing the listen addresses and fed by one publish socket, each under its own open-files limit (see docs/deploy.md); 1: a single process")
	fs.IntVar(&o.loops, "loops", 0, "subscriber event loops per process (0: one per core, divided among --procs)")
	fs.IntVar(&o.conns, "conns", 0, "connections the server is expected to hold (with --procs: in all): at start, warn with the fix if the open-files limit cannot (0: no check)")
	fs.DurationVar(&o.heartbeat, "heartbeat", poller.DefaultHeartbeat, "send a comment frame to streams silent this long (keep under proxies' read timeouts)")
	fs.DurationVar(&o.headerTimeout, "header-timeout", poller.DefaultHeaderTimeout, "time a client has to send its request head (slowloris defence)")
	fs.Var(&o.backlogBytes, "max-backlog-bytes", "unsent bytes per subscriber before it is closed as a slow consumer")
	fs.IntVar(&o.backlogFrames, "max-backlog-frames", poller.DefaultMaxBacklogFrames, "unsent events per subscriber before it is closed as a slow consumer")
	fs.IntVar(&o.maxChannels, "max-channels", poller.DefaultMaxChannels, "channels per subscriber connection")
	fs.IntVar(&o.maxConns, "max-conns", 0, "open connections (with --procs: in all, split evenly); past it a connection gets 503 with Retry-After (0: derived per process from the open-files limit, keeping descriptors for publishers and for answering 503; see docs/security.md)")
	fs.IntVar(&o.maxPerIP, "max-conns-per-ip", 0, "streams and waiting polls per client address (after PROXY protocol / X-Forwarded-For from trusted proxies), counted by each process; past it 429 (0: no limit)")
	fs.Var(&o.eventBytes, "max-event-bytes", "largest event data a publisher may send")
	fs.IntVar(&o.ringSize, "ring-size", pubsub.DefaultRingSize, "events in flight between publishers and loops (publishers wait when it is full)")
	fs.IntVar(&o.histCount, "history-per-channel", pubsub.DefaultHistoryPerChannel, "events retained per channel for Last-Event-ID resume and long-poll; -1: none")
	fs.DurationVar(&o.histAge, "history-age", pubsub.DefaultHistoryAge, "events older than this are evicted from history")
	fs.Var(&o.histBytes, "history-memory", "one memory budget for all channels' history (frames plus index), per process; the oldest events go first")
	fs.DurationVar(&o.retry, "retry", poller.DefaultRetry, "reconnection delay advised to clients in each stream's first frame (retry:)")
	fs.DurationVar(&o.pollTimeout, "poll-timeout", poller.DefaultPollTimeout, "long-poll wait when the request gives no timeout= (keep under the proxy's read timeout)")
	fs.DurationVar(&o.pollMax, "poll-max-timeout", poller.DefaultPollMaxTimeout, "longest long-poll wait a request may ask for with timeout=")
	fs.Var(o.cors, "cors-origin", "allowed CORS origin: https://example.com, https://*.example.com or *; repeat for several (default: CORS off)")
	fs.Var(o.privPrefix, "private-prefix", "channel-name prefix that needs a token (JWT, claim \"channels\"), e.g. private- or user:; repeat for several (default: no private channels)")
	fs.StringVar(&o.secretFile, "auth-secret-file", "", "file with the HS256 secret that signs tokens (at least 32 bytes)")
	fs.StringVar(&o.publicKey, "auth-public-key", "", "PEM public key (RSA for RS256, P-256 for ES256) that verifies tokens")
	fs.StringVar(&o.tokenCookie, "token-cookie", "ssedge_token", "cookie that may carry the token (besides ?token= and Authorization: Bearer)")
	fs.BoolVar(&o.corsCreds, "cors-credentials", false, "allow credentials (cookies) on CORS requests; the origin is echoed, never *")
	drainFlag(fs, o)
	fs.StringVar(&o.logFormat, "log-format", "json", "log format: json or console")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	addConfigFlags(fs, &o.configOptions)
	addAdminFlag(fs, o)
	addClusterFlags(fs, o)
	addUpgradeFlags(fs, &o.upgrade)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if err := o.loadConfig(fs); err != nil {
		return nil, err
	}
	o.useWorkerKeys() // procs.go: a --procs worker reads the supervisor's copies
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("serve: unexpected argument %q (flags start with --)", fs.Arg(0))
	}
	if !o.listen.set && len(o.proxyListen.vals) > 0 {
		// Only PROXY-protocol listeners were asked for: the default plain
		// listener would be a second way in that bypasses the proxy.
		o.listen.vals = nil
	}
	if err := o.checkAdminListen(); err != nil {
		return nil, err
	}
	if !poller.ValidClientIPHeader(o.clientIPHeader) {
		return nil, o.blame(fmt.Errorf("--client-ip-header %q: expected auto, x-real-ip, x-forwarded-for or none", o.clientIPHeader))
	}
	if o.maxPublishers < 1 {
		return nil, fmt.Errorf("--max-publishers %d: expected 1 or more", o.maxPublishers)
	}
	if o.procs < 1 || o.procs > maxProcs {
		return nil, o.blame(fmt.Errorf("--procs %d: expected 1 to %d", o.procs, maxProcs))
	}
	if err := o.checkCluster(); err != nil {
		return nil, err
	}
	if err := checkDrainWindow(o); err != nil {
		return nil, err
	}
	if o.loops < 0 {
		return nil, o.blame(fmt.Errorf("--loops %d: expected 0 (automatic) or more", o.loops))
	}
	if o.loops == 0 {
		o.loops = max(1, runtime.NumCPU()/o.procs)
	}
	return o, nil
}

// perProc is a server-wide figure's share of one process.
func (o *serveOptions) perProc(n int) int { return (n + o.procs - 1) / o.procs }

// subscriberSide is what every process that serves subscribers builds from
// the flags; building it in the supervisor too reports a bad flag once.
type subscriberSide struct {
	trusted  []netip.Prefix
	verifier *auth.Verifier
	cors     *sse.CORS
}

func (o *serveOptions) subscriberSide() (*subscriberSide, error) {
	var side subscriberSide
	var err error
	if side.trusted, err = parsePrefixes(o.trusted.vals); err != nil {
		return nil, err
	}
	if side.verifier, err = auth.New(auth.Config{Prefixes: o.privPrefix.vals, SecretFile: o.secretFile, PublicKeyFile: o.publicKey}); err != nil {
		return nil, err
	}
	if side.cors, err = sse.NewCORS(o.cors.vals, o.corsCreds); err != nil {
		return nil, err
	}
	// A supervisor has no subscriber server to refuse rules it cannot
	// enforce, and a config check none at all: check them here too.
	if err := poller.CheckRules(o.rules, side.verifier); err != nil {
		return nil, err
	}
	return &side, nil
}

func (o *serveOptions) hubConfig(seed uint64) pubsub.Config {
	return pubsub.Config{RingSize: o.ringSize, MaxEventBytes: int(o.eventBytes), Seed: seed,
		History: pubsub.HistoryConfig{PerChannel: o.histCount, MaxAge: o.histAge, MaxBytes: int64(o.histBytes)}}
}

func (o *serveOptions) pollerConfig(side *subscriberSide, hub *pubsub.Hub, log *zap.Logger) poller.Config {
	return poller.Config{
		Listen:           o.listen.vals,
		ProxyListen:      o.proxyListen.vals,
		TrustedProxies:   side.trusted,
		ClientIPHeader:   o.clientIPHeader,
		UnixMode:         os.FileMode(o.unixMode),
		Loops:            o.loops,
		Backlog:          tuning.ListenBacklog(""),
		HeaderTimeout:    o.headerTimeout,
		Heartbeat:        o.heartbeat,
		MaxBacklogBytes:  int(o.backlogBytes),
		MaxBacklogFrames: o.backlogFrames,
		MaxChannels:      o.maxChannels,
		MaxConns:         o.perProc(o.maxConns),
		MaxConnsPerIP:    o.maxPerIP,
		Retry:            o.retry,
		PollTimeout:      o.pollTimeout,
		PollMaxTimeout:   o.pollMax,
		CORS:             side.cors,
		Auth:             side.verifier,
		TokenCookie:      o.tokenCookie,
		Hub:              hub,
		Log:              log,
	}
}

// ingest opens the publish socket.
func (o *serveOptions) ingest(hub *pubsub.Hub, log *zap.Logger) (*ingest.Server, error) {
	cfg, err := o.ingestConfig(log)
	if err != nil {
		return nil, err
	}
	return ingest.Listen(hub, cfg)
}

func (o *serveOptions) ingestConfig(log *zap.Logger) (ingest.Config, error) {
	uids, err := parseIDs("--publish-allow-uid", o.allowUIDs.vals)
	if err != nil {
		return ingest.Config{}, err
	}
	gids, err := parseIDs("--publish-allow-gid", o.allowGIDs.vals)
	if err != nil {
		return ingest.Config{}, err
	}
	return ingest.Config{Path: o.socket, Mode: os.FileMode(o.mode), Log: log,
		Owner: o.pubOwner, Group: o.pubGroup, AllowUIDs: uids, AllowGIDs: gids, MaxConns: o.maxPublishers, Publisher: o.cluster.publisher}, nil
}

// limitPublishers holds --max-publishers to what the subscriber server's
// descriptor reserve (poller.Server.FDReserve; 0: none derived) can spare,
// half of it less the publish socket's own descriptors, so publishers can
// never take the descriptors its 503 answers need; and logs the result.
func (o *serveOptions) limitPublishers(reserve int, log *zap.Logger) {
	if reserve > 0 {
		if spare := max(1, (reserve-ingest.FixedDescriptors)/2); o.maxPublishers > spare {
			// Said out loud only when someone asked for more (the default,
			// 64, is held to 62 by the usual reserve of 128).
			if o.sources["max-publishers"] != "default" || spare < o.maxPublishers/2 {
				log.Warn("publisher connection limit held to half the descriptor reserve (raise the open-files limit, or set --max-conns, to allow more)",
					zap.Int("max_publishers", spare), zap.Int("flag", o.maxPublishers), zap.Int("reserve", reserve))
			} else {
				log.Info("publisher connection limit", zap.Int("max_publishers", spare), zap.Int("reserve", reserve))
			}
			o.maxPublishers = spare
			return
		}
	}
	log.Info("publisher connection limit", zap.Int("max_publishers", o.maxPublishers))
}

// raiseFileLimit raises RLIMIT_NOFILE to its hard limit and warns, with
// the fix, when that cannot hold conns connections.
func raiseFileLimit(log *zap.Logger, conns int) {
	fl, err := tuning.RaiseFileLimit()
	if err != nil {
		log.Warn("cannot raise the open-files limit", zap.Error(err))
		return
	}
	log.Info("open-files limit", zap.Uint64("soft", fl.Soft), zap.Uint64("hard", fl.Hard), zap.Uint64("was", fl.Before))
	if advice := tuning.FileLimitAdvice(fl, conns); advice != "" {
		log.Warn(advice)
	}
}

func serve(args []string) error {
	o, err := parseServe(args)
	if err != nil {
		return err
	}
	if w, ok := os.LookupEnv(workerEnv); ok {
		return serveWorker(o, w)
	}
	// Catch signals before anything is bound, so a signal that arrives
	// during start-up still ends in a clean exit.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log, err := newLogger(o.logFormat, o.logLevel)
	if err != nil {
		return err
	}
	defer log.Sync()
	if o.upgrade.exe, err = resolveExe(os.Args[0]); err != nil {
		log.Warn("cannot find this binary on disk: SIGUSR2 upgrades will fail", zap.String("arg0", os.Args[0]), zap.Error(err))
	}
	version := handoffVersion
	if o.procs > 1 {
		version = handoffProcsVersion
	}
	up, err := acceptUpgrade(log, version) // upgrade_child.go: nil unless an upgrade started this process
	if err != nil {
		return err
	}
	usr2 := notifyUSR2()
	if o.procs > 1 {
		// After an upgrade the pid file is written once the old supervisor
		// has let go (supervise).
		if up == nil {
			if err := o.writePidFile(); err != nil {
				return err
			}
		}
		defer o.removePidFile()
		err := supervise(ctx, o, log, up, usr2) // procs_linux.go, upgrade_procs_linux.go
		if err != nil {
			up.failed(err)
		}
		return err
	}
	err = serveSingle(ctx, o, log, up, usr2)
	if err != nil {
		up.failed(err)
	}
	return err
}

// serveSingle serves as a single process, from scratch or (up set) from
// what an old process handed over.
func serveSingle(ctx context.Context, o *serveOptions, log *zap.Logger, up *upgradeChild, usr2 <-chan os.Signal) error {
	hup := notifyHUP()
	raiseFileLimit(log, o.conns)
	side, err := o.subscriberSide()
	if err != nil {
		return o.blame(err)
	}
	hub, stopCluster, err := up.openHub(ctx, o, log)
	if err != nil {
		return err
	}
	defer stopCluster()
	var gate *publishGate // nil in cluster mode: the log numbers events, no upgrade
	if o.cluster.publisher == nil {
		gate = newPublishGate(hub)
		o.cluster.publisher = gate
	}
	pcfg := o.pollerConfig(side, hub, log)
	if err := up.listeners(&pcfg); err != nil {
		return err
	}
	srv, err := poller.New(pcfg)
	if err != nil {
		return err
	}
	if err := up.importConns(srv); err != nil {
		srv.Close()
		return err
	}
	o.limitPublishers(srv.FDReserve(), log)
	// Every step that can fail comes before the take-over: once the old
	// process has let go, a failure here would end every stream. Until
	// then the sockets are still the old process's: this process accepts
	// no publisher (an adopted publish socket serves from in.Serve) and
	// writes to no connection (the loops have not started), and giving up
	// (letGo) leaves the socket files alone.
	in, err := up.ingestServer(o, hub, log)
	if err != nil {
		srv.Close()
		return err
	}
	letGo := func(stopAdmin func()) {
		if up != nil {
			in.Disown()
			if a := o.adminHandoff; a != nil && a.srv != nil {
				a.srv.Disown()
			}
		}
		if stopAdmin != nil {
			stopAdmin()
		}
		in.Close(context.Background())
		srv.Close()
	}
	r, err := newReloader(o, side, log, hub, srv, in)
	if err != nil {
		letGo(nil)
		return err
	}
	o.adminHandoff = up.adminHandoff()
	stopAdmin, err := o.startSingleAdmin(ctx, log, srv, in, hub)
	if err != nil {
		letGo(nil)
		return err
	}
	if err := up.takeOver(ctx); err != nil {
		letGo(stopAdmin)
		return err
	}
	defer stopAdmin()
	in.Serve()
	o.serveAdmin()
	srv.Start()
	if err := o.writePidFile(); err != nil {
		log.Error("cannot write the pid file", zap.Error(err))
	}
	// After an upgrade systemd already has the service as started: the old
	// process names this one its main process (MAINPID=).
	if up == nil {
		if err := sdNotify("READY=1"); err != nil {
			log.Warn("cannot tell systemd the server is ready (NOTIFY_SOCKET)", zap.Error(err))
		}
	}
	logServing(log, srv.Addrs(), in.Path())
	go r.run(ctx, hup)
	upgraded := make(chan struct{})
	var u *upgrader
	if gate != nil {
		u = &upgrader{o: o, log: log, hub: hub, srv: srv, in: in, gate: gate, admin: o.adminHandoff.srv}
		go u.run(ctx, usr2, upgraded)
	} else {
		refuseUpgradesOn(ctx, log, usr2, "cluster mode: a new node restores from the stream; restart instead")
	}

	select {
	case <-ctx.Done():
		if u != nil && u.stopping() {
			return nil // handed over during the signal: nothing here to stop
		}
	case <-upgraded:
		return nil // everything now belongs to the new process
	}
	shutdown(o, log, in, hub, srv)
	o.removePidFile()
	st := srv.Stats()
	log.Info("stopped", zap.Uint64("published", in.Published()), zap.Uint64("accepted", st.Accepted),
		zap.Uint64("slow_consumers", st.SlowConsumers()))
	return nil
}

// logServing is the line that says the server is up and how to use it.
func logServing(log *zap.Logger, bound []net.Addr, socket string, fields ...zap.Field) {
	addrs := make([]string, 0, len(bound))
	for _, a := range bound {
		if a.Network() == "unix" {
			addrs = append(addrs, "unix:"+a.String())
		} else {
			addrs = append(addrs, a.String())
		}
	}
	subscribe := fmt.Sprintf("curl -N 'http://%s/events?channel=NAME'", addrs[0])
	if path, ok := strings.CutPrefix(addrs[0], "unix:"); ok {
		subscribe = fmt.Sprintf("curl -N --unix-socket %s 'http://x/events?channel=NAME'", path)
	}
	log.Info("ssedge serving", append([]zap.Field{zap.Strings("listen", addrs), zap.String("publish_socket", socket),
		zap.String("subscribe", subscribe),
		zap.String("publish", fmt.Sprintf("curl --unix-socket %s -d DATA 'http://x/publish?channel=NAME'", socket))}, fields...)...)
}

// parseIDs reads numeric uids or gids.
func parseIDs(flag string, vals []string) ([]uint32, error) {
	out := make([]uint32, 0, len(vals))
	for _, v := range vals {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%s %q: expected a numeric id", flag, v)
		}
		out = append(out, uint32(n))
	}
	return out, nil
}

// parsePrefixes reads addresses and CIDR prefixes (a bare address is its
// own /32 or /128).
func parsePrefixes(vals []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(vals))
	for _, v := range vals {
		if p, err := netip.ParsePrefix(v); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("--trusted-proxy %q: expected an address or CIDR such as 10.0.0.0/8", v)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func newLogger(format, level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level %q: expected debug, info, warn or error", level)
	}
	var cfg zap.Config
	switch format {
	case "json":
		cfg = zap.NewProductionConfig()
	case "console":
		cfg = zap.NewDevelopmentConfig()
		cfg.DisableStacktrace = true
	default:
		return nil, fmt.Errorf("--log-format %q: expected json or console", format)
	}
	processLevel.SetLevel(lvl) // a reload changes it (reload.go)
	cfg.Level = processLevel
	cfg.Sampling = nil
	return cfg.Build()
}
