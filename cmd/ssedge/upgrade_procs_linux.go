package main

// Binary upgrade under --procs (SIGUSR2 to the supervisor): the single
// process's upgrade (upgrade.go), with the connections moving worker to
// worker. The actors: the old supervisor S1 and its workers W1_i, the new
// supervisor S2 (started by S1 from the binary on disk, as a single
// process starts its successor) and its workers W2_i.
//
//  1. S1 starts S2 (upgradeEnv); S2 says msgHello.
//  2. S1 pauses its publish gate at T = hub.LastID() and sends S2 its
//     listening sockets (poller.Bound.Handoff: every worker's, in worker
//     order), the publish socket, the admin endpoint and the history at T
//     (state version handoffProcsVersion, no connections).
//  3. S2 builds its hub at T with that history, its Bound from the
//     sockets (poller.BoundFrom: W2_i gets the very sockets W1_i has) and
//     starts W2_i in takeover mode (workerTakeoverEnv, a control socket
//     each). Its publish socket serves nobody yet (ingest.Adopt).
//  4. W2_i reads the relay hello (at T, or it fails), builds its server
//     without starting it, listens on the abstract name
//     handoffName(S1's pid, i) and says msgBound on its control socket.
//  5. With every W2 bound, S2 says msgBound (with the W2 pids) to S1,
//     which sends SIGUSR2 to each W1_i: W1_i connects to that name (the
//     peer must be its own user), gets msgHello with T, pauses its loops
//     at T (its hub gets there through S1's relay) and sends its
//     connections as the single process does (descriptors, then the
//     document), nothing else.
//  6. W2_i imports them and says msgTookOver to S2 (or msgFailed: why).
//  7. With every W2 in, S2 says msgTookOver to S1 (or fails: it exits,
//     and S1 hears msgFailed or the close).
//  8. S1 decides. Commit: msgCommit to S2, then as a single process (the
//     pid file and MAINPID name S2, publishes go forward to S2, sockets
//     disowned); its workers then exit, and it exits 0 once they have.
//     Anything else: S1 kills S2 and the W2s, resumes its gate and serves
//     on; a W2 not killed sees its control socket close and exits without
//     serving, and each W1 sees its hand-off socket close and takes
//     everything back (poller.Handoff.Abort).
//  9. S2 passes msgCommit to each W2_i, which passes it to W1_i, then
//     starts its loops and follows the relay; W1_i lets go
//     (Handoff.Commit) and exits. S2 serves its publish socket.
//
// A W1 waits for the verdict without a time limit: it takes its
// connections back only when W2's end closes without msgCommit, and W2
// starts only after sending msgCommit, so no connection is ever served
// by both. W2's end closes when W2 gives up, which it does when S2's
// control socket closes (S2 failed, or S1 killed it), or when S1 kills
// it on a failure.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/ssedge/ssedge/internal/admin"
	"github.com/ssedge/ssedge/internal/fdpass"
	"github.com/ssedge/ssedge/poller"
	"github.com/ssedge/ssedge/pubsub"
	"github.com/ssedge/ssedge/pubsub/ingest"
)

// msgBound: new worker → new supervisor, and new supervisor → old: the
// new workers are ready to receive the old workers' connections.
const msgBound = 'B'

// workerTakeoverEnv tells a new worker to take over its predecessor's
// connections before it serves: "S1PID:T:FD" (FD its control socket).
const workerTakeoverEnv = "SSEDGE_WORKER_TAKEOVER"

// workerHandoffVersion is the version of the document a worker sends its
// successor.
const workerHandoffVersion = 1

// handoffName is the abstract unix socket name on which the successor of
// worker index of the supervisor oldPid waits.
func handoffName(oldPid int, index string) string {
	return fmt.Sprintf("ssedge-handoff/%d/%s", oldPid, index)
}

// workerState is what a worker sends its successor: its connections,
// paused at LastID.
type workerState struct {
	Version int                  `json:"version"`
	PID     int                  `json:"pid"`
	LastID  uint64               `json:"last_id"`
	Conns   []poller.HandoffConn `json:"conns"`
}

// procsUpgrader is the old supervisor's side.
type procsUpgrader struct {
	upgradeLatch

	s    *supervisor
	o    *serveOptions
	log  *zap.Logger
	hub  *pubsub.Hub
	in   *ingest.Server
	gate *publishGate
}

// run handles SIGUSR2 for a supervisor (upgradeLatch.loop).
func (u *procsUpgrader) run(ctx context.Context, sig <-chan os.Signal, done chan<- struct{}) {
	u.loop(ctx, sig, done, u.attempt)
}

// attempt upgrades the supervisor and its workers once; false: nothing
// moved and everything serves on here (logged and counted).
func (u *procsUpgrader) attempt(ctx context.Context) bool {
	begin := time.Now()
	u.log.Info("SIGUSR2: upgrading to the binary on disk", zap.String("binary", u.o.upgrade.exe), zap.Int("procs", u.o.procs))
	sc, step, err := startSuccessor(ctx, u.o.upgrade.exe, "new supervisor")
	if err != nil {
		return upgradeFailed(u.log, step, err)
	}
	defer sc.close()
	conn, child, why := sc.conn, sc.child, sc.why
	if err := child.expect(conn, msgHello); err != nil {
		return upgradeFailed(u.log, why("the new supervisor did not start"), err)
	}
	started := time.Now()
	// Nothing is published from here on: every worker's hub reaches T
	// through the relay and stays there.
	u.gate.pause()
	target := u.hub.LastID()
	var release func(committed bool) // set while worker restarts are held
	abort := func(what string, err error) bool {
		child.kill() // its workers see their control sockets close; ours take everything back
		if release != nil {
			release(false)
		}
		u.gate.resume()
		return upgradeFailed(u.log, why(what), err)
	}
	conn.SetSendDeadline(time.Now().Add(upgradeTimeout))
	if err := u.send(conn, target); err != nil {
		return abort(fmt.Sprintf("cannot hand the state over within %v (the new supervisor does not read it?)", upgradeTimeout), err)
	}
	sent := time.Now()
	pids, err := child.expectPayload(conn, msgBound)
	if err != nil {
		return abort("the new workers did not start", err)
	}
	child.adopt(pids)
	bound := time.Now()
	// From the signal on, a worker that exits may have handed its
	// connections over: it is restarted only if the upgrade fails (a
	// worker restarted meanwhile would serve the listening sockets beside
	// its successor, and hand nothing over).
	release = u.s.holdRestarts()
	if err := u.s.signalWorkers(syscall.SIGUSR2); err != nil {
		return abort("cannot ask every worker to hand over", err)
	}
	if err := child.expect(conn, msgTookOver); err != nil {
		return abort("the new workers did not take over", err)
	}
	took := time.Now()
	if !sc.commit() {
		return abort("the new supervisor was ready", ctx.Err())
	}
	conn.SetSendDeadline(time.Now().Add(upgradeTimeout))
	if err := conn.Send(msgCommit, nil, nil); err != nil {
		return abort("cannot tell the new supervisor to serve", err)
	}
	release(true) // no worker is restarted: each has handed over
	// The admin endpoint closes now, not at the exit: this supervisor
	// waits for its workers to exit first, and a scrape or readiness
	// probe meanwhile is the new supervisor's to answer.
	var adm *admin.Server
	if a := u.o.adminHandoff; a != nil {
		adm = a.srv
	}
	handOffPublishing(u.in, u.gate, adm)
	u.s.bound.Disown()
	// Named last: whoever reads the pid file finds the new supervisor
	// answering on every socket.
	newPid := child.cmd.Process.Pid
	announceNewMain(u.o, u.log, newPid)
	u.log.Info("upgraded: the new supervisor and its workers serve every listener and connection; this one exits",
		zap.Int("new_pid", newPid), zap.Uint64("last_id", target),
		zap.Duration("new_process_start", started.Sub(begin)), zap.Duration("send", sent.Sub(started)),
		zap.Duration("new_workers_start", bound.Sub(sent)), zap.Duration("workers_handoff", took.Sub(bound)),
		zap.Duration("publishing_paused", time.Since(started)), zap.Duration("elapsed", time.Since(begin)))
	cctx, ccancel := context.WithTimeout(context.Background(), publishCloseTimeout)
	u.in.Close(cctx)
	ccancel()
	return true
}

// send hands the supervisor's state over: the listening sockets, the
// publish socket and the admin endpoint, then the document and the
// history at last.
func (u *procsUpgrader) send(conn *fdpass.Conn, last uint64) error {
	lns, done, err := u.s.bound.Handoff()
	if err != nil {
		return err
	}
	defer done()
	st := handoffState{Version: handoffProcsVersion, PID: os.Getpid(), LastID: last, Listeners: lns,
		Publish: handedSocket{Path: u.in.Path()}, Procs: u.o.procs, Loops: u.o.loops,
		Upgrades: [2]uint64{upgrades.OK.Load(), upgrades.Failed.Load()}}
	var adm *admin.Server
	if a := u.o.adminHandoff; a != nil {
		adm = a.srv
	}
	return sendState(conn, &st, u.in, adm, u.o.adminListen, nil, u.hub)
}

// adopt takes the new supervisor's worker pids (msgBound's payload), to
// kill them with it if the upgrade fails. A pidfd is opened for each at
// once, while each is alive (it just said it is bound), so a later kill
// reaches that process and no other.
func (p *newProcess) adopt(payload []byte) {
	var ws []*os.Process
	for _, f := range strings.Fields(string(payload)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			if w, err := os.FindProcess(pid); err == nil {
				ws = append(ws, w)
			}
		}
	}
	p.mu.Lock()
	p.workers = ws
	p.mu.Unlock()
}

// signalWorkers sends sig to every worker; an error if one is not
// running and ready (being restarted): it could not hand over (and one
// still starting may not catch the signal yet).
func (s *supervisor) signalWorkers(sig os.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reloads.ready) != s.o.procs {
		return fmt.Errorf("%d of %d workers ready (one is being restarted)", len(s.reloads.ready), s.o.procs)
	}
	for i, p := range s.reloads.ready {
		if err := p.Signal(sig); err != nil {
			return fmt.Errorf("worker %d: %w", i, err)
		}
	}
	return nil
}

// holdRestarts makes a worker that exits wait (in isStopping) before it
// is restarted, until release: release(true) stops the supervisor (no
// worker is restarted: the upgrade committed), release(false) lets the
// restarts go on.
func (s *supervisor) holdRestarts() (release func(committed bool)) {
	c := make(chan struct{})
	s.mu.Lock()
	s.commit = c
	s.mu.Unlock()
	return func(committed bool) {
		s.mu.Lock()
		if committed && !s.stopping {
			s.stopping = true
			close(s.quit)
		}
		s.commit = nil
		s.mu.Unlock()
		close(c)
	}
}

// handedOverExit is the old supervisor's end after a commit: its workers
// exit by themselves once their successors have their connections; one
// that has not after upgradeTimeout is killed. Nothing handed over is
// closed or removed here.
func (s *supervisor) handedOverExit(stopRelay context.CancelFunc, relayDone <-chan struct{}) {
	// The relay ends first: a worker that committed exits as it would; one
	// whose successor died before the commit and that took its
	// connections back starts its drain at once (its hub is frozen here,
	// publishes go to the new supervisor: its clients get the retry frame
	// within --drain-window and resume on the new workers) instead of
	// serving streams without events beside the restarted successor; one
	// still there after upgradeTimeout is killed.
	stopRelay()
	s.waitOrKill(s.wg.Wait, upgradeTimeout, "old worker did not exit after handing over; killing it")
	<-relayDone
}

// takeover is the new supervisor's part: the control socket of each new
// worker.
type takeover struct {
	up    *upgradeChild
	env   string         // workerTakeoverEnv's value but the descriptor
	ctl   []*fdpass.Conn // this end, per worker
	child []*os.File     // the worker's end, until it is started
	// committed is set once the old supervisor has let go: a new worker
	// that dies from then on is restarted as any other. verdict is closed
	// when run has returned, committed or not.
	committed atomic.Bool
	verdict   chan struct{}
	// pids lists the workers' pids (for msgBound: the old supervisor kills
	// them with this one if the upgrade fails).
	pids func() string
}

// waitCommitted waits for the take-over's outcome and reports whether it
// committed; false without one.
func (t *takeover) waitCommitted() bool {
	if t == nil {
		return false
	}
	<-t.verdict
	return t.committed.Load()
}

func newTakeover(up *upgradeChild, procs int) (*takeover, error) {
	t := &takeover{up: up, env: fmt.Sprintf("%d:%d", up.state.PID, up.state.LastID), verdict: make(chan struct{})}
	for range procs {
		c, f, err := fdpass.Pair()
		if err != nil {
			t.close()
			return nil, err
		}
		t.ctl, t.child = append(t.ctl, c), append(t.child, f)
	}
	return t, nil
}

func (t *takeover) close() {
	for _, c := range t.ctl {
		c.Close()
	}
	for _, f := range t.child {
		if f != nil {
			f.Close()
		}
	}
}

// workerFile is the control socket to pass to worker i on its first
// start (nil after it: a restarted worker starts as usual), and the
// environment that names it as descriptor fd.
func (t *takeover) workerFile(i, fd int) (*os.File, string) {
	if t == nil || t.child[i] == nil {
		return nil, ""
	}
	return t.child[i], fmt.Sprintf("%s=%s:%d", workerTakeoverEnv, t.env, fd)
}

// started closes this process's copy of worker i's end, once forked.
func (t *takeover) started(i int) {
	if t != nil && t.child[i] != nil {
		t.child[i].Close()
		t.child[i] = nil
	}
}

// run takes over from the old supervisor: every new worker bound, then
// every one holding its predecessor's connections, then the old
// supervisor's commit, passed on to each worker. An error before the
// commit: nothing is served here and the old processes serve on.
func (t *takeover) run(ctx context.Context, log *zap.Logger) error {
	// The workers' first starts have their control sockets now.
	expectAll := func(kind byte, what string, within time.Duration) error {
		deadline := time.Now().Add(within)
		for i, c := range t.ctl {
			m, err := c.Recv(max(time.Until(deadline), time.Millisecond))
			if err == nil {
				fdpass.CloseFDs(m.FDs)
				switch m.Kind {
				case kind:
					continue
				case msgFailed:
					err = fmt.Errorf("it says: %s", m.Payload)
				default:
					err = fmt.Errorf("unexpected message %q", m.Kind)
				}
			}
			if errors.Is(err, fdpass.ErrClosed) {
				err = errors.New("it exited (its log is above)")
			}
			return fmt.Errorf("upgrade: new worker %d %s: %w", i, what, err)
		}
		return nil
	}
	if err := expectAll(msgBound, "did not start", upgradeTimeout); err != nil {
		return err
	}
	if err := t.up.conn.Send(msgBound, []byte(t.pids()), nil); err != nil {
		return fmt.Errorf("upgrade: telling the old supervisor: %w", err)
	}
	if err := expectAll(msgTookOver, "did not take over", upgradeTimeout+upgradePauseTimeout); err != nil {
		return err
	}
	if err := t.up.takeOver(ctx); err != nil {
		return err
	}
	t.committed.Store(true)
	for i, c := range t.ctl {
		c.SetSendDeadline(time.Now().Add(upgradeTimeout))
		if err := c.Send(msgCommit, nil, nil); err != nil {
			// It died after taking over: its predecessor's connections
			// end with it; it is restarted warm (keep).
			log.Error("upgrade: new worker not told to serve", zap.Int("worker", i), zap.Error(err))
		}
		c.Close()
	}
	return nil
}

// workerTakeover is a new worker's part, when workerTakeoverEnv is set.
type workerTakeover struct {
	oldPid int
	last   uint64
	ctl    *fdpass.Conn
}

func workerTakeoverFromEnv() (*workerTakeover, error) {
	v, ok := os.LookupEnv(workerTakeoverEnv)
	if !ok {
		return nil, nil
	}
	os.Unsetenv(workerTakeoverEnv)
	parts := strings.Split(v, ":")
	var pid, fd int
	var last uint64
	var err error
	if len(parts) == 3 {
		if pid, err = strconv.Atoi(parts[0]); err == nil {
			if last, err = strconv.ParseUint(parts[1], 10, 64); err == nil {
				fd, err = strconv.Atoi(parts[2])
			}
		}
	}
	if len(parts) != 3 || err != nil {
		return nil, fmt.Errorf("%s=%q: expected PID:ID:FD", workerTakeoverEnv, v)
	}
	ctl, err := fdpass.FromFD(fd)
	if err != nil {
		return nil, err
	}
	return &workerTakeover{oldPid: pid, last: last, ctl: ctl}, nil
}

// fail tells the new supervisor why this worker gives up.
func (w *workerTakeover) fail(err error) error {
	w.ctl.Send(msgFailed, []byte(err.Error()), nil)
	w.ctl.Close()
	return err
}

// run takes over its predecessor's connections into srv (not started)
// and waits for the commit; nil: serve. On an error the worker exits
// without serving; its predecessor takes everything back.
func (w *workerTakeover) run(srv *poller.Server, index string, log *zap.Logger) error {
	ln, err := fdpass.Listen(handoffName(w.oldPid, index))
	if err != nil {
		return w.fail(err)
	}
	defer ln.Close()
	if err := w.ctl.Send(msgBound, nil, nil); err != nil {
		return w.fail(err)
	}
	// The old supervisor signals its worker once every new one is bound:
	// two upgrade timeouts cover its wait for the others.
	conn, err := ln.AcceptWatching(2*upgradeTimeout, w.ctl) // the new supervisor gone (a failed upgrade): stop waiting
	if err != nil {
		return w.fail(fmt.Errorf("the old worker did not connect: %w", err))
	}
	defer conn.Close()
	ln.Close()
	accepted := time.Now()
	if err := conn.Send(msgHello, []byte(strconv.FormatUint(w.last, 10)), nil); err != nil {
		return w.fail(err)
	}
	var fds []int
	var doc []byte
	for {
		m, err := conn.Recv(upgradeTimeout + upgradePauseTimeout)
		if err != nil {
			fdpass.CloseFDs(fds)
			return w.fail(fmt.Errorf("receiving the old worker's connections: %w", err))
		}
		fds = append(fds, m.FDs...)
		doc = append(doc, m.Payload...)
		if m.Kind == msgEnd {
			break
		}
	}
	received := time.Now()
	var st workerState
	err = unmarshalState(doc, &st, &st.Conns, len(fds))
	switch {
	case err != nil:
	case st.Version != workerHandoffVersion:
		err = fmt.Errorf("version %d, this binary reads %d", st.Version, workerHandoffVersion)
	case st.LastID != w.last:
		err = fmt.Errorf("paused at id %d, not %d", st.LastID, w.last)
	case len(st.Conns) != len(fds):
		err = fmt.Errorf("%d descriptors for %d connections", len(fds), len(st.Conns))
	default:
		err = checkConns(st.Conns)
	}
	if err != nil {
		fdpass.CloseFDs(fds)
		return w.fail(fmt.Errorf("the old worker's state: %w", err))
	}
	for i := range st.Conns {
		st.Conns[i].FD = fds[i]
	}
	if err := srv.Import(st.Conns); err != nil {
		for _, c := range st.Conns {
			if c.FD >= 0 {
				unix.Close(c.FD)
			}
		}
		return w.fail(err)
	}
	imported := time.Now()
	if err := w.ctl.Send(msgTookOver, nil, nil); err != nil {
		return w.fail(err)
	}
	log.Debug("upgrade: holding the old worker's connections, waiting for the commit", zap.Int("pid", os.Getpid()), zap.Int("connections", len(st.Conns)))
	// The verdict: msgCommit, or the new supervisor's end closing (it gave
	// up or was killed), however long that takes.
	m, err := w.ctl.Recv(0)
	w.ctl.Close()
	if err == nil && m.Kind != msgCommit {
		err = fmt.Errorf("unexpected message %q", m.Kind)
	}
	if err != nil {
		return fmt.Errorf("upgrade: no commit from the new supervisor: %w", err)
	}
	// The old worker lets go first; it writes nothing meanwhile (paused).
	conn.SetSendDeadline(time.Now().Add(upgradeTimeout))
	if err := conn.Send(msgCommit, nil, nil); err != nil {
		log.Warn("upgrade: the old worker was not told (it is gone?)", zap.Error(err))
	}
	log.Info("upgrade: took over the old worker's connections", zap.Int("old_pid", st.PID), zap.Int("connections", len(st.Conns)), zap.Uint64("last_id", st.LastID),
		zap.Duration("receive", received.Sub(accepted)), zap.Duration("import", imported.Sub(received)), zap.Duration("commit_wait", time.Since(imported)))
	return nil
}

// handToSuccessor is an old worker's part, on SIGUSR2 from its
// supervisor: true once its successor has its connections (srv is then
// closed and the worker exits).
func handToSuccessor(srv *poller.Server, hub *pubsub.Hub, index string, log *zap.Logger) (bool, error) {
	conn, err := fdpass.Dial(handoffName(os.Getppid(), index))
	if err != nil {
		return false, fmt.Errorf("no new worker waits (a SIGUSR2 not from an upgrade?): %w", err)
	}
	defer conn.Close()
	// The name is public in the network namespace (another instance's
	// supervisor may have this one's pid in its own pid namespace): the
	// peer must be a worker of a supervisor this one's supervisor
	// started.
	if err := successorOf(conn, os.Getppid()); err != nil {
		return false, err
	}
	m, err := conn.Recv(upgradeTimeout)
	if err != nil {
		return false, err
	}
	fdpass.CloseFDs(m.FDs)
	last, perr := strconv.ParseUint(string(m.Payload), 10, 64)
	if m.Kind != msgHello || perr != nil {
		return false, fmt.Errorf("unexpected message %q %q", m.Kind, m.Payload)
	}
	begin := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), upgradePauseTimeout)
	h, err := srv.Pause(ctx, last)
	cancel()
	if err != nil {
		return false, err
	}
	// Publishing is paused at the old supervisor, so this worker's hub
	// stops at the successor's seam; anything else (a worker ahead, a
	// peer from elsewhere) would lose or repeat events.
	paused := time.Now()
	if mine := hub.LastID(); mine != last {
		h.Abort()
		return false, fmt.Errorf("the new worker starts after id %d, this one is at %d", last, mine)
	}
	conn.SetSendDeadline(time.Now().Add(upgradeTimeout))
	fds := make([]int, len(h.Conns))
	for i, c := range h.Conns {
		fds[i] = c.FD
	}
	err = sendDoc(conn, fds, &workerState{Version: workerHandoffVersion, PID: os.Getpid(), LastID: last, Conns: h.Conns})
	if err == nil {
		err = conn.Send(msgEnd, nil, nil)
	}
	if err != nil {
		h.Abort()
		return false, err
	}
	sent := time.Now()
	// No time limit: see the file's comment.
	m, err = conn.Recv(0)
	if err == nil && m.Kind == msgCommit {
		verdict := time.Now()
		h.Commit()
		log.Info("handed every connection to the new worker; exiting", zap.Int("connections", len(h.Conns)),
			zap.Uint64("last_id", last), zap.Duration("pause", paused.Sub(begin)), zap.Duration("send", sent.Sub(paused)),
			zap.Duration("commit_wait", verdict.Sub(sent)), zap.Duration("elapsed", time.Since(begin)))
		return true, nil
	}
	h.Abort()
	if err == nil {
		err = fmt.Errorf("unexpected message %q", m.Kind)
	}
	return false, fmt.Errorf("the new worker gave up, everything is back: %w", err)
}

// supervisorHub is o.supervisorHub, or after an upgrade a hub whose ids
// continue after the old supervisor's last, with its history.
func (c *upgradeChild) supervisorHub(ctx context.Context, o *serveOptions, log *zap.Logger) (*pubsub.Hub, func(), error) {
	if c == nil {
		return o.supervisorHub(ctx, log)
	}
	if o.cluster.servers != "" {
		return nil, nil, errors.New("upgrade: cluster mode does not hand over")
	}
	hub, err := historyHub(o, c.history, c.state.LastID, func(h *pubsub.Hub) { h.SetHistoryLimits(historyLimits(o.rules)) })
	if err != nil {
		return nil, nil, fmt.Errorf("upgrade: the history: %w", err)
	}
	c.history = nil
	return hub, hub.Close, nil
}

// bound is the old supervisor's listening sockets, for as many workers:
// new worker i gets old worker i's. A worker runs one loop per TCP
// socket it is given, so the new workers run the old workers' loop count
// (each TCP listener's sockets over the workers; the state's Loops is
// only compared, as an older supervisor named its --loops there even
// when its workers ran another count): a changed --loops is logged and
// takes effect at a restart, and o.loops becomes the count that runs,
// which this supervisor reports and hands on. With only unix listeners a
// worker runs its own --loops.
func (c *upgradeChild) bound(o *serveOptions, log *zap.Logger) (*poller.Bound, error) {
	if c.state.Procs != o.procs {
		return nil, fmt.Errorf("upgrade: the old supervisor runs %d workers, this one is to run %d (--procs changes take a restart)", c.state.Procs, o.procs)
	}
	b, err := poller.BoundFrom(c.state.Listeners, o.procs)
	if err != nil {
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	loops := 0
	for _, ln := range c.state.Listeners {
		if ln.Network != "tcp" {
			continue
		}
		if n := ln.N / o.procs; loops == 0 {
			loops = n
		} else if n != loops {
			b.Disown() // the socket files stay the old supervisor's
			b.Close()
			return nil, fmt.Errorf("upgrade: the handed-over TCP listeners have %d and %d sockets per worker, expected the same count (one per loop)", loops, n)
		}
	}
	if loops > 0 && loops != o.loops {
		log.Warn("upgrade: the handed-over listening sockets are split for the old loop count: the workers run that many (a new --loops takes a restart)",
			zap.Int("loops_per_proc", loops), zap.Int("flag", o.loops), zap.Int("state", c.state.Loops))
		o.loops = loops
	}
	return b, nil
}

// successorOf checks that the peer of conn descends from supervisor: a
// new worker of the new supervisor the old one started (its grandchild),
// or a process the old supervisor started itself (its child).
func successorOf(conn *fdpass.Conn, supervisor int) error {
	pid, err := conn.PeerPID()
	if err != nil {
		return err
	}
	parent, err := parentOf(pid)
	if err == nil && parent != supervisor {
		var grand int
		if grand, err = parentOf(parent); err == nil && grand != supervisor {
			err = fmt.Errorf("neither it nor its parent %d was started by this worker's supervisor %d", parent, supervisor)
		}
	}
	if err != nil {
		return fmt.Errorf("the process %d waiting for this worker's connections is not its successor: %w", pid, err)
	}
	return nil
}

// parentOf reads a process's parent pid from /proc/PID/stat.
func parentOf(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, fmt.Errorf("/proc/%d/stat: too short", pid)
	}
	return strconv.Atoi(f[1])
}
