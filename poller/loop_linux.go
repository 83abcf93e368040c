package poller

import (
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/ssedge/ssedge/httpmin"
	"github.com/ssedge/ssedge/pubsub"
	"github.com/ssedge/ssedge/sse"
)

// Per-turn caps (fairness) and sizes.
const (
	maxEvents   = 512       // epoll events taken per wait
	acceptBurst = 128       // accepts per listener per turn
	readBurst   = 4         // reads per connection per turn
	maxBatch    = 512       // ring events delivered per turn
	iovMax      = 1024      // IOV_MAX on Linux
	scratchSize = 32 << 10  // loop read buffer (> httpmin.MaxHeaderBytes)
	maxWaitMs   = 1000      // longest epoll_wait, so timers never drift far
	tokenWake   = int32(-1) // epoll token of the eventfd; listeners are -2, -3, ...
)

// listener is one of the loop's SO_REUSEPORT sockets.
type listener struct {
	fd          int
	shared      bool  // a unix socket every loop watches; the server closes it
	proxy       bool  // connections start with a PROXY protocol header
	more        bool  // the accept burst cap was hit: accept again next turn
	pausedUntil int64 // loop ms; non-zero while backing off after EMFILE and co.
	backoff     int64 // ms
	burstErrs   uint64
}

// loop is one epoll event loop. Every field is owned by the loop goroutine
// unless its comment says otherwise.
type loop struct {
	srv   *Server
	cfg   *Config // the settings in force: Server.live, loaded at the start of each turn
	id    int
	log   *zap.Logger
	epfd  int
	evfd  int
	start time.Time
	now   int64 // ms since start, read once per turn

	lns    []listener
	conns  slab
	free   []int32
	cursor *pubsub.Cursor
	index  *index

	events       []unix.EpollEvent
	scratch      []byte
	out          []byte // response formatting
	hdr          []byte // extra header lines of a response being formatted (CORS of a refusal)
	names        []byte // decoded channel names of the request being handled
	nameEnd      []int
	lastQuery    []byte // decoded lastEventId parameter of that request
	timeoutQuery []byte // decoded timeout parameter of that request
	tokenQuery   []byte // decoded token parameter of that request (never logged)
	body         []byte // long-poll answer body
	gapsJSON     []byte
	replaying    []connRef
	req          httpmin.Request
	iov          []unix.Iovec
	msg          unix.Msghdr // sendmsg header; points at iov only during the call
	ring         *uring      // batched sends of a delivery pass (uring_linux.go); nil: send/sendmsg
	batch        []*pubsub.Event
	refs         []pendRef
	dirty        []int32
	again        []connRef
	doomed       []connRef
	deadlines    deadlines // request-head, lingering and long-poll deadlines
	wheel        wheel     // heartbeats (heartbeat_linux.go)
	hbFrame      []byte    // the heartbeat the wheel sends: sse.Heartbeat (tests set another)
	backlogged   int64     // connections with unsent bytes now, for Stats
	backlogBytes int64     // their unsent bytes
	loopRules              // the per-channel rules as this loop last took them

	slowLog   logLimit // slow-consumer closes
	refuseLog logLimit // refused requests
	upLog     logLimit // reads from the cluster's log given up on

	wakeBuf [8]byte             // the constant 1, written to evfd by publishers; read-only after newLoop
	peer    unix.RawSockaddrAny // accept4's address buffer

	stop     atomic.Bool  // set by Server.Close
	drainReq atomic.Bool  // set by Server.Drain; the loop then runs drainStep each turn
	drain    loopDrain    // owned by the loop goroutine
	handReq  atomic.Bool  // set by Server.Pause; the loop then runs handoffStep each turn (handoff_linux.go)
	hand     loopHandoff  // owned by the loop goroutine
	running  atomic.Bool  // run has started
	evClosed atomic.Bool  // evfd is closing: wakeup must not write to it
	wakers   atomic.Int32 // wakeup calls in progress (release waits for them)
	stats    loopStats
}

// connRef names a connection at one generation, for lists that may outlive it.
type connRef struct {
	slot int32
	gen  uint32
}

type deadline struct {
	connRef
	at int64
}

func newLoop(s *Server, id int) (*loop, error) {
	l := &loop{
		srv: s, cfg: &s.cfg, id: id, log: s.cfg.Log.With(zap.Int("loop", id)),
		epfd: -1, evfd: -1, start: time.Now(),
		index:   newIndex(),
		events:  make([]unix.EpollEvent, maxEvents),
		scratch: make([]byte, scratchSize),
		iov:     make([]unix.Iovec, 0, iovMax),
		hbFrame: sse.Heartbeat,
	}
	l.wakeBuf[0] = 1 // little-endian uint64(1)
	var err error
	if l.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, wrapErr("epoll_create1", err)
	}
	if l.evfd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		l.release()
		return nil, wrapErr("eventfd", err)
	}
	if err := l.ctl(unix.EPOLL_CTL_ADD, l.evfd, unix.EPOLLIN|unix.EPOLLET, tokenWake, 0); err != nil {
		l.release()
		return nil, err
	}
	l.cursor = s.cfg.Hub.Subscribe(l.wakeup)
	return l, nil
}

// addListener watches a listening socket. A shared one (the same socket
// in every loop) is registered EPOLLEXCLUSIVE so a new connection wakes one
// loop, not all; the loop that loses an accept race just sees EAGAIN.
func (l *loop) addListener(fd int, shared, proxy bool) error {
	tok := -2 - int32(len(l.lns))
	events := uint32(unix.EPOLLIN | unix.EPOLLET)
	if shared {
		events |= unix.EPOLLEXCLUSIVE
	}
	if err := l.ctl(unix.EPOLL_CTL_ADD, fd, events, tok, 0); err != nil {
		if !shared {
			unix.Close(fd)
		}
		return err
	}
	l.lns = append(l.lns, listener{fd: fd, shared: shared, proxy: proxy})
	return nil
}

func (l *loop) ctl(op, fd int, events uint32, tok int32, gen uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: tok, Pad: int32(gen)}
	return wrapErr("epoll_ctl", unix.EpollCtl(l.epfd, op, fd, &ev))
}

// wakeup makes a sleeping epoll_wait return. Called by publishers (through
// the ring) and by Server.Close; safe from any goroutine.
//
// A publisher may hold a stale cursor list and call this after the loop has
// exited; the wakers count and evClosed flag (a Dekker pair with release)
// make sure it never writes to a closed, possibly reused, descriptor.
func (l *loop) wakeup() {
	l.wakers.Add(1)
	if !l.evClosed.Load() {
		unix.RawSyscall(unix.SYS_WRITE, uintptr(l.evfd), uintptr(unsafe.Pointer(&l.wakeBuf[0])), 8)
	}
	l.wakers.Add(-1)
}

func (l *loop) run() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	l.running.Store(true)
	if UseIOURing {
		l.ring = openURing() // on the loop's own thread: the ring's only submitter
		defer l.ring.close()
		if l.ring == nil && l.id == 0 {
			l.log.Info("io_uring unavailable: delivering with sendmsg")
		}
	}
	l.now = int64(time.Since(l.start) / time.Millisecond)
	l.startWheel()
	for !l.stop.Load() {
		l.turn()
	}
	l.closeAll()
}

func (l *loop) turn() {
	timeout := l.waitTimeout()
	if timeout != 0 && !l.cursor.Sleep() {
		timeout = 0
	}
	n, err := unix.EpollWait(l.epfd, l.events, timeout)
	l.cursor.Awake()
	l.loadSettings()
	l.now = int64(time.Since(l.start) / time.Millisecond)
	l.takeRules() // a reload's rules, before this turn serves anything
	if err != nil && err != unix.EINTR {
		l.log.Error("epoll_wait failed", zap.Error(err))
		time.Sleep(10 * time.Millisecond)
		return
	}
	for i := 0; i < n; i++ {
		l.dispatch(&l.events[i])
	}
	l.runAgain()
	l.deliver()
	l.runReplays()
	l.closeDoomed()
	l.runTimers()
	if l.drainReq.Load() {
		l.drainStep()
	}
	if l.handReq.Load() {
		l.handoffStep()
	}
}

// waitTimeout is how long epoll_wait may block: 0 when work is pending,
// else until the next timer.
func (l *loop) waitTimeout() int {
	if len(l.again) > 0 || l.cursor.Pending() || l.stop.Load() || l.replayReady() {
		return 0
	}
	next := l.wheel.at()
	if at, ok := l.deadlines.next(); ok && at < next {
		next = at
	}
	for i := range l.lns {
		if ln := &l.lns[i]; ln.more {
			return 0
		} else if ln.pausedUntil != 0 && ln.pausedUntil < next {
			next = ln.pausedUntil
		}
	}
	next = l.drainWait(next)
	now := int64(time.Since(l.start) / time.Millisecond)
	if l.futureChecks() && next > now+futureRecheckMs {
		next = now + futureRecheckMs
	}
	d := next - now
	switch {
	case d < 1:
		return 1
	case d > maxWaitMs:
		return maxWaitMs
	}
	return int(d)
}

func (l *loop) dispatch(ev *unix.EpollEvent) {
	switch {
	case ev.Fd == tokenWake:
		var b [8]byte
		unix.RawSyscall(unix.SYS_READ, uintptr(l.evfd), uintptr(unsafe.Pointer(&b[0])), 8)
		return
	case ev.Fd < 0:
		l.accept(int(-2 - ev.Fd))
		return
	}
	slot := ev.Fd
	c := l.conns.at(slot)
	gen := uint32(ev.Pad)
	if c.gen != gen || c.state == stateFree {
		return // the connection closed earlier in this turn
	}
	if ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		l.onReadable(slot)
	}
	if ev.Events&unix.EPOLLOUT != 0 && c.gen == gen && c.out.len() > 0 {
		l.flush(slot)
	}
}

// runAgain resumes the work that a per-turn cap cut short.
func (l *loop) runAgain() {
	for i := range l.lns {
		if l.lns[i].more {
			l.accept(i)
		}
	}
	if len(l.again) == 0 {
		return
	}
	list := l.again
	l.again = l.again[len(l.again):] // appends during this pass go after it
	for _, r := range list {
		c := l.conns.at(r.slot)
		if c.gen != r.gen || c.state == stateFree {
			continue
		}
		c.inAgain = false
		if c.out.len() > 0 {
			l.flush(r.slot)
		}
		if c.gen == r.gen && c.readMore && c.state != stateFree {
			l.onReadable(r.slot)
		}
	}
	if len(l.again) == 0 {
		l.again = list[:0]
	} else {
		l.again = append(list[:0], l.again...)
	}
}

func (l *loop) pushAgain(slot int32) {
	c := l.conns.at(slot)
	if !c.inAgain {
		c.inAgain = true
		l.again = append(l.again, connRef{slot, c.gen})
	}
}

func (l *loop) heartbeatMs() int64 { return int64(l.cfg.Heartbeat / time.Millisecond) }

// closeAll ends the loop: listeners first (stop accepting), then every
// connection, then the cursor so publishers no longer wait for this loop.
func (l *loop) closeAll() {
	for i := range l.lns {
		if l.lns[i].shared {
			unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, l.lns[i].fd, nil) // stop accepting; the server closes it
		} else {
			unix.Close(l.lns[i].fd)
		}
		l.lns[i].fd = -1
	}
	for i := range l.conns.len() {
		if l.conns.at(i).state != stateFree {
			l.close(i, CloseShutdown)
		}
	}
	l.stats.backlogged.Store(l.backlogged) // 0 now: no turn follows to store it
	l.stats.backlogBytes.Store(l.backlogBytes)
	l.srv.cfg.Hub.Unsubscribe(l.cursor)
}

// release closes the loop's own descriptors; after run has returned (or
// when it never ran).
func (l *loop) release() {
	for i := range l.lns {
		if l.lns[i].fd >= 0 && !l.lns[i].shared {
			unix.Close(l.lns[i].fd)
			l.lns[i].fd = -1
		}
	}
	if l.cursor != nil && !l.running.Load() {
		l.srv.cfg.Hub.Unsubscribe(l.cursor)
	}
	if l.epfd >= 0 {
		unix.Close(l.epfd)
		l.epfd = -1
	}
	if l.evfd >= 0 && !l.evClosed.Swap(true) {
		for l.wakers.Load() != 0 {
			runtime.Gosched()
		}
		unix.Close(l.evfd)
	}
}
