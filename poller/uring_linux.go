package poller

import (
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// io_uring batched sends (issue 16 item 7): one delivery pass hands the
// kernel every touched subscriber's write in one io_uring_enter instead of
// one send/sendmsg each. On by default (UseIOURing; SSEDGE_IO_URING=0 turns
// it off): it cut the server's CPU per delivery of a broadcast to 15,000
// subscribers by about a third, docs/BENCH.md "io_uring batched sends
// (item 7)". A step of the heartbeat wheel sends its heartbeats the same
// way (wheelStep, finishHeartbeats: one send SQE of the shared frame per
// silent stream), which cut the CPU per heartbeat of idle streams,
// docs/BENCH.md "Heartbeats through the ring". Responses and backlog
// flushes still use send/sendmsg.
//
// Invariants:
//
//   - Each SQE is a send (one frame) or sendmsg (several) with
//     MSG_DONTWAIT|MSG_NOSIGNAL and without MSG_WAITALL, so the kernel
//     tries it once, inline, and completes it with what send(2) would have
//     returned: bytes taken (possibly short) or -EAGAIN, never parking it
//     for later. The completion is then handled exactly as a writev's
//     result (pendingWritten) or, for a heartbeat, a send's (sent): short
//     writes and EAGAIN go to the backlog.
//   - A batch is a delivery pass's or a wheel step's, never both: each
//     submits and handles all it queued before it returns, so the ring is
//     empty between them.
//   - A batch holds at most one SQE per connection, so the order of bytes
//     on a socket is the order of its passes, as with send(2). A heartbeat
//     goes only to a stream with no backlog, never ahead of one; while
//     queued the stream is off the wheel, and goes back on (an interval
//     after the write) when its result is handled.
//   - Every SQE of a batch is completed (all CQEs reaped, waiting if need
//     be) before any result is handled: until then nothing closes a
//     descriptor in the batch, and the frames (l.batch), iovecs and
//     msghdrs the kernel reads stay alive and unmodified.
//   - SQEs the kernel did not take are withdrawn (the SQ tail is set back)
//     and written with send/sendmsg, so nothing is lost or sent twice.
//   - The ring's memory is fixed per loop (uringEntries SQEs, their
//     msghdrs, uringIovs iovecs), whatever the number of connections.
//   - Where io_uring is missing or refused (ENOSYS, EPERM,
//     kernel.io_uring_disabled, seccomp, memory limits), openURing returns
//     nil and the loop writes with send/sendmsg as before.

// UseIOURing makes new loops send a delivery pass's writes through
// io_uring where the kernel allows it (the default). Set before
// Server.Start; the environment variable SSEDGE_IO_URING=0 clears it.
var UseIOURing = os.Getenv("SSEDGE_IO_URING") != "0"

const (
	uringEntries = 256    // SQEs per batch; the CQ ring is twice this
	uringIovs    = iovMax // iovecs for the batch's sendmsg SQEs
)

// One connection's frames of a pass (at most maxBatch) always fit the
// iovec pool of an empty batch: this fails to compile otherwise.
var _ [uringIovs - maxBatch]struct{}

// Kernel ABI (include/uapi/linux/io_uring.h).
const (
	iorOpSendmsg       = 9
	iorOpSend          = 26
	iorEnterGetevents  = 1 << 0
	iorSetupSubmitAll  = 1 << 7
	iorSetupCoopTask   = 1 << 8
	iorSetupSingleIss  = 1 << 12
	iorSetupDeferTask  = 1 << 13
	iorFeatSingleMmap  = 1 << 0
	iorOffSQRing       = 0
	iorOffCQRing       = 0x8000000
	iorOffSQEs         = 0x10000000
	iorSQEBytes        = 64
	iorCQEBytes        = 16
	uringSendFlags     = unix.MSG_DONTWAIT | unix.MSG_NOSIGNAL
	uringDisabledProcF = "/proc/sys/kernel/io_uring_disabled"
)

type iorSQOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type iorCQOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

type iorParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sqOff                                                                  iorSQOffsets
	cqOff                                                                  iorCQOffsets
}

var _ [120 - unsafe.Sizeof(iorParams{})]struct{} // the kernel's struct io_uring_params
var _ [unsafe.Sizeof(iorParams{}) - 120]struct{}

// iorSQE is struct io_uring_sqe as used here (64 bytes).
type iorSQE struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64
	addr        uint64
	len         uint32
	msgFlags    uint32
	userData    uint64
	bufIndex    uint16
	personality uint16
	spliceFdIn  int32
	addr3       uint64
	pad         uint64
}

var _ [iorSQEBytes - unsafe.Sizeof(iorSQE{})]struct{}
var _ [unsafe.Sizeof(iorSQE{}) - iorSQEBytes]struct{}

type iorCQE struct {
	userData uint64
	res      int32
	flags    uint32
}

// uringSend is one queued write of a batch: whose, and what to do with
// its result.
type uringSend struct {
	slot  int32
	head  int32 // the connection's frames in l.refs
	total int
	n     int
	errno unix.Errno
	done  bool
}

// uring is a loop's io_uring, owned by the loop goroutine.
type uring struct {
	fd     int
	flags  uint32 // the IORING_SETUP_ flags the kernel took
	sqMem  []byte // SQ (and CQ, with IORING_FEAT_SINGLE_MMAP) ring
	cqMem  []byte // nil when shared with sqMem
	sqeMem []byte

	sqHead, sqTail *uint32
	sqMask         uint32
	cqHead, cqTail *uint32
	cqMask         uint32
	sqes           *[uringEntries]iorSQE
	cqes           unsafe.Pointer

	msgs  [uringEntries]unix.Msghdr
	iov   []unix.Iovec // len: used this batch
	sends []uringSend  // this batch, by user_data
}

// Process-wide counts, for tests: rings opened and not yet closed, opens
// refused, sends the kernel did not take (written with send/sendmsg), and
// sends it took only in part (short or EAGAIN).
var uringOpen, uringRefused, uringWithdrawn, uringShort atomic.Int64

// openURing sets up a ring for the calling thread (the loop's, locked),
// or returns nil where io_uring is unavailable or refused.
func openURing() *uring {
	if b, err := os.ReadFile(uringDisabledProcF); err == nil && len(b) > 0 && b[0] != '0' {
		uringRefused.Add(1)
		return nil
	}
	// The loop is the only submitter (SINGLE_ISSUER) and reaps its own
	// completions in io_uring_enter (DEFER_TASKRUN); older kernels reject
	// those flags, so fall back to plain SUBMIT_ALL.
	var fd int
	var p iorParams
	for _, flags := range []uint32{iorSetupSubmitAll | iorSetupSingleIss | iorSetupDeferTask, iorSetupSubmitAll | iorSetupCoopTask, iorSetupSubmitAll} {
		p = iorParams{flags: flags}
		r, _, e := unix.RawSyscall(unix.SYS_IO_URING_SETUP, uringEntries, uintptr(unsafe.Pointer(&p)), 0)
		if e == 0 {
			fd = int(r)
			break
		}
		if e != unix.EINVAL {
			uringRefused.Add(1)
			return nil // ENOSYS, EPERM, ENOMEM, ...
		}
		fd = -1
	}
	if fd < 0 || p.sqEntries != uringEntries { // u.sqes is an array of exactly that many
		if fd >= 0 {
			unix.Close(fd)
		}
		uringRefused.Add(1)
		return nil
	}
	unix.CloseOnExec(fd)
	u := &uring{fd: fd, flags: p.flags, iov: make([]unix.Iovec, 0, uringIovs), sends: make([]uringSend, 0, uringEntries)}
	sqSize := int(p.sqOff.array + p.sqEntries*4)
	cqSize := int(p.cqOff.cqes + p.cqEntries*iorCQEBytes)
	single := p.features&iorFeatSingleMmap != 0
	if single {
		sqSize = max(sqSize, cqSize)
	}
	var err error
	prot, flags := unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE
	if u.sqMem, err = unix.Mmap(fd, iorOffSQRing, sqSize, prot, flags); err != nil {
		u.close()
		uringRefused.Add(1)
		return nil
	}
	cqMem := u.sqMem
	if !single {
		if u.cqMem, err = unix.Mmap(fd, iorOffCQRing, cqSize, prot, flags); err != nil {
			u.close()
			uringRefused.Add(1)
			return nil
		}
		cqMem = u.cqMem
	}
	if u.sqeMem, err = unix.Mmap(fd, iorOffSQEs, int(p.sqEntries)*iorSQEBytes, prot, flags); err != nil {
		u.close()
		uringRefused.Add(1)
		return nil
	}
	sq := unsafe.Pointer(&u.sqMem[0])
	cq := unsafe.Pointer(&cqMem[0])
	u.sqHead = (*uint32)(unsafe.Add(sq, p.sqOff.head))
	u.sqTail = (*uint32)(unsafe.Add(sq, p.sqOff.tail))
	u.sqMask = *(*uint32)(unsafe.Add(sq, p.sqOff.ringMask))
	u.cqHead = (*uint32)(unsafe.Add(cq, p.cqOff.head))
	u.cqTail = (*uint32)(unsafe.Add(cq, p.cqOff.tail))
	u.cqMask = *(*uint32)(unsafe.Add(cq, p.cqOff.ringMask))
	u.cqes = unsafe.Add(cq, p.cqOff.cqes)
	u.sqes = (*[uringEntries]iorSQE)(unsafe.Pointer(&u.sqeMem[0]))
	// SQ slot i always holds SQE i: the indirection array is set once.
	array := unsafe.Slice((*uint32)(unsafe.Add(sq, p.sqOff.array)), p.sqEntries)
	for i := range array {
		array[i] = uint32(i)
	}
	uringOpen.Add(1)
	return u
}

func (u *uring) close() {
	if u == nil {
		return
	}
	for _, m := range [][]byte{u.sqeMem, u.cqMem, u.sqMem} {
		if m != nil {
			unix.Munmap(m)
		}
	}
	u.sqeMem, u.cqMem, u.sqMem = nil, nil, nil
	if u.fd >= 0 {
		unix.Close(u.fd)
		u.fd = -1
		if u.sqes != nil {
			uringOpen.Add(-1)
		}
	}
}

// room reports whether a send of iovs iovecs fits in the current batch.
func (u *uring) room(iovs int) bool {
	return len(u.sends) < uringEntries && (iovs == 1 || len(u.iov)+iovs <= cap(u.iov))
}

// queueSend queues one write of the frames iov describes (copied into the
// ring's own iovecs; the frames themselves must stay alive until the
// batch completes). The caller checked room.
func (u *uring) queueSend(fd int32, iov []unix.Iovec, s uringSend) {
	i := len(u.sends)
	u.sends = append(u.sends, s)
	sqe := &u.sqes[(atomic.LoadUint32(u.sqTail)+uint32(i))&u.sqMask]
	*sqe = iorSQE{fd: fd, msgFlags: uringSendFlags, userData: uint64(i)}
	if len(iov) == 1 {
		sqe.opcode = iorOpSend
		sqe.addr = uint64(uintptr(unsafe.Pointer(iov[0].Base)))
		sqe.len = uint32(iov[0].Len)
		return
	}
	start := len(u.iov)
	u.iov = append(u.iov, iov...)
	m := &u.msgs[i]
	*m = unix.Msghdr{Iov: &u.iov[start]}
	m.SetIovlen(len(iov))
	sqe.opcode = iorOpSendmsg
	sqe.addr = uint64(uintptr(unsafe.Pointer(m)))
	sqe.len = 1
}

// submit hands the queued SQEs to the kernel and waits for all their
// completions, filling in each send's n and errno. Sends the kernel did
// not take keep done false: the caller writes them itself.
func (u *uring) submit() {
	n := uint32(len(u.sends))
	if n == 0 {
		return
	}
	tail := atomic.LoadUint32(u.sqTail)
	atomic.StoreUint32(u.sqTail, tail+n)
	// The kernel's SQ head says how many it consumed, whatever the call
	// returned (it may be interrupted after submitting).
	for {
		consumed := atomic.LoadUint32(u.sqHead) - tail
		if consumed == n {
			break
		}
		_, _, e := unix.RawSyscall6(unix.SYS_IO_URING_ENTER, uintptr(u.fd), uintptr(n-consumed), uintptr(n-consumed), iorEnterGetevents, 0, 0)
		if e == unix.EINTR || e == 0 && atomic.LoadUint32(u.sqHead)-tail > consumed {
			continue
		}
		break // refused (EAGAIN, EBUSY, EEXIST, ...) or no progress
	}
	submitted := atomic.LoadUint32(u.sqHead) - tail
	if submitted < n {
		// Withdraw what the kernel did not consume: the caller writes it.
		atomic.StoreUint32(u.sqTail, tail+submitted)
		uringWithdrawn.Add(int64(n - submitted))
	}
	for seen := uint32(0); seen < submitted; {
		head, ctail := atomic.LoadUint32(u.cqHead), atomic.LoadUint32(u.cqTail)
		if head == ctail {
			// Not all posted yet (cannot happen with MSG_DONTWAIT, but the
			// buffers must not be touched before): wait.
			unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(u.fd), 0, uintptr(submitted-seen), iorEnterGetevents, 0, 0)
			continue
		}
		for ; head != ctail; head++ {
			cqe := (*iorCQE)(unsafe.Add(u.cqes, uintptr(head&u.cqMask)*iorCQEBytes))
			s := &u.sends[cqe.userData]
			s.done = true
			if cqe.res < 0 {
				s.errno = unix.Errno(-cqe.res)
			} else {
				s.n = int(cqe.res)
			}
			seen++
		}
		atomic.StoreUint32(u.cqHead, head)
	}
}

// reset readies the ring for the next batch once its results are handled.
func (u *uring) reset() {
	clear(u.iov)
	u.iov = u.iov[:0]
	clear(u.msgs[:len(u.sends)])
	u.sends = u.sends[:0]
}

// writePendingBatched is writePending for every connection of l.dirty,
// with the streams' writes submitted through the ring, uringEntries at a
// time.
func (l *loop) writePendingBatched() {
	u := l.ring
	for _, slot := range l.dirty {
		head, ok := l.takePending(slot)
		if !ok {
			continue
		}
		c := l.conns.at(slot)
		iov, total := l.pendingIov(head)
		if !u.room(len(iov)) {
			l.finishBatch()
		}
		u.queueSend(c.fd, iov, uringSend{slot: slot, head: head, total: total})
		clear(iov)
	}
	l.finishBatch()
}

// finishBatch submits the queued sends, waits for all of them, then
// handles each result as writePending would, in the order queued.
func (l *loop) finishBatch() {
	u := l.ring
	u.submit()
	for i := range u.sends {
		s := &u.sends[i]
		if !s.done {
			iov, _ := l.pendingIov(s.head)
			s.n, s.errno = l.writev(l.conns.at(s.slot).fd, iov)
			clear(iov)
		} else if s.n < s.total && (s.errno == 0 || s.errno == unix.EAGAIN) {
			uringShort.Add(1)
		}
		l.pendingWritten(s.slot, s.head, s.total, s.n, s.errno)
	}
	u.reset()
}
