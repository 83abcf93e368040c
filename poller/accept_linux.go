package poller

import (
	"net/netip"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

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
		salen := uint32(unix.SizeofSockaddrAny)
		fd, _, errno := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(ln.fd), uintptr(unsafe.Pointer(&l.peer)),
			uintptr(unsafe.Pointer(&salen)), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		switch errno {
		case 0:
			l.acceptResumed(ln)
			l.open(int(fd), peerAddr(&l.peer), ln.proxy)
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

// acceptBackoff pauses accepting on ln after a descriptor or memory
// shortage: the loop keeps serving its connections and retries after a
// back-off doubling from 10 ms to 1 s. One log line per burst.
func (l *loop) acceptBackoff(ln *listener, errno unix.Errno) {
	l.stats.acceptErrors.Add(1)
	ln.burstErrs++
	if ln.backoff == 0 {
		ln.backoff = 10
		l.log.Warn("accept: out of resources, pausing accepts and backing off; existing connections are still served",
			zap.Error(errno), zap.Int64("open_connections", l.stats.active.Load()),
			zap.String("fix", "raise the open-files limit (LimitNOFILE=, ulimit -n) or fs.file-max; see SYSCTL.md"))
	} else if ln.backoff < 1000 {
		ln.backoff *= 2
	}
	ln.pausedUntil = l.now + ln.backoff
}

// acceptResumed ends a back-off burst.
func (l *loop) acceptResumed(ln *listener) {
	if ln.backoff == 0 {
		return
	}
	l.log.Info("accept resumed", zap.Uint64("errors_in_burst", ln.burstErrs))
	ln.backoff, ln.burstErrs = 0, 0
}

// peerAddr reads accept4's address: the IP of a TCP peer, nothing for a
// unix-socket peer.
func peerAddr(sa *unix.RawSockaddrAny) netip.Addr {
	switch sa.Addr.Family {
	case unix.AF_INET:
		return netip.AddrFrom4((*unix.RawSockaddrInet4)(unsafe.Pointer(sa)).Addr)
	case unix.AF_INET6:
		return netip.AddrFrom16((*unix.RawSockaddrInet6)(unsafe.Pointer(sa)).Addr).Unmap()
	}
	return netip.Addr{}
}
