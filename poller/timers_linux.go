package poller

import (
	"golang.org/x/sys/unix"

	"github.com/ssedge/ssedge/httpmin"
	"github.com/ssedge/ssedge/sse"
)

// timers runs the loop's timers: request-head deadlines, the heartbeat
// sweep and the accept back-off.
func (l *loop) timers() {
	for l.headerH < len(l.headerQ) {
		d := l.headerQ[l.headerH]
		if d.at > l.now {
			break
		}
		l.headerQ[l.headerH] = deadline{}
		l.headerH++
		c := &l.conns[d.slot]
		if c.gen != d.gen || c.deadline != d.at {
			continue
		}
		switch c.state {
		case stateReading:
			l.out = httpmin.AppendError(l.out[:0], 408, "request head not received in time", false, "")
			l.respond(d.slot, l.out, CloseHeaderTimeout)
		case stateLingering:
			l.close(d.slot, c.after)
		}
	}
	if l.headerH == len(l.headerQ) {
		l.headerQ, l.headerH = l.headerQ[:0], 0
	} else if l.headerH > 1024 && l.headerH > len(l.headerQ)/2 {
		n := copy(l.headerQ, l.headerQ[l.headerH:])
		l.headerQ, l.headerH = l.headerQ[:n], 0
	}
	if l.now >= l.sweepAt {
		l.heartbeat()
		l.sweepAt = l.now + max(l.heartbeatMs()/4, 1)
	}
	for i := range l.lns {
		if ln := &l.lns[i]; ln.pausedUntil != 0 && ln.pausedUntil <= l.now {
			l.accept(i)
		}
	}
}

// heartbeat sends the shared comment frame to every stream silent for a
// heartbeat interval. A stream with a backlog is not silent: it is waiting
// for the client to read.
func (l *loop) heartbeat() {
	hb := uint32(l.heartbeatMs())
	now := uint32(l.now)
	for i := range l.conns {
		c := &l.conns[i]
		if c.state == stateStreaming && c.out.len() == 0 && now-c.wroteAt >= hb {
			l.send(int32(i), sse.Heartbeat)
		}
	}
}

// accept takes new connections from listener i until EAGAIN, at most
// acceptBurst this turn.
func (l *loop) accept(i int) {
	ln := &l.lns[i]
	ln.more = false
	if ln.pausedUntil > l.now {
		return
	}
	ln.pausedUntil = 0
	for k := 0; k < acceptBurst; k++ {
		fd, _, errno := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(ln.fd), 0, 0, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		switch errno {
		case 0:
			l.acceptResumed(ln)
			l.open(int(fd))
			continue
		case unix.EAGAIN:
			l.acceptResumed(ln)
			return
		case unix.EINTR, unix.ECONNABORTED, unix.EPROTO:
			continue
		case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
			l.acceptBackoff(ln, errno)
			return
		default:
			// accept(2) passes on errors pending on the new connection
			// (ENETDOWN, EHOSTUNREACH...): that connection is gone, the
			// queue behind it is not, and no new edge will come for it.
			l.log.Debug("accept failed", errorField(errno))
			continue
		}
	}
	ln.more = true
}
