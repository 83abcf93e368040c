package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	"go.uber.org/zap"

	"github.com/ssedge/ssedge/internal/fdpass"
	"github.com/ssedge/ssedge/poller"
	"github.com/ssedge/ssedge/pubsub"
	"github.com/ssedge/ssedge/pubsub/ingest"
)

// upgradeChild is the new process's side, when upgradeEnv is set.
type upgradeChild struct {
	conn  *fdpass.Conn
	state handoffState
	fds   []int
	log   *zap.Logger
	done  bool // the old process has let go
	// history is the snapshot's encoding (pubsub.ReadSnapshot), until the
	// hub has loaded it.
	history []byte
}

// acceptUpgrade connects to the old process if this process was started
// by an upgrade, and receives the state; nil, nil otherwise.
// version is the state document this process reads: handoffVersion for a
// single process, handoffProcsVersion for a --procs supervisor.
func acceptUpgrade(log *zap.Logger, version int) (*upgradeChild, error) {
	v, ok := os.LookupEnv(upgradeEnv)
	if !ok {
		return nil, nil
	}
	os.Unsetenv(upgradeEnv)
	fd, err := strconv.Atoi(v)
	if err != nil {
		return nil, fmt.Errorf("%s=%q: expected a descriptor number", upgradeEnv, v)
	}
	conn, err := fdpass.FromFD(fd)
	if err != nil {
		return nil, err
	}
	c := &upgradeChild{conn: conn, log: log}
	if err := conn.Send(msgHello, []byte(strconv.Itoa(os.Getpid())), nil); err != nil {
		return nil, err
	}
	// A state this binary cannot take: the old process is told why (its
	// failure line says it), then this one exits.
	refuse := func(err error) (*upgradeChild, error) {
		fdpass.CloseFDs(c.fds)
		conn.Send(msgFailed, []byte(err.Error()), nil)
		conn.Close()
		return nil, err
	}
	var doc []byte
	for {
		m, err := conn.Recv(2 * upgradeTimeout)
		if err != nil {
			fdpass.CloseFDs(c.fds)
			return nil, fmt.Errorf("upgrade: receiving the state: %w", err)
		}
		c.fds = append(c.fds, m.FDs...)
		if m.Kind == msgHistory {
			c.history = append(c.history, m.Payload...)
		} else {
			doc = append(doc, m.Payload...)
		}
		if m.Kind == msgEnd {
			break
		}
	}
	if err := unmarshalState(doc, &c.state, &c.state.Conns, len(c.fds)); err != nil {
		return refuse(fmt.Errorf("upgrade: the state: %w", err))
	}
	if c.state.Version != version {
		return refuse(fmt.Errorf("upgrade: state version %d, this binary reads %d here (--procs on one side only?)", c.state.Version, version))
	}
	if err := c.assign(); err != nil {
		return refuse(err)
	}
	upgrades.OK.Store(c.state.Upgrades[0] + 1)
	upgrades.Failed.Store(c.state.Upgrades[1])
	log.Info("upgrade: state received from the old process", zap.Int("old_pid", c.state.PID),
		zap.Int("connections", len(c.state.Conns)), zap.Uint64("last_id", c.state.LastID))
	return c, nil
}

// assign checks the state and gives each received descriptor its place,
// in send's order. A state that does not add up (corrupt, or from a
// binary that writes it otherwise) is an error, never a panic.
func (c *upgradeChild) assign() error {
	if err := c.state.check(len(c.fds)); err != nil {
		return fmt.Errorf("upgrade: the state: %w", err)
	}
	fds := c.fds
	short := false
	take := func() int {
		if len(fds) == 0 {
			short = true
			return -1
		}
		fd := fds[0]
		fds = fds[1:]
		return fd
	}
	for i := range c.state.Listeners {
		ln := &c.state.Listeners[i]
		ln.FDs = make([]int, ln.N)
		for k := range ln.FDs {
			ln.FDs[k] = take()
		}
		ln.Lock = -1
		if ln.HasLock {
			ln.Lock = take()
		}
	}
	c.state.Publish.fds(take)
	if c.state.Admin != nil {
		c.state.Admin.fds(take)
	}
	for i := range c.state.Conns {
		c.state.Conns[i].FD = take()
	}
	if len(fds) != 0 || short {
		return fmt.Errorf("upgrade: %d descriptors received, the state names another count", len(c.fds))
	}
	return nil
}

// openHub is openCluster, or after an upgrade a hub whose ids continue
// after the old process's last.
func (c *upgradeChild) openHub(ctx context.Context, o *serveOptions, log *zap.Logger) (*pubsub.Hub, func(), error) {
	if c == nil {
		return o.openCluster(ctx, log)
	}
	if o.cluster.servers != "" {
		return nil, nil, errors.New("upgrade: cluster mode does not hand over")
	}
	hub, err := historyHub(o, c.history, c.state.LastID)
	if err != nil {
		return nil, nil, fmt.Errorf("upgrade: the history: %w", err)
	}
	c.history = nil
	return hub, hub.Close, nil
}

// listeners replaces binding with the handed-over sockets.
func (c *upgradeChild) listeners(cfg *poller.Config) error {
	if c == nil {
		return nil
	}
	cfg.Listen, cfg.ProxyListen = nil, nil
	for _, ln := range c.state.Listeners {
		in := poller.Inherited{FDs: ln.FDs, Proxy: ln.Proxy}
		if ln.Network == "unix" {
			in.Addr = &net.UnixAddr{Name: ln.Addr, Net: "unix"}
			if ln.HasLock {
				in.Lock = os.NewFile(uintptr(ln.Lock), ln.Addr+".lock")
			}
		} else {
			a, err := net.ResolveTCPAddr("tcp", ln.Addr)
			if err != nil {
				return err
			}
			in.Addr = a
		}
		cfg.Inherited = append(cfg.Inherited, in)
	}
	return nil
}

// importConns gives the loops the connections.
func (c *upgradeChild) importConns(srv *poller.Server) error {
	if c == nil {
		return nil
	}
	return srv.Import(c.state.Conns)
}

// takeOver tells the old process everything is in and this process can
// serve, and waits for it to let go; only then may this process serve.
// Everything that can fail must come before it. A stop (ctx) before
// then gives up, and the old process serves on.
func (c *upgradeChild) takeOver(ctx context.Context) error {
	if c == nil {
		return nil
	}
	if ctx.Err() != nil {
		return errors.New("upgrade: stopped (SIGTERM or SIGINT) before taking over")
	}
	if err := c.conn.Send(msgTookOver, nil, nil); err != nil {
		return err
	}
	m, err := c.conn.Recv(2 * upgradeTimeout)
	if err != nil {
		return fmt.Errorf("upgrade: the old process did not let go: %w", err)
	}
	if m.Kind != msgCommit {
		return fmt.Errorf("upgrade: unexpected message %q", m.Kind)
	}
	c.done = true
	c.conn.Close()
	return nil
}

// failed tells the old process why this one gives up (it then goes on
// serving), unless it has let go already.
func (c *upgradeChild) failed(err error) {
	if c == nil || c.done {
		return
	}
	c.conn.Send(msgFailed, []byte(err.Error()), nil)
	c.conn.Close()
}

// ingestServer opens the publish socket, or serves the handed-over one.
func (c *upgradeChild) ingestServer(o *serveOptions, hub *pubsub.Hub, log *zap.Logger) (*ingest.Server, error) {
	if c == nil {
		return o.ingest(hub, log)
	}
	cfg, err := o.ingestConfig(log)
	if err != nil {
		return nil, err
	}
	// The socket served is the one handed over, wherever the flags say
	// now: a changed --publish-socket takes effect at a restart.
	if p := c.state.Publish.Path; p != cfg.Path {
		log.Warn("upgrade: serving the handed-over publish socket, not --publish-socket (a new path takes a restart)",
			zap.String("publish_socket", p), zap.String("flag", cfg.Path))
		cfg.Path, o.socket = p, p // what this process serves
	}
	ln, lock := c.state.Publish.files()
	return ingest.Adopt(hub, cfg, ln, lock)
}

// adminHandoff carries the handed-over admin endpoint's sockets into
// startAdmin, and the endpoint out of it (for the next upgrade).
func (c *upgradeChild) adminHandoff() *adminHandoff {
	h := &adminHandoff{}
	if c != nil && c.state.Admin != nil {
		h.addr = c.state.Admin.Path
		h.ln, h.lock = c.state.Admin.files()
	}
	return h
}
