package main

// ssedge serve --procs N: one supervisor and N worker processes.
//
// The supervisor binds every listen address once (poller.Bind: a TCP
// address gets one SO_REUSEPORT socket per loop of every worker, so the
// kernel spreads clients over all of them; a unix:PATH socket is shared),
// owns the publish socket and numbers events, and relays each event to
// every worker over a socket pair (pubsub.Relay). Each worker is this
// binary re-executed with the same flags, the environment variable
// workerEnv set and its listeners passed as inherited descriptors; it
// serves subscribers exactly as a single process does, with its own hub
// (seeded by the relay, so ids match across workers) and its own history.
//
// Why: a process may open only RLIMIT_NOFILE files, and where fs.nr_open
// or a container caps that, N processes hold N times as many connections.
// A client that reconnects may land on any worker; each has the same ids
// and history, so Last-Event-ID resume works across them.
//
// Reload: SIGHUP to the supervisor is checked there and passed on to each
// ready worker (reload.go).
//
// Upgrade: SIGUSR2 to the supervisor starts a new supervisor from the
// binary on disk, which takes the listening sockets, publish socket,
// admin endpoint and history; each old worker then hands its connections
// to its successor, all or nothing (upgrade_procs_linux.go). A worker
// that exits once the old supervisor has committed is not restarted.
//
// Lifecycle: workers ignore SIGINT and SIGTERM and drain when the relay
// stream ends (drain_linux.go): the supervisor, on SIGINT or SIGTERM,
// closes the publish socket, relays what was published, closes the
// streams and waits for the workers (killing them after
// workerStopTimeout plus --drain-window). A worker that dies
// is restarted with back-off; its listening sockets stay open in the
// supervisor, so clients hashed to them wait in the accept queue instead
// of being refused; one that fails maxFailedStarts times in a row before
// it is ready stops the server (exit 1). Each worker has its own relay
// queue, so a stuck one delays no other until its queue is full; one
// that reads nothing for relayStall is killed and restarted. Workers read
// the supervisor's latest id from shared memory (idWord), so one that is
// behind waits for an id a client already has instead of calling it
// "future". If the supervisor dies, the workers see the stream end and
// exit.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/ssedge/ssedge/poller"
	"github.com/ssedge/ssedge/pubsub"
)

const (
	workerListenersEnv = "SSEDGE_WORKER_LISTENERS" // JSON []passedListener
	relayStall         = 10 * time.Second
	workerReadyTimeout = 30 * time.Second
	workerStopTimeout  = 10 * time.Second
	restartMin         = 100 * time.Millisecond
	restartMax         = 5 * time.Second
	workerReady        = "ready\n" // a worker's one message to the supervisor
	maxFailedStarts    = 5         // restarts in a row that never got ready before the server stops
)

// passedListener describes one inherited listener to a worker: the
// descriptors are the child's (3 is the relay socket, 4 the shared id
// word; listeners follow).
type passedListener struct {
	Net   string `json:"net"` // "tcp" or "unix"
	Addr  string `json:"addr"`
	FDs   []int  `json:"fds"`
	Proxy bool   `json:"proxy,omitempty"`
}

type supervisor struct {
	o     *serveOptions
	log   *zap.Logger
	bound *poller.Bound
	relay *pubsub.Relay
	ready chan int   // a worker's index, on its first start
	fail  chan error // a worker that cannot start: on its first start, or maxFailedStarts times in a row

	devNull int              // the workers' stdin
	ids     *idWord          // the highest id relayed, shared with the workers
	admin   *supervisorAdmin // --admin-listen; nil when off
	config  *configSnapshot  // the configuration file in force, for the workers; nil without --config
	keys    *workerKeys      // the key files in force, for the workers (workerkeys_linux.go)
	quit    chan struct{}    // closed when stopping

	mu       sync.Mutex // guards stopping, procs, reloads, commit and wasReady
	stopping bool
	procs    map[int]*os.Process
	commit   chan struct{} // restarts held during an upgrade (holdRestarts): closed with the outcome
	wasReady []bool        // each worker has been ready once (s.ready told)
	takeover *takeover     // set in a new supervisor until its workers have taken over (upgrade_procs_linux.go)
	reloads  workerReloads // reload_linux.go
	wg       sync.WaitGroup
}

// supervise runs the supervisor: from scratch, or (up set) from what an
// old supervisor handed over on a binary upgrade (upgrade_procs_linux.go).
func supervise(ctx context.Context, o *serveOptions, log *zap.Logger, up *upgradeChild, usr2 <-chan os.Signal) error {
	hup := notifyHUP()
	raiseFileLimit(log, 0)
	side, err := o.subscriberSide()
	if err != nil {
		return o.blame(err)
	}
	// The supervisor numbers events and relays them, and serves no
	// subscriber; it keeps a history too, the one each worker starts with
	// (the relay's hello carries it), so a restarted worker starts warm.
	hub, stopHub, err := up.supervisorHub(ctx, o, log) // cluster.go, or the handed-over history
	if err != nil {
		return err
	}
	defer stopHub()
	// The gate lets an upgrade stop publishing at one id (upgrade.go); in
	// cluster mode the stream numbers events and there is no upgrade.
	var gate *publishGate
	if o.cluster.publisher == nil {
		gate = newPublishGate(hub)
		o.cluster.publisher = gate
	}
	var bound *poller.Bound
	if up != nil {
		bound, err = up.bound(o, log)
	} else {
		bound, err = poller.Bind(o.pollerConfig(side, hub, log), o.procs)
	}
	if err != nil {
		return err
	}
	defer bound.Close()
	if up != nil {
		// Until the old supervisor has let go, the socket files are its.
		defer func() {
			if !up.done {
				bound.Disown()
			}
		}()
	}
	devNull, err := unix.Open(os.DevNull, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("open /dev/null", err)
	}
	defer unix.Close(devNull)
	ids, err := newIDWord()
	if err != nil {
		return err
	}
	defer ids.close()
	// The publish socket last: once it exists, publishers may connect
	// (a handed-over one serves from in.Serve, after the take-over).
	in, err := up.ingestServer(o, hub, log)
	if err != nil {
		return err
	}
	o.adminHandoff = up.adminHandoff()
	// fail gives up before serving: what was handed over stays the old
	// supervisor's (no socket file removed).
	fail := func(err error) error {
		if up != nil {
			in.Disown()
			bound.Disown()
			if a := o.adminHandoff; a.srv != nil {
				a.srv.Disown()
			}
		}
		in.Close(context.Background())
		return err
	}
	s := &supervisor{o: o, log: log, bound: bound, devNull: devNull, ids: ids, quit: make(chan struct{}),
		ready: make(chan int, o.procs), fail: make(chan error, o.procs), procs: make(map[int]*os.Process),
		wasReady: make([]bool, o.procs)}
	if o.file != nil {
		if s.config, err = newConfigSnapshot(o.file.src); err != nil {
			return fail(err)
		}
		defer s.config.remove()
	}
	if s.keys, err = newWorkerKeys(o); err != nil {
		return fail(err)
	}
	defer s.keys.remove()
	r, err := newReloader(o, nil, log, hub, nil, in)
	if err != nil {
		return fail(err)
	}
	// The supervisor's history is what a restarted worker starts with: it
	// keeps the workers' bounds, rules included, and takes a reload's as
	// they do. In cluster mode it keeps none (the workers restore from
	// the log).
	keepsHistory := o.cluster.servers == ""
	if keepsHistory {
		hub.SetHistoryLimits(historyLimits(o.rules))
	}
	r.workers = func(o *serveOptions) {
		if err := s.keys.write(o); err != nil {
			s.log.Error("config reload not passed to the workers; they keep the configuration they run", zap.Error(err))
			return
		}
		// The supervisor's history takes the new bounds only once the
		// copies the workers reload from are written: its bounds are
		// theirs, and a restarted worker's history must keep what they
		// keep, not a reload they never got.
		s.reloadWorkers(o, func() {
			if keepsHistory {
				hub.SetHistoryBounds(o.hubConfig(0).History, historyLimits(o.rules))
			}
		})
	}
	go r.run(ctx, hup)
	s.relay = pubsub.NewRelay(hub, relayStall, ids.word().Store)
	var stopAdmin func()
	if s.admin, stopAdmin, err = startSupervisorAdmin(ctx, o, log, hub, in, s.relay); err != nil {
		return fail(err)
	}
	defer stopAdmin()
	if up != nil {
		if s.takeover, err = newTakeover(up, o.procs); err != nil {
			return fail(err)
		}
		s.takeover.pids = func() string {
			s.mu.Lock()
			defer s.mu.Unlock()
			var b []byte
			for _, p := range s.procs {
				b = append(strconv.AppendInt(b, int64(p.Pid), 10), ' ')
			}
			return string(b)
		}
	}
	rctx, stopRelay := context.WithCancel(context.Background())
	relayDone := make(chan struct{})
	go func() { s.relay.Run(rctx); close(relayDone) }()
	for i := range o.procs {
		s.wg.Add(1)
		go s.keep(i)
	}
	if up != nil {
		err := s.takeover.run(ctx, log)
		close(s.takeover.verdict)
		if err != nil {
			// Not one new worker has served: they go, and the old
			// supervisor serves on (up.failed, in serve, tells it).
			s.abandon(stopRelay, relayDone)
			s.takeover.close()
			return fail(err)
		}
		in.Serve()
		o.serveAdmin()
		if err := o.writePidFile(); err != nil {
			log.Error("cannot write the pid file", zap.Error(err))
		}
		log.Info("upgrade: took over from the old supervisor", zap.Int("old_pid", up.state.PID), zap.Uint64("last_id", up.state.LastID))
	}

	var startErr error
	timeout := time.After(workerReadyTimeout)
	for n := 0; n < o.procs && startErr == nil; {
		select {
		case <-s.ready:
			n++
		case err := <-s.fail:
			startErr = err
		case <-timeout:
			startErr = fmt.Errorf("workers not ready after %v", workerReadyTimeout)
		case <-ctx.Done():
			startErr = ctx.Err()
		}
	}
	upgraded := make(chan struct{})
	var u *procsUpgrader
	if startErr == nil {
		logServing(log, bound.Addrs, in.Path(), zap.Int("procs", o.procs), zap.Int("loops_per_proc", o.loops))
		// Every worker serves: a Type=notify unit is started. (The
		// workers send nothing: the supervisor is the main process; after
		// an upgrade the old one named this one MAINPID.)
		if up == nil {
			if err := sdNotify("READY=1"); err != nil {
				log.Warn("cannot tell systemd the server is ready (NOTIFY_SOCKET)", zap.Error(err))
			}
		}
		if gate != nil {
			u = &procsUpgrader{s: s, o: o, log: log, hub: hub, in: in, gate: gate}
			go u.run(ctx, usr2, upgraded)
		} else {
			refuseUpgradesOn(ctx, log, usr2, "cluster mode: a new node restores from the stream; restart instead")
		}
		select {
		case <-ctx.Done():
			if u != nil && u.stopping() {
				s.handedOverExit(stopRelay, relayDone)
				return nil
			}
			log.Info("stopping")
		case <-upgraded:
			s.handedOverExit(stopRelay, relayDone)
			log.Info("stopped: handed over", zap.Uint64("published", in.Published()))
			return nil
		case startErr = <-s.fail:
			log.Error("stopping: a worker cannot be restarted", zap.Error(startErr))
		}
	}
	stopWatch := s.watchSecondSignal() // drain_linux.go
	defer stopWatch()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	in.Close(sctx)
	hub.Close()
	s.drainWorkers(stopRelay, relayDone)
	log.Info("stopped", zap.Uint64("published", in.Published()))
	if startErr != nil && ctx.Err() == nil {
		return startErr
	}
	return nil
}

// abandon kills every worker at once (a new supervisor's take-over
// failed: none has served) and waits for them.
func (s *supervisor) abandon(stopRelay context.CancelFunc, relayDone <-chan struct{}) {
	s.mu.Lock()
	if !s.stopping {
		s.stopping = true
		close(s.quit)
	}
	for _, p := range s.procs {
		p.Kill()
	}
	s.mu.Unlock()
	stopRelay()
	<-relayDone
	s.wg.Wait()
}

// stop ends the relay streams (the workers then stop by themselves) and
// waits for the workers, killing those that take too long.
func (s *supervisor) stop(stopRelay context.CancelFunc, relayDone <-chan struct{}) {
	s.mu.Lock()
	if !s.stopping {
		s.stopping = true
		close(s.quit)
	}
	s.mu.Unlock()
	stopRelay()
	// One deadline for both: a stuck worker holds the relay's last
	// writes until it is killed.
	s.waitOrKill(func() { <-relayDone; s.wg.Wait() }, workerStopTimeout+s.o.drainWindow, "worker did not stop; killing it")
}

// waitOrKill runs wait (it returns once the workers have exited) for at
// most within; then it kills every worker still there, logging msg for
// each, and waits on.
func (s *supervisor) waitOrKill(wait func(), within time.Duration, msg string) {
	done := make(chan struct{})
	go func() { wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(within):
		s.mu.Lock()
		for i, p := range s.procs {
			s.log.Warn(msg, zap.Int("worker", i), zap.Int("pid", p.Pid))
			p.Kill()
		}
		s.mu.Unlock()
		<-done
	}
}

// keep runs worker i, and runs it again when it dies, until stopping.
func (s *supervisor) keep(i int) {
	defer s.wg.Done()
	backoff, failed := restartMin, 0
	for first := true; ; first = false {
		started := time.Now()
		ready, err := s.runWorker(i, first)
		if errors.Is(err, errStopping) || s.isStopping() {
			return
		}
		// A new supervisor's worker that dies before it serves: fatal
		// unless the take-over commits (then it is restarted, warm).
		if first && !ready && !s.takeover.waitCommitted() {
			s.fail <- fmt.Errorf("worker %d failed to start: %w (its log is above)", i, err)
			return
		}
		// A worker that keeps failing before it is ready (a config file
		// it reads at start has gone, say) would leave its share of the
		// clients queued on its sockets for ever: stop the server instead,
		// visibly, for the service manager to act on.
		if failed = failed + 1; ready {
			failed = 0
		}
		if failed >= maxFailedStarts {
			s.fail <- fmt.Errorf("worker %d failed to start %d times in a row: %w (its log is above)", i, failed, err)
			return
		}
		if time.Since(started) > 10*restartMax {
			backoff = restartMin
		}
		s.log.Error("worker died; restarting it", zap.Int("worker", i), zap.Error(err), zap.Duration("after", backoff))
		select {
		case <-time.After(backoff):
		case <-s.quit:
			return
		}
		backoff = min(2*backoff, restartMax)
	}
}

// isStopping reports whether no worker is to be restarted; during an
// upgrade's commit it waits for the commit's outcome (a worker that exits
// then may have handed over).
func (s *supervisor) isStopping() bool {
	s.mu.Lock()
	c := s.commit
	s.mu.Unlock()
	if c != nil {
		<-c
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

// runWorker starts worker i, attaches it to the relay and waits for it to
// exit. ready reports whether it said it was ready; err is why it ended.
//
// It forks with syscall.ForkExec, not os/exec: os/exec would put the
// passed sockets into blocking mode (os.File.Fd does), and a unix
// listener's mode is shared with the workers already running on it.
func (s *supervisor) runWorker(i int, first bool) (ready bool, err error) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false, os.NewSyscallError("socketpair", err)
	}
	f := os.NewFile(uintptr(pair[0]), "relay")
	conn, err := net.FileConn(f)
	f.Close()
	if err != nil {
		unix.Close(pair[1])
		return false, err
	}
	defer conn.Close()

	files := []uintptr{uintptr(s.devNull), 1, 2, uintptr(pair[1]), uintptr(s.ids.fd)}
	var passed []passedListener
	for _, in := range s.bound.Sets[i] {
		pl := passedListener{Net: in.Addr.Network(), Addr: in.Addr.String(), Proxy: in.Proxy}
		for _, fd := range in.FDs {
			pl.FDs = append(pl.FDs, len(files))
			files = append(files, uintptr(fd))
		}
		passed = append(passed, pl)
	}
	layout, err := json.Marshal(passed)
	if err != nil {
		unix.Close(pair[1])
		return false, err
	}
	env := append(os.Environ(), fmt.Sprintf("%s=%d", workerEnv, i), workerListenersEnv+"="+string(layout))
	if f, v := s.takeover.workerFile(i, len(files)); f != nil && first {
		files = append(files, f.Fd()) // a control socket: blocking mode is what it wants
		env = append(env, v)
	}
	env = append(env, s.admin.workerEnv(i)...)
	env = append(env, s.config.env()...)
	env = append(env, s.keys.env()...)
	// /proc/self/exe: the very binary that runs, even if the file on disk
	// was replaced by an upgrade since (the relay protocol must match).
	// argv[0] names the worker in ps and top, as nginx's "worker process".
	argv := append([]string{fmt.Sprintf("ssedge: worker %d", i), "serve"}, s.o.args...)
	// Fork under mu, so that stop either sees this worker in procs or
	// this sees stopping and starts nothing.
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		unix.Close(pair[1])
		return false, errStopping
	}
	pid, err := syscall.ForkExec("/proc/self/exe", argv, &syscall.ProcAttr{Env: env, Files: files})
	unix.Close(pair[1])
	if first {
		s.takeover.started(i)
	}
	var p *os.Process
	if err == nil {
		p, err = os.FindProcess(pid)
	}
	if err != nil {
		s.mu.Unlock()
		return false, fmt.Errorf("starting worker: %w", err)
	}
	s.procs[i] = p
	gen := s.reloads.gen
	s.mu.Unlock()
	var exited atomic.Bool
	detach := s.relay.Attach(conn, func(err error) {
		if exited.Load() {
			return // its stream was closed because it died: nothing to say
		}
		s.log.Error("worker stopped reading events; killing it", zap.Int("worker", i), zap.Int("pid", pid), zap.Error(err))
		p.Kill()
	})
	s.admin.attached(i, conn)
	readyc := make(chan bool, 1)
	go func() {
		buf := make([]byte, len(workerReady))
		_, err := io.ReadFull(conn, buf)
		ok := err == nil && string(buf) == workerReady
		if ok {
			s.workerReady(i, p, gen)
		}
		s.mu.Lock()
		once := ok && !s.wasReady[i]
		if once {
			s.wasReady[i] = true
		}
		s.mu.Unlock()
		if once {
			s.ready <- i // a worker's first start, or a new one's first after dying during a take-over
		}
		readyc <- ok
	}()
	st, err := p.Wait()
	exited.Store(true)
	detach()
	s.admin.attached(i, nil)
	s.mu.Lock()
	delete(s.procs, i)
	delete(s.reloads.ready, i)
	s.mu.Unlock()
	conn.Close() // ends the ready reader, if it still waits
	ready = <-readyc
	if err != nil {
		return ready, err
	}
	return ready, fmt.Errorf("worker pid %d %v", pid, st)
}

// serveWorker is one worker process of ssedge serve --procs: it serves
// the inherited listeners with a hub fed by the relay on descriptor 3,
// until the relay stream ends.
func serveWorker(o *serveOptions, index string) error {
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM)
	hup := notifyHUP()   // the supervisor passes reloads on (reload.go)
	usr2 := notifyUSR2() // an upgrade: hand the connections to the successor (upgrade_procs_linux.go)
	tk, err := workerTakeoverFromEnv()
	if err != nil {
		return err
	}
	log, err := newLogger(o.logFormat, o.logLevel)
	if err != nil {
		return err
	}
	log = log.With(zap.String("worker", index), zap.Int("pid", os.Getpid()))
	defer log.Sync()
	drainCtx, drainNow := workerDrainNow(log) // drain_linux.go
	defer drainNow()
	var passed []passedListener
	if err := json.Unmarshal([]byte(os.Getenv(workerListenersEnv)), &passed); err != nil {
		return fmt.Errorf("%s: %w (workers are started by ssedge serve --procs, not by hand)", workerListenersEnv, err)
	}
	nameWorker()
	ids, err := mapIDWord(4, unix.PROT_READ)
	if err != nil {
		return fmt.Errorf("worker: shared id word: %w (workers are started by ssedge serve --procs, not by hand)", err)
	}
	defer ids.close()
	f := os.NewFile(3, "relay")
	conn, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("worker: relay socket: %w (workers are started by ssedge serve --procs, not by hand)", err)
	}
	defer conn.Close()
	raiseFileLimit(log, o.perProc(o.conns))
	side, err := o.subscriberSide()
	if err != nil {
		return err
	}
	// The supervisor's history up to the relay's position comes first
	// (the same snapshot the first start and every restart get), so a
	// client resuming here after a worker restart gets what its siblings
	// would give it. In cluster mode the worker restores from the log
	// instead, and the supervisor keeps no history.
	snap, err := pubsub.ReadRelayHello(conn, o.hubConfig(0).History.SnapshotLimit())
	if err != nil {
		return err
	}
	if tk != nil && snap.LastID() != tk.last {
		// The new supervisor published before its workers took over: the
		// connections, paused at the old id, would miss events.
		return tk.fail(fmt.Errorf("upgrade: the relay starts after id %d, the old workers pause at %d", snap.LastID(), tk.last))
	}
	hub, stopHub, relay, err := o.workerHub(snap.LastID(), ids.word().Load, conn, log) // cluster.go
	if err != nil {
		return err
	}
	defer stopHub()
	if o.cluster.servers == "" {
		// The rules' history bounds first, so that a channel a rule gives
		// a longer history keeps all of it (newReloader sets them again).
		hub.SetHistoryLimits(historyLimits(o.rules))
		if err := hub.LoadSnapshot(snap); err != nil {
			return fmt.Errorf("worker: the supervisor's history: %w", err)
		}
		log.Info("history loaded from the supervisor", zap.Int("events", snap.Events()), zap.Uint64("last_id", snap.LastID()))
	}
	cfg := o.pollerConfig(side, hub, log)
	cfg.Listen, cfg.ProxyListen = nil, nil
	for _, pl := range passed {
		in := poller.Inherited{FDs: pl.FDs, Proxy: pl.Proxy}
		if pl.Net == "unix" {
			in.Addr = &net.UnixAddr{Name: pl.Addr, Net: "unix"}
		} else {
			a, err := net.ResolveTCPAddr("tcp", pl.Addr)
			if err != nil {
				return fmt.Errorf("%s: %w", workerListenersEnv, err)
			}
			in.Addr = a
			cfg.Loops = len(pl.FDs)
		}
		cfg.Inherited = append(cfg.Inherited, in)
	}
	srv, err := poller.New(cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	r, err := newReloader(o, side, log, hub, srv, nil)
	if err != nil {
		return err
	}
	if tk != nil {
		if err := tk.run(srv, index, log); err != nil {
			return err // srv.Close closes the imported copies without a write: the old worker serves them
		}
	}
	go r.run(context.Background(), hup)
	srv.Start()
	// SIGUSR2 from the supervisor: an upgrade. handing is held while a
	// hand-off is under way, so that a drain waits for its outcome.
	var handing sync.Mutex
	handed := make(chan struct{})
	go func() {
		for range usr2 {
			handing.Lock()
			ok, err := handToSuccessor(srv, hub, index, log)
			if ok {
				close(handed)
				conn.Close() // ends Follow
				handing.Unlock()
				return
			}
			handing.Unlock()
			log.Warn("SIGUSR2: connections not handed over; serving on", zap.Error(err))
		}
	}()
	stopAdmin, err := startWorkerAdmin(log, srv, hub)
	if err != nil {
		return err
	}
	defer stopAdmin()
	if _, err := io.WriteString(conn, workerReady); err != nil {
		return fmt.Errorf("worker: telling the supervisor: %w", err)
	}
	err = hub.Follow(relay)
	handing.Lock()
	select {
	case <-handed:
		hub.Close()
		log.Info("worker stopped: handed over to the new worker")
		return nil
	default:
	}
	drainWorker(drainCtx, o, hub, srv, err) // drain_linux.go
	st := srv.Stats()
	log.Info("worker stopped", zap.Uint64("accepted", st.Accepted), zap.Uint64("slow_consumers", st.SlowConsumers()))
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	return nil
}

var errStopping = errors.New("stopping")

// nameWorker gives the worker process the binary's name (the kernel's comm,
// which pgrep, pidof, killall and top show), instead of "exe" from
// /proc/self/exe; ps -f shows "ssedge: worker N" from argv.
func nameWorker() {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	name := filepath.Base(exe)
	if len(name) > 15 {
		name = name[:15]
	}
	_ = os.WriteFile("/proc/self/comm", []byte(name), 0) // best effort: only names
}
