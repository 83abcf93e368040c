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
	conn, childEnd, err := fdpass.Pair()
	if err != nil {
		return u.failed("cannot make the hand-off socket", err)
	}
	defer conn.Close()
	cmd := exec.Command(u.o.upgrade.exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), upgradeEnv+"=3")
	cmd.ExtraFiles = []*os.File{childEnd}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Start()
	childEnd.Close()
	if err != nil {
		return u.failed("cannot start the new binary", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	child := &newProcess{cmd: cmd, exited: exited}
	// phase: trying, then either stopped (by ctx, which kills the new
	// process) or committing (past which ctx changes nothing here).
	const (
		trying = iota
		stopped
		committing
	)
	var phase atomic.Int32
	defer context.AfterFunc(ctx, func() {
		if phase.CompareAndSwap(trying, stopped) {
			child.kill()
		}
	})()
	why := func(what string) string {
		if phase.Load() == stopped {
			return "stopped (SIGTERM or SIGINT) during the upgrade, before the new process took over: it was killed and this process drains (at: " + what + ")"
		}
		return what
	}
	if err := child.expect(conn, msgHello); err != nil {
		return u.failed(why("the new process did not start"), err)
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
		return u.failed(why("the loops did not pause"), err)
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
	if !phase.CompareAndSwap(trying, committing) {
		return u.abort(h, child, why("the new process was ready"), ctx.Err())
	}
	conn.SetSendDeadline(time.Now().Add(upgradeTimeout)) // the state's deadline may have passed while the new process took over
	if err := conn.Send(msgCommit, nil, nil); err != nil {
		return u.abort(h, child, "cannot tell the new process to serve", err)
	}
	h.Commit()
	// No publisher may land here any more: the forwarded publishes must
	// reach the new process, not this one. The admin endpoint closes here
	// too, before the pid file names the new process: a scrape or probe
	// from then on is the new process's to answer, not this one's on its
	// way out.
	u.in.Disown()
	u.in.StopAccepting()
	u.gate.handOff(u.in.Path())
	if u.admin != nil {
		u.admin.Disown()
		u.admin.Close()
	}
	// The new process rewrites the pid file too; writing it here first
	// means it names the new process before this one exits, as a
	// supervisor following PIDFile= (or MAINPID=) needs.
	newPid := cmd.Process.Pid
	if u.o.upgrade.pidFile != "" {
		if err := writePidFile(u.o.upgrade.pidFile, newPid); err != nil {
			u.log.Error("cannot write the new process's pid", zap.Error(err))
		}
	}
	if err := sdNotify("MAINPID=" + strconv.Itoa(newPid)); err != nil {
		u.log.Error("cannot tell systemd the new main pid (NOTIFY_SOCKET)", zap.Error(err))
	} else if err := sdNotifyBarrier(sdBarrierTimeout); err != nil {
		// Before this process exits: systemd must have the new main pid
		// first, or it takes the exit for the service's.
		u.log.Warn("systemd did not confirm the new main pid (BARRIER=1); exiting anyway", zap.Error(err))
	}
	u.log.Info("upgraded: the new process serves every listener and connection; this one exits",
		zap.Int("new_pid", newPid), zap.Int("connections", len(h.Conns)), zap.Uint64("last_id", target),
		zap.Duration("new_process_start", started.Sub(begin)), zap.Duration("loops_pause", paused.Sub(started)),
		zap.Duration("send", sent.Sub(paused)), zap.Duration("takeover", took.Sub(sent)),
		zap.Duration("publishing_paused", time.Since(started)), zap.Duration("elapsed", time.Since(begin)))
	// Publishes that waited are forwarded to the new process; then the
	// publisher connections here close (idle ones at once) and their
	// publishers reconnect to the same path. The socket file stays
	// (Disown).
	cctx, ccancel := context.WithTimeout(context.Background(), publishCloseTimeout)
	u.in.Close(cctx)
	ccancel()
	return true
}

// abort takes everything back after the loops paused.
func (u *upgrader) abort(h *poller.Handoff, child *newProcess, why string, err error) bool {
	child.kill()
	h.Abort()
	u.gate.resume()
	return u.failed(why, err)
}

func (u *upgrader) failed(why string, err error) bool {
	upgrades.Failed.Add(1)
	u.log.Error("upgrade failed: this process goes on serving everything", zap.String("why", why), zap.Error(err))
	return false
}

// send hands the state over: descriptors first (listeners, sockets, then
// connections, fdpass.MaxFDs per message), then the document.
func (u *upgrader) send(conn *fdpass.Conn, h *poller.Handoff, last uint64) error {
	st := handoffState{Version: handoffVersion, PID: os.Getpid(), LastID: last, Listeners: h.Listeners,
		Publish: handedSocket{Path: u.in.Path()}, Conns: h.Conns,
		Upgrades: [2]uint64{upgrades.OK.Load(), upgrades.Failed.Load()}}
	var fds []int
	var opened []*os.File
	defer func() {
		for _, f := range opened {
			f.Close()
		}
	}()
	for _, ln := range h.Listeners {
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
	ln, lock, err := u.in.Files()
	if err != nil {
		return fmt.Errorf("publish socket: %w", err)
	}
	st.Publish.HasLock = addSocket(ln, lock)
	if u.admin != nil {
		ln, lock, err := u.admin.Files()
		if err != nil {
			return fmt.Errorf("admin endpoint: %w", err)
		}
		st.Admin = &handedSocket{Path: u.o.adminListen, HasLock: addSocket(ln, lock)}
	}
	for _, c := range h.Conns {
		fds = append(fds, c.FD)
	}
	for len(fds) > 0 {
		n := min(len(fds), fdpass.MaxFDs)
		if err := conn.Send(msgFDs, nil, fds[:n]); err != nil {
			return err
		}
		fds = fds[n:]
	}
	doc, err := json.Marshal(&st)
	if err != nil {
		return err
	}
	for len(doc) > 0 {
		n := min(len(doc), fdpass.MaxPayload)
		if err := conn.Send(msgPart, doc[:n], nil); err != nil {
			return err
		}
		doc = doc[n:]
	}
	if _, err := sendHistory(conn, u.hub, last); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	return conn.Send(msgEnd, nil, nil)
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
