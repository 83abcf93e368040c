package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/ssedge/ssedge/pubsub"
)

// Config configures a node's connection to the shared event log.
type Config struct {
	Servers   []string  // nats:// URLs; empty with Embedded set
	Embedded  *Embedded // nats-server in this process (StartEmbedded); Servers is then empty
	Stream    string    // JetStream stream name; default DefaultStream
	Replicas  int       // replicas when the stream is created; default 1
	Creds     string    // NATS credentials file
	TokenFile string    // file holding a NATS token
	TLSCA     string    // CA bundle for the NATS server's certificate
	TLSCert   string    // client certificate (with TLSKey)
	TLSKey    string

	// PublishTimeout bounds the wait for JetStream's acknowledgement; past
	// it the publisher is told the outcome is unknown. Default 3 s.
	PublishTimeout time.Duration
	// Hub is the configuration of the node's hub (ring, event size,
	// history). Its History bounds are also the stream's limits.
	Hub pubsub.Config
	// NoHistory: the hub keeps no history (a --procs supervisor, whose
	// workers keep it); nothing is restored into it.
	NoHistory bool
	// Upstream, for a follower (OpenFollower), reads the newest id its
	// supervisor has relayed; the hub's Upstream is the larger of it and
	// the stream's.
	Upstream func() uint64
	Log      *zap.Logger
}

// DefaultStream is the stream's name when Config.Stream is empty.
const DefaultStream = "SSEDGE"

// Headers of every event message: the channel (also in the subject,
// escaped) and the event name (absent for an unnamed event).
const (
	HeaderChannel = "Ssedge-Channel"
	HeaderEvent   = "Ssedge-Event"
)

// Node is one ssedge node's view of the shared event log: it publishes
// into the stream and feeds its hub from it.
type Node struct {
	cfg     Config
	log     *zap.Logger
	nc      *nats.Conn
	js      jetstream.JetStream
	stream  jetstream.Stream
	hub     *pubsub.Hub
	prefix  string
	perSubj int64 // the stream's max messages per subject (0: none)

	known      atomic.Uint64 // the newest stream sequence known to exist
	refreshed  atomic.Int64  // unix ns when the newest completed look at the stream's last sequence started
	refreshing atomic.Bool   // a look is under way (upstreamCheck starts at most one)

	downSince atomic.Int64 // unix ns when the connection was lost; 0 while connected
	failing   atomic.Bool  // publishes are failing (logged once per episode)
	consumed  atomic.Uint64
	closing   atomic.Bool // Close has begun: the disconnect is ours, not news

	reconnected chan struct{} // signalled (dropping extras) by the reconnect handler: Run re-creates its consumer
	takeMu      sync.Mutex    // one message at a time into the hub (take)
	seen        atomic.Uint64 // the newest stream sequence a consumer delivered (restored ones included)
	broken      atomic.Value  // string: why the node stopped following the stream (ErrSequenceJump); Ready reports it
	fetches     chan struct{} // one token per resume fetch under way (fetch.go), maxFetches at most
}

// Open connects, makes sure the stream exists with the history limits,
// creates the node's hub and restores into it everything the stream
// retains. The hub serves nothing yet: call Run to follow the stream,
// then open the listeners.
func Open(ctx context.Context, cfg Config) (*Node, error) {
	n, err := connect(cfg)
	if err != nil {
		return nil, err
	}
	// A NATS cluster that is starting too (no JetStream leader yet)
	// answers with errors for a while: retry until ctx ends.
	for {
		// Each try is bounded: a request JetStream cannot answer yet would
		// otherwise wait for all of ctx.
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := n.ensureStream(tctx)
		cancel()
		if err == nil {
			break
		}
		if errors.Is(err, ErrConfig) || ctx.Err() != nil {
			n.closeConn()
			return nil, err
		}
		n.log.Info("cluster: stream not available yet; retrying", zap.Error(err))
		waitCtx(ctx, 500*time.Millisecond)
	}
	if err := n.restore(ctx, 0); err != nil {
		n.closeConn()
		return nil, err
	}
	return n, nil
}

// OpenFollower is Open for a --procs worker, whose hub a relay feeds
// from seed on (pubsub.Hub.Follow): it connects (for the restore and for
// the known sequence, never to publish or consume), restores what the
// stream retains up to seed and returns with the hub ready to follow the
// relay. The stream must exist (the supervisor made sure of it).
func OpenFollower(ctx context.Context, cfg Config, seed uint64) (*Node, error) {
	n, err := connect(cfg)
	if err != nil {
		return nil, err
	}
	if n.stream, err = n.js.Stream(ctx, n.cfg.Stream); err != nil {
		n.closeConn()
		return nil, fmt.Errorf("cluster: stream %q: %w", n.cfg.Stream, err)
	}
	n.perSubj = n.stream.CachedInfo().Config.MaxMsgsPerSubject
	if seed == 0 {
		// An empty log: restore(0) would mean "to the stream's end", which
		// the relay delivers instead; nothing to restore below id 1.
		hubCfg := n.cfg.Hub
		hubCfg.GivenIDs, hubCfg.Upstream, hubCfg.UpstreamCheck, hubCfg.UpstreamFetch = true, n.upstream, n.upstreamCheck, n.upstreamFetch
		if up := n.cfg.Upstream; up != nil {
			hubCfg.Upstream = func() uint64 { return max(up(), n.upstream()) }
		}
		n.hub = pubsub.NewHub(hubCfg)
		n.hub.RestoreFloor(0)
		return n, nil
	}
	if err := n.restore(ctx, seed); err != nil {
		n.closeConn()
		return nil, err
	}
	return n, nil
}

// connect checks cfg and connects to NATS and JetStream.
func connect(cfg Config) (*Node, error) {
	if cfg.Stream == "" {
		cfg.Stream = DefaultStream
	}
	if strings.ContainsAny(cfg.Stream, ".*> \t\r\n/\\") {
		return nil, fmt.Errorf("%w: --cluster-stream %q: a stream name has no '.', '*', '>', '/', '\\' or spaces", ErrConfig, cfg.Stream)
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = 3 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	n := &Node{cfg: cfg, log: cfg.Log, prefix: subjectPrefix(cfg.Stream)}
	n.reconnected = make(chan struct{}, 1)
	n.fetches = make(chan struct{}, maxFetches)
	opts, err := n.natsOptions()
	if err != nil {
		return nil, err
	}
	url := strings.Join(cfg.Servers, ",")
	if cfg.Embedded != nil {
		url = ""
		opts = append(opts, nats.InProcessServer(cfg.Embedded.Server), nats.IgnoreDiscoveredServers())
		if cfg.Embedded.Token != "" {
			opts = append(opts, nats.Token(cfg.Embedded.Token)) // after --cluster-token-file's: that one guards the routes here
		}
	}
	if n.nc, err = nats.Connect(url, opts...); err != nil {
		return nil, fmt.Errorf("cluster: connect to %q: %w", url, err)
	}
	// An asynchronous publish whose acknowledgement never comes is
	// dropped by nats.go a little after PublishAsync's wait gave up on it,
	// so nothing piles up while the broker is away.
	if n.js, err = jetstream.New(n.nc, jetstream.WithPublishAsyncTimeout(cfg.PublishTimeout+time.Second)); err != nil {
		n.closeConn()
		return nil, fmt.Errorf("cluster: %w", err)
	}
	return n, nil
}

// natsOptions maps the configuration onto nats.go options. The reconnect
// buffer is off: a publish while disconnected fails at once instead of
// going out after a reconnect, when its publisher was already told no.
func (n *Node) natsOptions() ([]nats.Option, error) {
	c := n.cfg
	opts := []nats.Option{
		nats.Name("ssedge"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if n.closing.Load() {
				return
			}
			n.downSince.Store(time.Now().UnixNano())
			n.log.Warn("cluster: lost the NATS connection; publishes are refused and open streams wait until it returns", zap.Error(err))
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			since := time.Unix(0, n.downSince.Swap(0))
			n.log.Info("cluster: NATS connection back; following the stream from its last sequence",
				zap.String("server", nc.ConnectedUrlRedacted()), zap.Duration("down", time.Since(since)))
			select {
			case n.reconnected <- struct{}{}:
			default:
			}
		}),
	}
	if c.Creds != "" {
		opts = append(opts, nats.UserCredentials(c.Creds))
	}
	if c.TokenFile != "" {
		b, err := os.ReadFile(c.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("%w: --cluster-token-file: %w", ErrConfig, err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return nil, fmt.Errorf("%w: --cluster-token-file %q is empty", ErrConfig, c.TokenFile)
		}
		opts = append(opts, nats.Token(tok))
	}
	if c.TLSCA != "" {
		opts = append(opts, nats.RootCAs(c.TLSCA))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return nil, fmt.Errorf("%w: --cluster-tls-cert and --cluster-tls-key go together", ErrConfig)
	}
	if c.TLSCert != "" {
		opts = append(opts, nats.ClientCert(c.TLSCert, c.TLSKey))
	}
	return opts, nil
}

// ensureStream creates the stream, or brings an existing one's history
// limits in line with this node's (its replicas are left as they are).
func (n *Node) ensureStream(ctx context.Context) error {
	h := n.cfg.Hub.History
	per := int64(h.PerChannel)
	if per == 0 {
		per = pubsub.DefaultHistoryPerChannel
	}
	if per < 0 {
		per = 1 // no history on the nodes: the stream still needs the last event
	}
	age := h.MaxAge
	if age <= 0 {
		age = pubsub.DefaultHistoryAge
	}
	maxBytes := h.MaxBytes
	if maxBytes <= 0 {
		maxBytes = pubsub.DefaultHistoryBytes
	}
	want := jetstream.StreamConfig{
		Name:              n.cfg.Stream,
		Description:       "ssedge events (see ssedge docs/cluster.md)",
		Subjects:          []string{n.prefix + ".*"},
		Storage:           jetstream.FileStorage,
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardOld,
		MaxMsgsPerSubject: per,
		MaxAge:            age,
		MaxBytes:          maxBytes,
		Replicas:          n.cfg.Replicas,
		// JetStream refuses a duplicate window longer than the max age.
		Duplicates: min(2*time.Minute, age),
		// A new stream starts where local mode's clock-seeded ids are now,
		// so ids stay increasing for clients when a site moves from local
		// mode (their resume is then a gap, never "future" or a repeat).
		FirstSeq: uint64(time.Now().UnixMicro()),
	}
	s, err := n.js.Stream(ctx, n.cfg.Stream)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		s, err = n.js.CreateStream(ctx, want)
		if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("cluster: create stream %q: %w", n.cfg.Stream, err)
		}
		if err != nil {
			s, err = n.js.Stream(ctx, n.cfg.Stream)
		}
	case err == nil:
		// An existing stream keeps its limits: they are every node's, and
		// one node started with other history flags (a canary, say) must
		// not change them for all, nor undo a `nats stream edit`. Say so
		// when this node's flags differ, since its memory then does not
		// mirror the stream.
		have := s.CachedInfo().Config
		if have.MaxMsgsPerSubject != want.MaxMsgsPerSubject || have.MaxAge != want.MaxAge || have.MaxBytes != want.MaxBytes {
			n.log.Warn("cluster: the stream's limits differ from this node's history flags; the stream keeps its own (change them with nats stream edit)",
				zap.String("stream", n.cfg.Stream),
				zap.Int64("stream_max_msgs_per_subject", have.MaxMsgsPerSubject), zap.Int64("flag_max_msgs_per_subject", want.MaxMsgsPerSubject),
				zap.Duration("stream_max_age", have.MaxAge), zap.Duration("flag_max_age", want.MaxAge),
				zap.Int64("stream_max_bytes", have.MaxBytes), zap.Int64("flag_max_bytes", want.MaxBytes))
		}
	}
	if err != nil {
		return fmt.Errorf("cluster: stream %q: %w", n.cfg.Stream, err)
	}
	cfg := s.CachedInfo().Config
	if len(cfg.Subjects) != 1 || cfg.Subjects[0] != n.prefix+".*" {
		return fmt.Errorf("%w: stream %q has subjects %q; ssedge needs exactly %q", ErrConfig, n.cfg.Stream, cfg.Subjects, n.prefix+".*")
	}
	n.stream = s
	n.perSubj = cfg.MaxMsgsPerSubject
	return nil
}

// Hub is the node's hub: restored from the stream, fed by Run.
func (n *Node) Hub() *pubsub.Hub { return n.hub }

// Ready reports whether the node can publish: nil while connected to NATS.
func (n *Node) Ready() error {
	if why, ok := n.broken.Load().(string); ok {
		return errors.New(why)
	}
	if st := n.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("cluster: NATS connection %s", strings.ToLower(st.String()))
	}
	return nil
}

// Consumed is the number of events this node has taken from the stream
// (restored ones included).
func (n *Node) Consumed() uint64 { return n.consumed.Load() }

// Known is the newest stream sequence this node knows to exist (from
// acknowledgements, consumed messages and stream info); Known less the
// hub's LastRingID is how far behind the stream the node is.
func (n *Node) Known() uint64 { return n.known.Load() }

// Close closes the NATS connection (and the hub).
func (n *Node) Close() {
	n.closeConn()
	n.hub.Close()
}

// closeConn closes the NATS connection as ours: the disconnect it causes
// is not logged as a lost connection.
func (n *Node) closeConn() {
	n.closing.Store(true)
	n.nc.Close()
}

// noteKnown raises the newest sequence known to exist.
func (n *Node) noteKnown(seq uint64) {
	for {
		k := n.known.Load()
		if seq <= k || n.known.CompareAndSwap(k, seq) {
			return
		}
	}
}

// refreshKnown asks the stream for its last sequence (250 ms at most; not
// while disconnected) and reports whether it got an answer.
func (n *Node) refreshKnown() bool {
	if n.nc.Status() != nats.CONNECTED {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	info, err := n.stream.Info(ctx)
	if err != nil {
		return false
	}
	n.noteKnown(info.State.LastSeq)
	return true
}

// upstream is the hub's Config.Upstream: the newest sequence known to
// exist in the stream (from acknowledgements, consumed messages and stream
// info), without asking anyone: loops call it.
func (n *Node) upstream() uint64 { return n.known.Load() }

// upstreamCheck is the hub's Config.UpstreamCheck: whether id exists in
// the stream, by a look that began at or after since. A client ahead of
// this node asks (a resume, from a loop goroutine, which must not block):
// an id at or below the known sequence exists; otherwise only a look at
// the stream that began after the client asked can say it does not (one
// that began before could miss an id another node issued just before the
// client moved here, and call it future). Such a look is started here, at
// most one at a time, on its own goroutine; until one ends the answer is
// "not known", and the loop asks again (the client's stream stays open).
// While the stream cannot be asked (disconnected) no look ends: the client
// waits rather than get a false gap.
func (n *Node) upstreamCheck(id uint64, since int64) (exists, known bool) {
	// refreshed before known: a look stores known, then refreshed, so a
	// look that ends between the two loads is seen as not ended yet,
	// never as ended with the known sequence from before it.
	refreshed := n.refreshed.Load()
	if id <= n.known.Load() {
		return true, true
	}
	if refreshed >= since {
		return false, true
	}
	if n.nc.Status() != nats.CONNECTED {
		return false, false // no look can end; the loop asks again, and waits
	}
	if n.refreshing.CompareAndSwap(false, true) {
		go func() {
			defer n.refreshing.Store(false)
			start := time.Now().UnixNano()
			if n.refreshKnown() {
				n.refreshed.Store(start)
			}
		}()
	}
	return false, false
}
