package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Routes joins an embedded server with the other boxes' embedded servers
// into one NATS cluster (ssedge serve --cluster embedded --cluster-routes):
// JetStream then replicates the stream across the boxes.
type Routes struct {
	Listen string   // HOST:PORT this box's server accepts the others' routes on
	URLs   []string // nats-route://HOST:PORT of every box (this one may be among them)
	// Secret, when not empty, is required of every route (user "ssedge"):
	// without it anyone who reaches Listen can join the cluster and read
	// and write the stream.
	Secret string
}

// Embedded is a nats-server running in this process (StartEmbedded).
type Embedded struct {
	*server.Server
	// Token is what an in-process client must present: with routes the
	// server also listens for clients on a loopback port (nats-server
	// starts its routes only once a client listener is up), and only this
	// process knows the token.
	Token string
}

// StartEmbedded runs nats-server in this process with JetStream's file
// store in dir (ssedge serve --cluster embedded): history and the id
// sequence survive a restart of ssedge. Without routes it listens on no
// port; the node connects in-process (Config.Embedded). With routes it
// joins the other boxes' servers as a NATS cluster named "ssedge". Stop
// it with Shutdown after the node is closed.
func StartEmbedded(dir string, routes *Routes) (*Embedded, error) {
	if dir == "" {
		return nil, fmt.Errorf("%w: --cluster embedded needs --cluster-dir DIR (the JetStream store)", ErrConfig)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: --cluster-dir: %w", ErrConfig, err)
	}
	opts := &server.Options{
		ServerName: "ssedge-embedded",
		JetStream:  true,
		StoreDir:   dir,
		DontListen: true,
		NoSigs:     true,
		NoLog:      true,
	}
	e := &Embedded{}
	if routes != nil {
		if err := routeOptions(opts, routes, e); err != nil {
			return nil, err
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("cluster: embedded nats-server: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("cluster: embedded nats-server in %q did not start within 30s", dir)
	}
	e.Server = ns
	if routes != nil {
		waitCurrent(ns)
	}
	return e, nil
}

// routeOptions sets opts up for routes: the route listener, the routes
// (with the secret), a server name unique to this box, and a loopback
// client listener guarded by a random token.
func routeOptions(opts *server.Options, r *Routes, e *Embedded) error {
	host, portStr, err := net.SplitHostPort(r.Listen)
	port, perr := strconv.Atoi(portStr)
	if err != nil || perr != nil || port <= 0 || port > 65535 {
		return fmt.Errorf("%w: --cluster-route-listen %q: expected HOST:PORT", ErrConfig, r.Listen)
	}
	if len(r.URLs) == 0 {
		return fmt.Errorf("%w: --cluster-routes: expected nats-route://HOST:PORT[,...]", ErrConfig)
	}
	for _, s := range r.URLs {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || u.Scheme != "nats-route" || u.Host == "" {
			return fmt.Errorf("%w: --cluster-routes %q: expected nats-route://HOST:PORT", ErrConfig, s)
		}
		if r.Secret != "" {
			u.User = url.UserPassword("ssedge", r.Secret)
		}
		opts.Routes = append(opts.Routes, u)
	}
	// NoAdvertise: the boxes' loopback client ports are theirs alone.
	opts.Cluster = server.ClusterOpts{Name: "ssedge", Host: host, Port: port, NoAdvertise: true}
	if r.Secret != "" {
		opts.Cluster.Username, opts.Cluster.Password = "ssedge", r.Secret
	}
	// Unique in the cluster and the same across restarts of this box
	// (JetStream knows its peers by name).
	name, _ := os.Hostname()
	opts.ServerName = "ssedge-" + name + "-" + portStr
	b := make([]byte, 16)
	rand.Read(b)
	e.Token = hex.EncodeToString(b)
	opts.DontListen, opts.Host, opts.Port, opts.Authorization = false, "127.0.0.1", server.RANDOM_PORT, e.Token
	return nil
}

// waitCurrent gives a box that joins running peers (a restart) the time
// to catch its JetStream up with theirs: connecting before that has seen
// the in-process connection dropped. It waits at most 1 s for a route to
// come up (none: the peers are not running yet, or will not let this box
// in), then at most 10 s for JetStream to be current; Open retries past
// that. It polls the server's own state.
func waitCurrent(ns *server.Server) {
	deadline := time.Now().Add(time.Second)
	for ns.NumRoutes() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if ns.NumRoutes() == 0 {
		return
	}
	for deadline = time.Now().Add(10 * time.Second); !ns.JetStreamIsCurrent() && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
}
