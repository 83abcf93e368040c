package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// Connection states.
const (
	connIdle       = iota // not opened yet
	connConnecting        // connect in progress
	connHead              // request sent, waiting for the response head
	connStreaming         // head checked, parsing events
	connClosed
)

const (
	readBufSize   = 64 << 10
	epollWaitMs   = 50 // how often the loop looks at commands and timers when idle
	progressEvery = 250 * time.Millisecond
)

// subscription is one SSE connection. The loop goroutine owns all of them.
type subscription struct {
	fd       int
	state    uint8
	chunked  bool
	streamed bool   // reached connStreaming at some point
	startNs  int64  // when connect began
	head     []byte // partial response head; nil once streaming
	dec      chunkedDecoder
	sse      sseParser
	track    connTrack
}

// worker is one process's epoll loop over its subscriptions. Everything
// here is owned by the goroutine running loop.
type worker struct {
	job     *workerJob
	epfd    int
	subs    []subscription
	buf     []byte
	target  unix.SockaddrInet4
	src     []unix.SockaddrInet4
	request []byte
	out     *messenger

	next      int // next subscription to open
	pending   int // connecting or waiting for the head
	connected int
	failed    int
	errs      map[string]int
	firstErr  string

	tally        tally
	abandoned    uint64 // events that subscriptions which closed mid-run will never get
	closedLate   int
	closeReasons map[string]int

	cpuAtConnected int64 // this process's CPU ns when every connection had connected

	cur     *subscription // the subscription being parsed, for the callbacks below
	now     int64         // arrival time of the bytes being parsed, unix ns
	onEvent func(*sseEvent)
	onBody  func([]byte) error

	storm stormState // storm.go
}

func runWorker(job *workerJob, cmds <-chan command, out *messenger) error {
	w, err := newWorker(job, out)
	if err != nil {
		return err
	}
	defer w.close()
	// The loop blocks in epoll_wait; give it its own thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return w.loop(cmds)
}

func newWorker(job *workerJob, out *messenger) (*worker, error) {
	ap, err := netip.ParseAddrPort(job.Target)
	if err != nil || !ap.Addr().Is4() {
		return nil, fmt.Errorf("ssedge-load: target %q: want IPv4 ip:port", job.Target)
	}
	w := &worker{
		job:          job,
		subs:         make([]subscription, job.Count),
		buf:          make([]byte, readBufSize),
		target:       unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()},
		request:      []byte(job.Request),
		out:          out,
		errs:         make(map[string]int),
		closeReasons: make(map[string]int),
		tally:        newTally(job.Events),
	}
	for _, s := range job.SrcAddrs {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			return nil, fmt.Errorf("ssedge-load: source address %q: want IPv4", s)
		}
		w.src = append(w.src, unix.SockaddrInet4{Addr: a.As4()})
	}
	w.onEvent = func(ev *sseEvent) {
		got := w.cur.track.got
		if ev.Type != nil && w.onStormEvent(ev, got) {
			return
		}
		w.tally.record(&w.cur.track, ev, w.now, w.job.Run)
		if w.storm.after > 0 {
			w.onStormEvent(ev, got)
		}
	}
	w.onBody = func(b []byte) error { return w.cur.sse.feed(b, w.onEvent) }
	w.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	return w, nil
}

func (w *worker) close() {
	for i := range w.subs {
		if s := &w.subs[i]; s.state != connIdle && s.state != connClosed {
			unix.Close(s.fd)
			s.state = connClosed
		}
	}
	unix.Close(w.epfd)
}

func (w *worker) loop(cmds <-chan command) error {
	events := make([]unix.EpollEvent, 1024)
	var lastProgress, lastTimeoutScan time.Time
	connectDone, completeSent := false, false
	for {
		for conc := w.concurrency(); w.next < len(w.subs) && w.pending < conc; w.next++ {
			if w.subs[w.next].state == connIdle { // after a drop, only the dropped ones
				w.open(w.next)
			}
		}
		n, err := unix.EpollWait(w.epfd, events, epollWaitMs)
		if err != nil && err != unix.EINTR {
			return os.NewSyscallError("epoll_wait", err)
		}
		for _, ev := range events[:max(n, 0)] {
			w.handle(&w.subs[ev.Fd], ev.Events)
		}

		now := time.Now()
		if !connectDone {
			if now.Sub(lastTimeoutScan) > 500*time.Millisecond {
				w.expireConnects(now.UnixNano())
				lastTimeoutScan = now
			}
			if w.next == len(w.subs) && w.pending == 0 {
				connectDone = true
				msg := w.status("connected")
				if w.storm.dropped {
					msg = w.stormStatus()
				} else {
					w.cpuAtConnected = processCPUNs()
				}
				if err := w.out.send(msg); err != nil {
					return err
				}
			} else if now.Sub(lastProgress) >= progressEvery {
				lastProgress = now
				if err := w.out.send(w.status("progress")); err != nil {
					return err
				}
			}
		}
		if connectDone && w.dropReady() {
			st := w.drop()
			connectDone = false
			if err := w.out.send(message{Type: "dropped", Storm: &st}); err != nil {
				return err
			}
			continue
		}
		if connectDone && !completeSent && w.tally.Delivered+w.abandoned >= uint64(w.job.Events*w.connected) {
			completeSent = true
			if err := w.out.send(message{Type: "complete"}); err != nil {
				return err
			}
		}

		select {
		case c, ok := <-cmds:
			if !ok || c.Cmd == "quit" {
				return nil
			}
			if c.Cmd == "drop" {
				w.armDrop(c.After)
			}
			if c.Cmd == "report" {
				if err := w.out.send(message{Type: "report", Report: w.report()}); err != nil {
					return err
				}
			}
		default:
		}
	}
}

func (w *worker) status(typ string) message {
	return message{Type: typ, Connected: w.connected, Failed: w.failed, Errors: w.errs, FirstError: w.firstErr}
}

// open starts a non-blocking connect for subscription i.
func (w *worker) open(i int) {
	s := &w.subs[i]
	s.startNs = time.Now().UnixNano()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		w.fail(s, "socket", err)
		return
	}
	s.fd, s.state = fd, connConnecting
	w.pending++
	if len(w.src) > 0 {
		// Let connect pick the port for the full 4-tuple, so each source
		// address carries a whole ephemeral range to the one target port.
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1); err != nil {
			w.closeSub(s, "setsockopt", err)
			return
		}
		if err := unix.Bind(fd, &w.src[(w.job.First+i)%len(w.src)]); err != nil {
			w.closeSub(s, "bind", err)
			return
		}
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(i)}
	if err := unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		w.closeSub(s, "epoll_ctl", err)
		return
	}
	if err := unix.Connect(fd, &w.target); err != nil && err != unix.EINPROGRESS {
		w.closeSub(s, "connect", err)
	}
}

func (w *worker) handle(s *subscription, events uint32) {
	switch s.state {
	case connConnecting:
		if events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
			return
		}
		soErr, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err == nil && soErr != 0 {
			err = unix.Errno(soErr)
		}
		if err != nil {
			w.closeSub(s, "connect", err)
			return
		}
		req := w.requestFor(s)
		n, err := unix.Write(s.fd, req)
		if err == nil && n < len(req) {
			err = errors.New("short write")
		}
		if err != nil {
			w.closeSub(s, "write request", err)
			return
		}
		s.state = connHead
	case connHead, connStreaming:
		w.read(s, events)
	}
}

// read drains s. A read shorter than the buffer means the socket was empty
// at that moment, and data arriving later raises a new edge, so it stops
// there instead of paying for a read that returns EAGAIN.
func (w *worker) read(s *subscription, events uint32) {
	for {
		n, err := unix.Read(s.fd, w.buf)
		switch {
		case err == unix.EAGAIN:
			return
		case err == unix.EINTR:
			continue
		case err != nil:
			w.closeSub(s, "read", err)
			return
		case n == 0:
			w.closeSub(s, "read", errStreamEnded)
			return
		}
		w.now = time.Now().UnixNano()
		if err := w.consume(s, w.buf[:n]); err != nil {
			w.closeSub(s, "stream", err)
			return
		}
		if n < len(w.buf) && events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) == 0 {
			return
		}
	}
}

func (w *worker) consume(s *subscription, b []byte) error {
	if s.state == connHead {
		head := b
		if len(s.head) > 0 {
			s.head = append(s.head, b...)
			head = s.head
		}
		end := bytes.Index(head, []byte("\r\n\r\n"))
		if end < 0 {
			if len(head) > maxResponseHead {
				return errHeadTooLarge
			}
			if len(s.head) == 0 {
				s.head = append(s.head, b...)
			}
			return nil
		}
		h, err := parseResponseHead(head[:end+4])
		if err != nil {
			return err
		}
		b = head[end+4:]
		if s.streamed {
			w.resumedHead()
		} else {
			w.connected++
		}
		s.head, s.chunked, s.state, s.streamed = nil, h.chunked, connStreaming, true
		w.pending--
	}
	w.cur = s
	if s.chunked {
		return s.dec.feed(b, w.onBody)
	}
	return s.sse.feed(b, w.onEvent)
}

// expireConnects fails subscriptions that have not streamed within the
// connect timeout.
func (w *worker) expireConnects(nowNs int64) {
	for i := range w.subs[:w.next] {
		s := &w.subs[i]
		if (s.state == connConnecting || s.state == connHead) && nowNs-s.startNs > w.job.ConnectTimeoutNs {
			w.closeSub(s, "connect", unix.ETIMEDOUT)
		}
	}
}

// closeSub closes s and accounts for why.
func (w *worker) closeSub(s *subscription, op string, err error) {
	unix.Close(s.fd)
	switch s.state {
	case connConnecting, connHead:
		w.pending--
		w.fail(s, op, err)
		return
	case connStreaming:
		w.closedLate++
		w.closeReasons[reason(op, err)]++
		w.abandoned += uint64(w.job.Events - int(s.track.got))
	}
	s.state = connClosed
	s.head, s.sse = nil, sseParser{}
}

func (w *worker) fail(s *subscription, op string, err error) {
	if s.streamed {
		w.resumeFailed(s)
	}
	s.state = connClosed
	w.failed++
	w.errs[reason(op, err)]++
	if w.firstErr == "" {
		w.firstErr = fmt.Sprintf("%s: %v", op, err)
	}
}

// reason is a short key for counting failures: the operation and the
// errno name when there is one.
func reason(op string, err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		if name := unix.ErrnoName(errno); name != "" {
			return op + ": " + name
		}
	}
	return op + ": " + err.Error()
}

func (w *worker) report() *workerReport {
	r := &workerReport{
		tally:           w.tally,
		Connected:       w.connected,
		ClosedDuringRun: w.closedLate,
		CloseReasons:    w.closeReasons,
		MinGot:          -1,
		CPUNs:           processCPUNs() - w.cpuAtConnected,
		Gaps:            w.storm.gaps,
	}
	for i := range w.subs {
		s := &w.subs[i]
		if !s.streamed {
			continue
		}
		got := int(s.track.got)
		r.Lost += uint64(w.job.Events - got)
		if r.MinGot < 0 || got < r.MinGot {
			r.MinGot = got
		}
		r.MaxGot = max(r.MaxGot, got)
	}
	r.MinGot = max(r.MinGot, 0)
	return r
}

// processCPUNs is this process's user+system CPU time.
func processCPUNs() int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
