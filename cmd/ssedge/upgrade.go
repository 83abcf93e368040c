package main

// A binary upgrade (SIGUSR2, see docs/operations.md "Upgrade"): the
// serving process starts a new process of the binary on disk with the
// same arguments and hands it, over a unix socket pair inherited as a
// descriptor (upgradeEnv names it), the listeners, the publish socket,
// the admin endpoint, every live connection with its state and the id
// counter's position; the new process takes over and the old one exits.
// The new process does everything that can fail (import, publish socket,
// rules, admin endpoint) before it says msgTookOver, and serves nothing
// until msgCommit; the old process can take everything back (Abort) until
// it sends msgCommit, and does so on any failure, a send past its
// deadline, or a stop (SIGTERM). upgrade_linux.go holds the old side
// (and what a supervisor's attempt shares with it: startSuccessor,
// sendState, handOffPublishing, announceNewMain), upgrade_child.go the
// new; this file what they share. Under --procs the supervisors run the
// same exchange without connections, and the workers hand those over
// pairwise (upgrade_procs_linux.go).

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ssedge/ssedge/internal/admin"
	"github.com/ssedge/ssedge/poller"
	"github.com/ssedge/ssedge/pubsub"
)

const (
	// upgradeEnv names the hand-off descriptor in a new process's
	// environment; the new process removes it at once, so that its own
	// children do not see it.
	upgradeEnv = "SSEDGE_UPGRADE_FD"
	// upgradeTimeout bounds each wait of an upgrade: for the new process
	// to start (its hello), and for it to take over once it has
	// everything. Past it the old process goes on serving.
	upgradeTimeout = 10 * time.Second
	// upgradePauseTimeout bounds how long the loops take to stop at the
	// target id.
	upgradePauseTimeout = 5 * time.Second
)

// Hand-off message kinds (internal/fdpass framing).
const (
	msgHello    = 'H' // new → old: started, ready to receive
	msgFDs      = 'F' // old → new: descriptors, in state order (at most fdpass.MaxFDs each)
	msgPart     = 'P' // old → new: a piece of the state document (JSON)
	msgEnd      = 'E' // old → new: the state is complete (after the history's pieces, msgHistory)
	msgTookOver = 'T' // new → old: everything imported and set up; nothing left that can fail
	msgFailed   = 'X' // new → old: cannot take over (payload: why)
	msgCommit   = 'K' // old → new: the old process has let go: serve
)

// upgrades counts upgrade attempts for /metrics.
var upgrades admin.Upgrades

func init() { adminCollectors = append(adminCollectors, &upgrades) }

// upgradeOptions are the upgrade's flags.
type upgradeOptions struct {
	pidFile string
	exe     string // the binary path on disk, resolved at start
}

func addUpgradeFlags(fs *flag.FlagSet, o *upgradeOptions) {
	fs.StringVar(&o.pidFile, "pid-file", "", "write the serving process's PID to this file (SIGUSR2 to it upgrades to the binary on disk; the new process rewrites it); empty: none")
}

// resolveExe finds the binary this process was started from, as a path
// on disk: an upgrade starts whatever file is there then (a new build),
// not this process's own image (/proc/self/exe).
func resolveExe(arg0 string) (string, error) {
	p := arg0
	if !strings.Contains(arg0, "/") {
		var err error
		if p, err = exec.LookPath(arg0); err != nil {
			return "", err
		}
	}
	return filepath.Abs(p)
}

// handedSocket is a socket file (publish socket, admin endpoint) in the
// state: its listener and, for a unix socket, its lock travel as
// descriptors.
type handedSocket struct {
	Path    string `json:"path"`
	HasLock bool   `json:"lock,omitempty"`
	ln      int    // descriptors in the new process
	lock    int
}

// handoffState is the document the old process sends the new one.
// Descriptors travel in this order: every listener's FDs (and a unix
// listener's lock), the publish socket's listener and lock, the admin
// endpoint's listener (and lock), then one per connection.
type handoffState struct {
	Version   int                      `json:"version"`
	PID       int                      `json:"pid"`
	LastID    uint64                   `json:"last_id"` // ids continue from LastID+1
	Listeners []poller.HandoffListener `json:"listeners"`
	Publish   handedSocket             `json:"publish"`
	Admin     *handedSocket            `json:"admin,omitempty"`
	Conns     []poller.HandoffConn     `json:"conns"`
	Upgrades  [2]uint64                `json:"upgrades"` // ok, failed so far
	// Under --procs (handoffProcsVersion): the old supervisor's workers,
	// which the new one must have, and loops per worker, which its workers
	// take on (each TCP listener's sockets are Procs×Loops, worker by
	// worker; upgradeChild.bound). Conns is empty then: each
	// worker hands its own to its successor (upgrade_procs_linux.go).
	Procs int `json:"procs,omitempty"`
	Loops int `json:"loops,omitempty"`
}

// handoffVersion is the state document's version: a new process refuses
// any other (the old one then serves on). 2: the history travels
// (msgHistory) and a unix listener's lock with its socket.
const handoffVersion = 2

// handoffProcsVersion is the state document of a --procs supervisor
// (Procs and Loops set, no connections): a single process refuses it,
// and a supervisor refuses a single process's.
const handoffProcsVersion = 3

// errUpgraded answers a publish that waited while the process handed
// over: it reached no hub; the publisher publishes again on a new
// connection, which the new process serves.
var errUpgraded = fmt.Errorf("%w: this process handed over to a new one (binary upgrade): publish again", pubsub.ErrUnavailable)

// errForwardUnknown answers a publish the old process forwarded to the new
// one whose answer was lost after the command went out: the new process
// may have published it. Publishing it again may make a duplicate; the
// channel's history (Last-Event-ID, /poll) tells.
var errForwardUnknown = fmt.Errorf("%w: forwarded to the new process (binary upgrade), but its answer was lost: the event may or may not be published", pubsub.ErrUnavailable)

// publishGate stands between the publish socket and the hub, so that an
// upgrade can pause publishing at a command boundary: a publish that has
// reached the hub finishes (its publisher gets the id), a new one waits
// until the upgrade ends — then goes on (the upgrade failed) or is
// forwarded to the new process (it succeeded; errUpgraded if that fails).
type publishGate struct {
	hub      *pubsub.Hub
	mu       sync.Mutex
	cond     sync.Cond
	paused   bool
	gone     bool
	waiters  int // publishes waiting while paused
	inflight int
	forward  *forwarder // set with gone: where publishes go from then on
}

func newPublishGate(hub *pubsub.Hub) *publishGate {
	g := &publishGate{hub: hub}
	g.cond.L = &g.mu
	return g
}

// Publish is ingest.Publisher. The key is ignored, as the hub ignores it.
func (g *publishGate) Publish(channel, name, data, key []byte) (uint64, error) {
	g.mu.Lock()
	for g.paused && !g.gone {
		g.waiters++
		g.cond.Wait()
		g.waiters--
	}
	if g.gone {
		fw := g.forward
		g.mu.Unlock()
		if fw == nil {
			return 0, errUpgraded
		}
		return fw.publish(channel, name, data)
	}
	g.inflight++
	g.mu.Unlock()
	id, err := g.hub.Publish(channel, name, data)
	g.mu.Lock()
	if g.inflight--; g.inflight == 0 {
		g.cond.Broadcast()
	}
	g.mu.Unlock()
	return id, err
}

// waiting counts the publishes waiting at the gate (for tests).
func (g *publishGate) waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.waiters
}

// pause stops new publishes and waits for those under way: the hub's
// last id is then final until resume.
func (g *publishGate) pause() {
	g.mu.Lock()
	g.paused = true
	for g.inflight > 0 {
		g.cond.Wait()
	}
	g.mu.Unlock()
}

func (g *publishGate) resume() {
	g.mu.Lock()
	g.paused = false
	g.cond.Broadcast()
	g.mu.Unlock()
}

// handOff sends every waiting and later publish to the new process
// through the publish socket at path.
func (g *publishGate) handOff(path string) {
	g.mu.Lock()
	g.gone = true
	g.forward = &forwarder{path: path}
	g.cond.Broadcast()
	g.mu.Unlock()
}

// writePidFile writes pid to path atomically (a reader never sees it
// half written).
func writePidFile(path string, pid int) error {
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid()) // the old and the new process may both write it
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return fmt.Errorf("--pid-file %q: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("--pid-file %q: %w", path, err)
	}
	return nil
}

// removePidFile removes path if it still names pid (after an upgrade it
// names the new process, which must keep it).
func removePidFile(path string, pid int) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n == pid {
		os.Remove(path)
	}
}

// fds takes the socket's descriptors (listener, then lock) from take.
func (s *handedSocket) fds(take func() int) {
	s.ln = take()
	s.lock = -1
	if s.HasLock {
		s.lock = take()
	}
}

// files wraps the descriptors.
func (s *handedSocket) files() (ln, lock *os.File) {
	ln = os.NewFile(uintptr(s.ln), s.Path)
	if s.lock >= 0 {
		lock = os.NewFile(uintptr(s.lock), s.Path+".lock")
	}
	return ln, lock
}

// adminHandoff: see upgradeChild.adminHandoff.
type adminHandoff struct {
	addr     string // the handed endpoint's --admin-listen, served instead of the flag's
	ln, lock *os.File
	srv      *admin.Server
}

func (o *serveOptions) writePidFile() error {
	if o.upgrade.pidFile == "" {
		return nil
	}
	return writePidFile(o.upgrade.pidFile, os.Getpid())
}

func (o *serveOptions) removePidFile() {
	if o.upgrade.pidFile != "" {
		removePidFile(o.upgrade.pidFile, os.Getpid())
	}
}

// Bounds of a state document, checked before anything in it is used.
const (
	maxHandedListeners = 1024
	maxHandedSockets   = 4096 // per listener: one per loop
)

// check reports a state that does not add up: counts out of range, kinds
// this binary does not know, descriptors other than nfds in all.
func (st *handoffState) check(nfds int) error {
	if len(st.Listeners) > maxHandedListeners {
		return fmt.Errorf("%d listeners, at most %d", len(st.Listeners), maxHandedListeners)
	}
	want := 0
	for _, ln := range st.Listeners {
		switch {
		case ln.Network != "tcp" && ln.Network != "unix":
			return fmt.Errorf("listener %q: network %q, expected tcp or unix", ln.Addr, ln.Network)
		case ln.N < 1 || ln.N > maxHandedSockets:
			return fmt.Errorf("listener %q: %d sockets, expected 1 to %d", ln.Addr, ln.N, maxHandedSockets)
		case ln.HasLock && ln.Network != "unix":
			return fmt.Errorf("listener %q: a lock for a %s listener", ln.Addr, ln.Network)
		}
		want += ln.N
		if ln.HasLock {
			want++
		}
	}
	for _, s := range []*handedSocket{&st.Publish, st.Admin} {
		if s == nil {
			continue
		}
		if s.Path == "" {
			return errors.New("a handed socket without a path")
		}
		want++
		if s.HasLock {
			want++
		}
	}
	if err := checkConns(st.Conns); err != nil {
		return err
	}
	if want += len(st.Conns); want != nfds {
		return fmt.Errorf("%d descriptors received, the state names %d", nfds, want)
	}
	return nil
}

// checkConns checks the handed connections' kinds and loops.
func checkConns(conns []poller.HandoffConn) error {
	for i, c := range conns {
		if c.Kind < poller.HandoffStream || c.Kind > poller.HandoffResponding {
			return fmt.Errorf("connection %d: kind %d, expected %d to %d", i, c.Kind, poller.HandoffStream, poller.HandoffResponding)
		}
		if c.Loop < 0 {
			return fmt.Errorf("connection %d: loop %d", i, c.Loop)
		}
	}
	return nil
}

// unmarshalState decodes a hand-off document (doc into v) whose
// connections (*conns, inside v) number at most n, the descriptors
// received. The slice is made first: growing it by reflection, entry by
// entry, was a twentieth of a worker's hand-off at 15k connections. The
// collector waits meanwhile: a new process's heap is small, and the
// decoded state, a few hundred bytes a connection, would run it again and
// again while publishing is paused.
func unmarshalState(doc []byte, v any, conns *[]poller.HandoffConn, n int) error {
	*conns = make([]poller.HandoffConn, 0, n)
	gc := debug.SetGCPercent(-1)
	defer debug.SetGCPercent(gc)
	return json.Unmarshal(doc, v)
}
