package main

// ssedge serve --cluster: the node's hub follows a shared event log on
// NATS JetStream (package pubsub/cluster; docs/cluster.md). Every flag
// here is a config-file key and needs a restart to change.

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/ssedge/ssedge/internal/admin"
	"github.com/ssedge/ssedge/pubsub"
	"github.com/ssedge/ssedge/pubsub/cluster"
	"github.com/ssedge/ssedge/pubsub/ingest"
)

// clusterOptions are the --cluster flags.
type clusterOptions struct {
	servers, dir, stream   string
	creds, tokenFile       string
	tlsCA, tlsCert, tlsKey string
	replicas               int
	publishTimeout         time.Duration
	publisher              ingest.Publisher // set by openCluster: where the publish socket sends publishes
}

func addClusterFlags(fs *flag.FlagSet, o *serveOptions) {
	c := &o.cluster
	fs.StringVar(&c.servers, "cluster", "", "share one event log with other nodes on NATS JetStream: nats://HOST:PORT[,nats://HOST2:PORT...], or embedded (nats-server in this process, with --cluster-dir); see docs/cluster.md (default: local mode, ids from the clock)")
	fs.StringVar(&c.dir, "cluster-dir", "", "with --cluster embedded: the JetStream file store, so history and ids survive a restart")
	fs.StringVar(&c.stream, "cluster-stream", cluster.DefaultStream, "JetStream stream name (its subjects are ssedge.NAME.*)")
	fs.IntVar(&c.replicas, "cluster-replicas", 1, "stream replicas when ssedge creates the stream")
	fs.StringVar(&c.creds, "cluster-creds", "", "NATS credentials file")
	fs.StringVar(&c.tokenFile, "cluster-token-file", "", "file holding a NATS token")
	fs.StringVar(&c.tlsCA, "cluster-tls-ca", "", "CA bundle that verifies the NATS servers' certificates")
	fs.StringVar(&c.tlsCert, "cluster-tls-cert", "", "client certificate for NATS (with --cluster-tls-key)")
	fs.StringVar(&c.tlsKey, "cluster-tls-key", "", "client key for NATS (with --cluster-tls-cert)")
	fs.DurationVar(&c.publishTimeout, "cluster-publish-timeout", 3*time.Second, "longest wait for JetStream's acknowledgement of a publish; past it the publisher is told the outcome is unknown")
}

// checkCluster refuses cluster settings that cannot work.
func (o *serveOptions) checkCluster() error {
	c := &o.cluster
	if c.servers == "" {
		if c.dir != "" {
			return o.blame(errors.New("--cluster-dir needs --cluster embedded"))
		}
		return nil
	}
	if c.servers == "embedded" && c.dir == "" {
		return o.blame(errors.New("--cluster embedded needs --cluster-dir DIR (the JetStream store)"))
	}
	if c.servers != "embedded" {
		for _, u := range strings.Split(c.servers, ",") {
			if !strings.Contains(u, "://") {
				return o.blame(fmt.Errorf("--cluster %q: expected nats://HOST:PORT[,...] or embedded", u))
			}
		}
	}
	if c.servers == "embedded" && o.procs > 1 {
		// The embedded server listens on no port: workers could not reach it.
		return o.blame(errors.New("--cluster embedded with --procs above 1: the workers cannot reach an in-process NATS server; run nats-server and give --cluster its URL, or use one process"))
	}
	if c.replicas < 1 || c.replicas > 5 {
		return o.blame(fmt.Errorf("--cluster-replicas %d: expected 1 to 5", c.replicas))
	}
	if c.publishTimeout <= 0 {
		return o.blame(fmt.Errorf("--cluster-publish-timeout %v: expected a positive duration", c.publishTimeout))
	}
	return nil
}

// openCluster returns the hub to serve: a local one, or in cluster mode the
// node's hub restored from the stream and following it. stop ends the
// following and closes the connection (and the embedded server); call it
// after the subscriber side is closed.
func (o *serveOptions) openCluster(ctx context.Context, log *zap.Logger) (hub *pubsub.Hub, stop func(), err error) {
	if o.cluster.servers == "" {
		hub := pubsub.NewHub(o.hubConfig(0))
		return hub, hub.Close, nil
	}
	return o.startNode(ctx, o.clusterConfig(log), log)
}

// supervisorHub is openCluster for a --procs supervisor: it numbers (or,
// in cluster mode, follows) events and relays them, and serves no
// subscriber. It keeps the history a (re)started worker starts with
// (procs_linux.go); in cluster mode it keeps none, the workers restore
// from the log.
func (o *serveOptions) supervisorHub(ctx context.Context, log *zap.Logger) (hub *pubsub.Hub, stop func(), err error) {
	cfg := o.hubConfig(0)
	if o.cluster.servers == "" {
		hub := pubsub.NewHub(cfg)
		return hub, hub.Close, nil
	}
	ccfg := o.clusterConfig(log)
	ccfg.NoHistory = true
	return o.startNode(ctx, ccfg, log)
}

// workerHub is a --procs worker's hub, fed by the relay (conn, after its
// hello) from seed on; upstream reads the supervisor's newest id. In
// cluster mode it is restored from the stream up to seed first, so a
// resume on the worker is exact from its start, and its newest known id
// is also the stream's. relay is what the hub must follow: conn, or in
// cluster mode what arrived on it during the restore, then conn.
func (o *serveOptions) workerHub(seed uint64, upstream func() uint64, conn net.Conn, log *zap.Logger) (hub *pubsub.Hub, stop func(), relay io.Reader, err error) {
	if o.cluster.servers == "" {
		cfg := o.hubConfig(seed)
		cfg.Upstream = upstream
		hub := pubsub.NewHub(cfg)
		return hub, hub.Close, conn, nil
	}
	cfg := o.clusterConfig(log)
	cfg.Upstream = upstream
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The supervisor goes on relaying while this worker restores; a relay
	// write that blocks for relayStall drops the worker. So read the relay
	// into memory meanwhile.
	sp := spoolRelay(conn)
	node, err := cluster.OpenFollower(ctx, cfg, seed)
	relay = sp.stop()
	if err != nil {
		return nil, nil, nil, err
	}
	adminReady = append(adminReady, admin.ReadyCheck(node.Ready))
	return node.Hub(), node.Close, relay, nil
}

// relaySpool reads a relay socket into memory on its own goroutine.
type relaySpool struct {
	conn net.Conn
	buf  bytes.Buffer // written by the goroutine until done is closed
	err  error        // the read error that ended it
	done chan struct{}
}

func spoolRelay(conn net.Conn) *relaySpool {
	s := &relaySpool{conn: conn, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		b := make([]byte, 64<<10)
		for {
			n, err := conn.Read(b)
			s.buf.Write(b[:n])
			if err != nil {
				s.err = err
				return
			}
		}
	}()
	return s
}

// stop ends the spooling (interrupting its read with a past deadline) and
// returns the relay stream: what was spooled, then the socket; or, if the
// stream ended or failed meanwhile, what was spooled, then that end.
func (s *relaySpool) stop() io.Reader {
	s.conn.SetReadDeadline(time.Unix(1, 0))
	<-s.done
	s.conn.SetReadDeadline(time.Time{})
	if errors.Is(s.err, os.ErrDeadlineExceeded) {
		return io.MultiReader(&s.buf, s.conn)
	}
	if s.err == io.EOF {
		return &s.buf
	}
	return io.MultiReader(&s.buf, errReader{s.err})
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// clusterConfig is the cluster.Config of the flags.
func (o *serveOptions) clusterConfig(log *zap.Logger) cluster.Config {
	c := &o.cluster
	cfg := cluster.Config{Stream: c.stream, Replicas: c.replicas, Creds: c.creds, TokenFile: c.tokenFile,
		TLSCA: c.tlsCA, TLSCert: c.tlsCert, TLSKey: c.tlsKey, PublishTimeout: c.publishTimeout,
		Hub: o.hubConfig(0), Log: log}
	if c.servers != "embedded" {
		cfg.Servers = strings.Split(c.servers, ",")
	}
	return cfg
}

// startNode opens a cluster node (starting the embedded server first if
// asked) and follows the stream on its own goroutine.
func (o *serveOptions) startNode(ctx context.Context, cfg cluster.Config, log *zap.Logger) (hub *pubsub.Hub, stop func(), err error) {
	c := &o.cluster
	var ns *natsserver.Server
	if c.servers == "embedded" {
		if ns, err = cluster.StartEmbedded(c.dir); err != nil {
			return nil, nil, err
		}
		cfg.Embedded = ns
	}
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	node, err := cluster.Open(octx, cfg)
	cancel()
	if err != nil {
		if ns != nil {
			ns.Shutdown()
		}
		return nil, nil, err
	}
	rctx, rcancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		node.Run(rctx)
	}()
	c.publisher = node
	adminReady = append(adminReady, admin.ReadyCheck(node.Ready))
	adminCollectors = append(adminCollectors, clusterCollectors(node)...)
	return node.Hub(), func() {
		rcancel()
		<-done
		node.Close()
		if ns != nil {
			ns.Shutdown()
		}
	}, nil
}

// clusterCollectors are the node's cluster metrics on the admin endpoint.
func clusterCollectors(node *cluster.Node) []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ssedge_cluster_connected",
			Help: "1 while the NATS connection is up (publishes can be acknowledged), 0 otherwise."},
			func() float64 {
				if node.Ready() == nil {
					return 1
				}
				return 0
			}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ssedge_cluster_consumed_events_total",
			Help: "Events this node has taken from the stream (restored at start and followed since)."},
			func() float64 { return float64(node.Consumed()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ssedge_cluster_lag_events",
			Help: "Stream sequences known to exist that this node has not yet put on its ring."},
			func() float64 { return float64(node.Known() - min(node.Known(), node.Hub().LastRingID())) }),
	}
}
