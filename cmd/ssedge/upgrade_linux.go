package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/ssedge/ssedge/internal/admin"
	"github.com/ssedge/ssedge/internal/fdpass"
	"github.com/ssedge/ssedge/poller"
	"github.com/ssedge/ssedge/pubsub"
	"github.com/ssedge/ssedge/pubsub/ingest"
)

// sdBarrierTimeout bounds the wait for systemd to confirm MAINPID=.
const sdBarrierTimeout = 5 * time.Second

// upgrader is the old process's side: on each SIGUSR2 it tries once.
type upgrader struct {
	upgradeLatch

	o     *serveOptions
	log   *zap.Logger
	hub   *pubsub.Hub
	srv   *poller.Server
	in    *ingest.Server
	gate  *publishGate
	admin *admin.Server // nil without --admin-listen
}

// upgradeLatch runs a server's upgrade attempts, one at a time. mu is
// held during an attempt, and by a shutdown (stopping) so that a SIGTERM
// during an upgrade waits for its outcome instead of closing sockets a
// new process may have taken.
type upgradeLatch struct {
	mu       sync.Mutex
	upgraded bool // guarded by mu: the new process took over
}

// loop handles SIGUSR2 until ctx ends or an attempt succeeds; then it
// closes done (the process exits without touching what it handed over).
func (l *upgradeLatch) loop(ctx context.Context, sig <-chan os.Signal, done chan<- struct{}, attempt func(context.Context) bool) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
			l.mu.Lock()
			if ctx.Err() == nil && !l.upgraded {
				l.upgraded = attempt(ctx)
			}
			ok := l.upgraded
			l.mu.Unlock()
			if ok {
				close(done)
				return
			}
		}
	}
}

// stopping waits for an attempt under way and keeps new ones from
// starting; it reports whether the process has handed over (then it must
// not shut anything down). A stop before the old process lets go ends
// the attempt at once (attempt), so that the process drains as usual; a
// stop after that is the new process's to receive.
func (l *upgradeLatch) stopping() bool {
	l.mu.Lock()
	return l.upgraded
}

// run handles SIGUSR2 for a single process (upgradeLatch.loop).
func (u *upgrader) run(ctx context.Context, sig <-chan os.Signal, done chan<- struct{}) {
	u.loop(ctx, sig, done, u.attempt)
}

// notifyUSR2 catches SIGUSR2 (whose default action ends the process).
func notifyUSR2() chan os.Signal {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR2)
	return c
}

// refuseUpgrades logs, for each SIGUSR2, why this server cannot upgrade.
func refuseUpgrades(ctx context.Context, log *zap.Logger, why string) {
	refuseUpgradesOn(ctx, log, notifyUSR2(), why)
}

// attempt upgrades once; false: the new process did not take over and
// this one goes on serving (logged and counted). A stop (ctx: SIGTERM,
// SIGINT) before this process lets go ends the attempt: the new process
// is killed, which ends any wait on it, everything is taken back, and
// the caller drains as usual.
func (u *upgrader) attempt(ctx context.Context) bool {
	begin := time.Now()
	u.log.Info("SIGUSR2: upgrading to the binary on disk", zap.String("binary", u.o.upgrade.exe))
	sc, step, err := startSuccessor(ctx, u.o.upgrade.exe, "new process")
	if err != nil {
		return upgradeFailed(u.log, step, err)
	}
	defer sc.close()
	conn, child, why := sc.conn, sc.child, sc.why
	if err := child.expect(conn, msgHello); err != nil {
		return upgradeFailed(u.log, why("the new process did not start"), err)
	}
	started := time.Now()
	// From here on nothing is published and the loops stop at one id.
	u.gate.pause()
	target := u.hub.LastID()
	pctx, cancel := context.WithTimeout(ctx, upgradePauseTimeout)
	h, err := u.srv.Pause(pctx, target)
	cancel()
	if err != nil {
		u.gate.resume()
		child.kill()
		return upgradeFailed(u.log, why("the loops did not pause"), err)
	}
	paused := time.Now()
	// A new process that stops reading must not hold this one paused: past
	// the deadline a send fails, the new process is killed and everything
	// taken back.
	conn.SetSendDeadline(paused.Add(upgradeTimeout))
	if err := u.send(conn, h, target); err != nil {
		return u.abort(h, child, why(fmt.Sprintf("cannot hand the state over within %v (the new process does not read it?)", upgradeTimeout)), err)
	}
	sent := time.Now()
	if err := child.expect(conn, msgTookOver); err != nil {
		return u.abort(h, child, why("the new process did not take over"), err)
	}
	took := time.Now()
	if !sc.commit() {
		return u.abort(h, child, why("the new process was ready"), ctx.Err())
	}
	conn.SetSendDeadline(time.Now().Add(upgradeTimeout)) // the state's deadline may have passed while the new process took over
	if err := conn.Send(msgCommit, nil, nil); err != nil {
		return u.abort(h, child, "cannot tell the new process to serve", err)
	}
	// No publisher may land here any more: the forwarded publishes must
	// reach the new process, not this one. The admin endpoint closes here
	// too, as the new process starts answering on it: a scrape or probe
	// from then on is the new process's to answer, not this one's on its
	// way out.
	handOffPublishing(u.in, u.gate, u.admin)
	resumed := time.Now()
	// The new process rewrites the pid file too; writing it here first
	// means it names the new process before this one exits, as a
	// supervisor following PIDFile= (or MAINPID=) needs.
	newPid := child.cmd.Process.Pid
	announceNewMain(u.o, u.log, newPid)
	// The loops let go of their copies and their epoll only now: the new
	// process serves them already and this one writes nothing while
	// paused, so that teardown (a registration per connection) is no
	// longer inside the time publishing was paused.
	h.Commit()
	u.log.Info("upgraded: the new process serves every listener and connection; this one exits",
		zap.Int("new_pid", newPid), zap.Int("connections", len(h.Conns)), zap.Uint64("last_id", target),
		zap.Duration("new_process_start", started.Sub(begin)), zap.Duration("loops_pause", paused.Sub(started)),
		zap.Duration("send", sent.Sub(paused)), zap.Duration("takeover", took.Sub(sent)),
		zap.Duration("publishing_paused", resumed.Sub(started)), zap.Duration("elapsed", time.Since(begin)))
	// Publishes that waited are forwarded to the new process; then the
	// publisher connections here close (idle ones at once) and their
	// publishers reconnect to the same path. The socket file stays
	// (Disown).
	cctx, ccancel := context.WithTimeout(context.Background(), publishCloseTimeout)
	u.in.Close(cctx)
	ccancel()
	return true
}

// handOffPublishing lets go of the publish socket and the admin endpoint
// (adm nil: none) once the new process has them: no publisher lands here
// any more, and those that wait are forwarded to the new process.
func handOffPublishing(in *ingest.Server, gate *publishGate, adm *admin.Server) {
	in.Disown()
	in.StopAccepting()
	gate.handOff(in.Path())
	if adm != nil {
		adm.Disown()
		adm.Close()
	}
}

// abort takes everything back after the loops paused.
func (u *upgrader) abort(h *poller.Handoff, child *newProcess, why string, err error) bool {
	child.kill()
	h.Abort()
	u.gate.resume()
	return upgradeFailed(u.log, why, err)
}

// upgradeFailed logs and counts a failed attempt (single or --procs);
// false, for the attempt to return.
func upgradeFailed(log *zap.Logger, why string, err error) bool {
	upgrades.Failed.Add(1)
	log.Error("upgrade failed: this process goes on serving everything", zap.String("why", why), zap.Error(err))
	return false
}

// send hands the state over: descriptors first (listeners, sockets, then
// connections, fdpass.MaxFDs per message), then the document.
func (u *upgrader) send(conn *fdpass.Conn, h *poller.Handoff, last uint64) error {
	st := handoffState{Version: handoffVersion, PID: os.Getpid(), LastID: last, Listeners: h.Listeners,
		Publish: handedSocket{Path: u.in.Path()}, Conns: h.Conns,
		Upgrades: [2]uint64{upgrades.OK.Load(), upgrades.Failed.Load()}}
	conns := make([]int, len(h.Conns))
	for i, c := range h.Conns {
		conns[i] = c.FD
	}
	return sendState(conn, &st, u.in, u.admin, u.o.adminListen, conns, u.hub)
}

// sendState sends st (single process or supervisor) in send's order: the
// listeners' descriptors with their locks, the publish socket's and the
// admin endpoint's (adm nil: none; its path is adminPath), then conns,
// the document, the history up to st.LastID, and the end.
func sendState(conn *fdpass.Conn, st *handoffState, in *ingest.Server, adm *admin.Server, adminPath string, conns []int, hub *pubsub.Hub) error {
	var fds []int
	var opened []*os.File
	defer func() {
		for _, f := range opened {
			f.Close()
		}
	}()
	for _, ln := range st.Listeners {
		fds = append(fds, ln.FDs...)
		if ln.HasLock {
			fds = append(fds, ln.Lock)
		}
	}
	addSocket := func(ln, lock *os.File) bool {
		opened = append(opened, ln)
		fds = append(fds, rawFD(ln))
		if lock != nil {
			opened = append(opened, lock)
			fds = append(fds, rawFD(lock))
		}
		return lock != nil
	}
	ln, lock, err := in.Files()
	if err != nil {
		return fmt.Errorf("publish socket: %w", err)
	}
	st.Publish.HasLock = addSocket(ln, lock)
	if adm != nil {
		ln, lock, err := adm.Files()
		if err != nil {
			return fmt.Errorf("admin endpoint: %w", err)
		}
		st.Admin = &handedSocket{Path: adminPath, HasLock: addSocket(ln, lock)}
	}
	if err := sendDoc(conn, append(fds, conns...), st); err != nil {
		return err
	}
	if _, err := sendHistory(conn, hub, st.LastID); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	return conn.Send(msgEnd, nil, nil)
}

// sendDoc sends descriptors (fdpass.MaxFDs a message), then doc as JSON
// in pieces.
func sendDoc(conn *fdpass.Conn, fds []int, doc any) error {
	for len(fds) > 0 {
		n := min(len(fds), fdpass.MaxFDs)
		if err := conn.Send(msgFDs, nil, fds[:n]); err != nil {
			return err
		}
		fds = fds[n:]
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	for len(b) > 0 {
		n := min(len(b), fdpass.MaxPayload)
		if err := conn.Send(msgPart, b[:n], nil); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// announceNewMain names the new main process in the pid file and to
// systemd (MAINPID=, confirmed before this process exits).
func announceNewMain(o *serveOptions, log *zap.Logger, newPid int) {
	if o.upgrade.pidFile != "" {
		if err := writePidFile(o.upgrade.pidFile, newPid); err != nil {
			log.Error("cannot write the new process's pid", zap.Error(err))
		}
	}
	if err := sdNotify("MAINPID=" + strconv.Itoa(newPid)); err != nil {
		log.Error("cannot tell systemd the new main pid (NOTIFY_SOCKET)", zap.Error(err))
	} else if err := sdNotifyBarrier(sdBarrierTimeout); err != nil {
		log.Warn("systemd did not confirm the new main pid (BARRIER=1); exiting anyway", zap.Error(err))
	}
}

// rawFD is f's descriptor number, valid while f is open. Not f.Fd():
// that puts the open file, which f shares with the listener it was
// duplicated from, into blocking mode, and the listener's Accept would
// then block in the kernel (and its Close wait for the next connection).
func rawFD(f *os.File) int {
	fd := -1
	if rc, err := f.SyscallConn(); err == nil {
		rc.Control(func(d uintptr) { fd = int(d) })
	}
	return fd
}

// successor is the process an attempt (single or --procs) started from
// the binary on disk, its end of the hand-off socket, and the attempt's
// phase: trying, then either stopped (by the attempt's ctx: SIGTERM or
// SIGINT, which kills the new process and so ends any wait on it) or
// committing (past which ctx changes nothing).
type successor struct {
	conn    *fdpass.Conn
	child   *newProcess
	who     string // "new process", "new supervisor": for the log
	phase   atomic.Int32
	unwatch func() bool
}

const (
	phaseTrying = iota
	phaseStopped
	phaseCommitting
)

// startSuccessor starts exe with this process's arguments and the
// hand-off socket as descriptor 3 (upgradeEnv). On error, step says
// which step failed.
func startSuccessor(ctx context.Context, exe, who string) (s *successor, step string, err error) {
	conn, childEnd, err := fdpass.Pair()
	if err != nil {
		return nil, "cannot make the hand-off socket", err
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), upgradeEnv+"=3")
	cmd.ExtraFiles = []*os.File{childEnd}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Start()
	childEnd.Close()
	if err != nil {
		conn.Close()
		return nil, "cannot start the new binary", err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	s = &successor{conn: conn, child: &newProcess{cmd: cmd, exited: exited}, who: who}
	s.unwatch = context.AfterFunc(ctx, func() {
		if s.phase.CompareAndSwap(phaseTrying, phaseStopped) {
			s.child.kill()
		}
	})
	return s, "", nil
}

// why is what for the log, saying so when a stop ended the attempt.
func (s *successor) why(what string) string {
	if s.phase.Load() == phaseStopped {
		return "stopped (SIGTERM or SIGINT) during the upgrade, before the " + s.who + " took over: it was killed and this process drains (at: " + what + ")"
	}
	return what
}

// commit ends the phase in which a stop ends the attempt; false: a stop
// came first.
func (s *successor) commit() bool {
	return s.phase.CompareAndSwap(phaseTrying, phaseCommitting)
}

// close stops watching ctx and closes the hand-off socket.
func (s *successor) close() {
	s.unwatch()
	s.conn.Close()
}

// newProcess is the process an upgrade started.
type newProcess struct {
	cmd    *exec.Cmd
	exited chan error

	mu sync.Mutex
	// workers are a new --procs supervisor's workers (pidfd-backed), killed
	// with it: one that has taken connections must not outlive a failed
	// upgrade, its predecessor waits for its end (upgrade_procs_linux.go).
	workers []*os.Process
}

// expect waits for message kind from the new process; its failure
// message, its exit or a timeout is the error.
func (p *newProcess) expect(conn *fdpass.Conn, kind byte) error {
	_, err := p.expectPayload(conn, kind)
	return err
}

// expectPayload is expect, with the message's payload.
func (p *newProcess) expectPayload(conn *fdpass.Conn, kind byte) ([]byte, error) {
	m, err := conn.Recv(upgradeTimeout)
	if err == nil {
		fdpass.CloseFDs(m.FDs) // none is expected
	}
	if err == nil && m.Kind == kind {
		return m.Payload, nil
	}
	if err == nil && m.Kind == msgFailed {
		err = fmt.Errorf("it says: %s", m.Payload)
	} else if err == nil {
		err = fmt.Errorf("unexpected message %q", m.Kind)
	}
	if errors.Is(err, fdpass.ErrClosed) {
		select {
		case werr := <-p.exited:
			err = fmt.Errorf("it exited: %v", werr)
			p.exited <- werr
		case <-time.After(time.Second):
		}
	}
	p.kill()
	return nil, err
}

// kill ends the new process if it is still there: after a failed
// upgrade it must not serve.
func (p *newProcess) kill() {
	p.mu.Lock()
	for _, w := range p.workers {
		w.Kill()
	}
	p.mu.Unlock()
	select {
	case werr := <-p.exited:
		p.exited <- werr
	default:
		p.cmd.Process.Kill()
	}
}

// refuseUpgradesOn logs, for each SIGUSR2 on sig, why this server cannot
// upgrade, and counts it as failed.
func refuseUpgradesOn(ctx context.Context, log *zap.Logger, sig <-chan os.Signal, why string) {
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-sig:
				log.Error("SIGUSR2: binary upgrade refused, the server goes on as it is", zap.String("why", why))
				upgrades.Failed.Add(1)
			}
		}
	}()
}
