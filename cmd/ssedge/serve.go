package main

import (
	"context"
	"fmt"
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
	"github.com/ssedge/ssedge/sse"
	"github.com/ssedge/ssedge/tuning"
)

func serve(args []string) error {
	fs := newFlagSet("serve", "ssedge serve [flags]")
	listen := &listFlag{vals: []string{"127.0.0.1:8080"}}
	fs.Var(listen, "listen", "subscriber listen address: HOST:PORT, or unix:PATH (for nginx: no ephemeral ports); repeat for several")
	proxyListen := &listFlag{}
	fs.Var(proxyListen, "proxy-listen", "like --listen, but each connection starts with a PROXY protocol header (v1 or v2), as nginx's stream proxy_protocol sends; repeat for several")
	trusted := &listFlag{vals: []string{"127.0.0.0/8", "::1/128"}}
	fs.Var(trusted, "trusted-proxy", "address or CIDR whose PROXY headers and X-Forwarded-For / X-Real-IP are believed; repeat for several")
	unixMode := modeFlag(0o666)
	fs.Var(&unixMode, "listen-unix-mode", "file mode of unix:PATH subscriber sockets, octal")
	socket := fs.String("publish-socket", sockfile.DefaultPublishPath(), "unix socket for publishers (HTTP POST /publish and the line protocol)")
	mode := modeFlag(0o660)
	fs.Var(&mode, "publish-socket-mode", "file mode of the publish socket, octal")
	pubOwner := fs.String("publish-socket-owner", "", "user (name or uid) to own the publish socket (needs root); empty: the server's")
	pubGroup := fs.String("publish-socket-group", "", "group (name or gid) of the publish socket, for publishers in that group; empty: the server's")
	allowUIDs := &listFlag{}
	fs.Var(allowUIDs, "publish-allow-uid", "only publishers with this uid (or an allowed gid) may publish, checked with SO_PEERCRED; repeat for several (default: whoever can open the socket)")
	allowGIDs := &listFlag{}
	fs.Var(allowGIDs, "publish-allow-gid", "only publishers with this primary gid (or an allowed uid) may publish; repeat for several")
	loops := fs.Int("loops", runtime.NumCPU(), "subscriber event loops (one per core is right)")
	conns := fs.Int("conns", 0, "connections this process is expected to hold: at start, warn with the fix if the open-files limit cannot (0: no check)")
	heartbeat := fs.Duration("heartbeat", poller.DefaultHeartbeat, "send a comment frame to streams silent this long (keep under proxies' read timeouts)")
	headerTimeout := fs.Duration("header-timeout", poller.DefaultHeaderTimeout, "time a client has to send its request head (slowloris defence)")
	backlogBytes := sizeFlag(poller.DefaultMaxBacklogBytes)
	fs.Var(&backlogBytes, "max-backlog-bytes", "unsent bytes per subscriber before it is closed as a slow consumer")
	backlogFrames := fs.Int("max-backlog-frames", poller.DefaultMaxBacklogFrames, "unsent events per subscriber before it is closed as a slow consumer")
	maxChannels := fs.Int("max-channels", poller.DefaultMaxChannels, "channels per subscriber connection")
	maxConns := fs.Int("max-conns", 0, "open connections per process; past it a connection gets 503 with Retry-After (0: only the open-files limit bounds them)")
	maxPerIP := fs.Int("max-conns-per-ip", 0, "streams and waiting polls per client address (after PROXY protocol / X-Forwarded-For from trusted proxies); past it 429 (0: no limit)")
	eventBytes := sizeFlag(pubsub.DefaultMaxEventBytes)
	fs.Var(&eventBytes, "max-event-bytes", "largest event data a publisher may send")
	ringSize := fs.Int("ring-size", pubsub.DefaultRingSize, "events in flight between publishers and loops (publishers wait when it is full)")
	histCount := fs.Int("history-per-channel", pubsub.DefaultHistoryPerChannel, "events retained per channel for Last-Event-ID resume and long-poll; -1: none")
	histAge := fs.Duration("history-age", pubsub.DefaultHistoryAge, "events older than this are evicted from history")
	histBytes := sizeFlag(pubsub.DefaultHistoryBytes)
	fs.Var(&histBytes, "history-memory", "one memory budget for all channels' history (frames plus index); the oldest events go first")
	retry := fs.Duration("retry", poller.DefaultRetry, "reconnection delay advised to clients in each stream's first frame (retry:)")
	pollTimeout := fs.Duration("poll-timeout", poller.DefaultPollTimeout, "long-poll wait when the request gives no timeout= (keep under the proxy's read timeout)")
	pollMax := fs.Duration("poll-max-timeout", poller.DefaultPollMaxTimeout, "longest long-poll wait a request may ask for with timeout=")
	cors := &listFlag{}
	fs.Var(cors, "cors-origin", "allowed CORS origin: https://example.com, https://*.example.com or *; repeat for several (default: CORS off)")
	privPrefix := &listFlag{}
	fs.Var(privPrefix, "private-prefix", "channel-name prefix that needs a token (JWT, claim \"channels\"), e.g. private- or user:; repeat for several (default: no private channels)")
	secretFile := fs.String("auth-secret-file", "", "file with the HS256 secret that signs tokens (at least 32 bytes)")
	publicKey := fs.String("auth-public-key", "", "PEM public key (RSA for RS256, P-256 for ES256) that verifies tokens")
	tokenCookie := fs.String("token-cookie", "ssedge_token", "cookie that may carry the token (besides ?token= and Authorization: Bearer)")
	corsCreds := fs.Bool("cors-credentials", false, "allow credentials (cookies) on CORS requests; the origin is echoed, never *")
	logFormat := fs.String("log-format", "json", "log format: json or console")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected argument %q (flags start with --)", fs.Arg(0))
	}
	// Catch signals before anything is bound, so a signal that arrives
	// during start-up still ends in a clean exit.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log, err := newLogger(*logFormat, *logLevel)
	if err != nil {
		return err
	}
	defer log.Sync()

	if fl, err := tuning.RaiseFileLimit(); err != nil {
		log.Warn("cannot raise the open-files limit", zap.Error(err))
	} else {
		log.Info("open-files limit", zap.Uint64("soft", fl.Soft), zap.Uint64("hard", fl.Hard), zap.Uint64("was", fl.Before))
		if advice := tuning.FileLimitAdvice(fl, *conns); advice != "" {
			log.Warn(advice)
		}
	}
	trustedNets, err := parsePrefixes(trusted.vals)
	if err != nil {
		return err
	}
	verifier, err := auth.New(auth.Config{Prefixes: privPrefix.vals, SecretFile: *secretFile, PublicKeyFile: *publicKey})
	if err != nil {
		return err
	}
	corsList, err := sse.NewCORS(cors.vals, *corsCreds)
	if err != nil {
		return err
	}
	hub := pubsub.NewHub(pubsub.Config{RingSize: *ringSize, MaxEventBytes: int(eventBytes),
		History: pubsub.HistoryConfig{PerChannel: *histCount, MaxAge: *histAge, MaxBytes: int64(histBytes)}})
	srv, err := poller.New(poller.Config{
		Listen:           listen.vals,
		ProxyListen:      proxyListen.vals,
		TrustedProxies:   trustedNets,
		UnixMode:         os.FileMode(unixMode),
		Loops:            *loops,
		Backlog:          tuning.ListenBacklog(""),
		HeaderTimeout:    *headerTimeout,
		Heartbeat:        *heartbeat,
		MaxBacklogBytes:  int(backlogBytes),
		MaxBacklogFrames: *backlogFrames,
		MaxChannels:      *maxChannels,
		MaxConns:         *maxConns,
		MaxConnsPerIP:    *maxPerIP,
		Retry:            *retry,
		PollTimeout:      *pollTimeout,
		PollMaxTimeout:   *pollMax,
		CORS:             corsList,
		Auth:             verifier,
		TokenCookie:      *tokenCookie,
		Hub:              hub,
		Log:              log,
	})
	if err != nil {
		return err
	}
	uids, err := parseIDs("--publish-allow-uid", allowUIDs.vals)
	if err != nil {
		srv.Close()
		return err
	}
	gids, err := parseIDs("--publish-allow-gid", allowGIDs.vals)
	if err != nil {
		srv.Close()
		return err
	}
	in, err := pubsub.Listen(hub, pubsub.IngestConfig{Path: *socket, Mode: os.FileMode(mode), Log: log,
		Owner: *pubOwner, Group: *pubGroup, AllowUIDs: uids, AllowGIDs: gids})
	if err != nil {
		srv.Close()
		return err
	}
	srv.Start()
	addrs := make([]string, 0, len(srv.Addrs()))
	for _, a := range srv.Addrs() {
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
	log.Info("ssedge serving", zap.Strings("listen", addrs), zap.String("publish_socket", in.Path()),
		zap.String("subscribe", subscribe),
		zap.String("publish", fmt.Sprintf("curl --unix-socket %s -d DATA 'http://x/publish?channel=NAME'", in.Path())))

	<-ctx.Done()
	log.Info("stopping")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	in.Close(sctx)
	hub.Close()
	srv.Close()
	st := srv.Stats()
	log.Info("stopped", zap.Uint64("published", in.Published()), zap.Uint64("accepted", st.Accepted),
		zap.Uint64("slow_consumers", st.SlowConsumers()))
	return nil
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
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.Sampling = nil
	return cfg.Build()
}
