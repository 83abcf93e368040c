package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	floorNullSyscalls = 20000 // getppid calls timed for the null-syscall figure
	floorHotWrites    = 50    // writes per round to the one socket of the hot figure
	floorHotRounds    = 40
	floorDrainWait    = 5 * time.Second // the reader must drain a burst within this
	// floorQuiet lets the reader go back to sleep in epoll_wait after it
	// drained a burst, so the next burst's first write wakes it as a
	// delivery wakes a sleeping subscriber.
	floorQuiet = 200 * time.Microsecond
)

// measureFloor measures the kernel's floor for one delivery. It opens
// pairs loopback TCP connections to a listener of its own (TCP_NODELAY on
// both ends), hands the reading ends to an edge-triggered epoll drained by
// a goroutine locked to its own OS thread, and from a second locked
// goroutine writes bursts: one writeBytes write to every connection in
// turn, the way one event goes to many subscribers, then waits for the
// reader to drain and fall asleep again. The figure is the writer thread's
// CPU time (CLOCK_THREAD_CPUTIME_ID, the same sum_exec_runtime that the
// server's /proc schedstat reports) per write, the median over the bursts,
// so that a burst slowed by the hypervisor or a neighbour does not move
// it. On loopback the receive path runs in softirq on the writer's CPU
// and, unless the kernel accounts irq time separately
// (CONFIG_IRQ_TIME_ACCOUNTING), is charged to the writer, just as it is
// charged to the server. Writes are raw syscalls, so the figure is the
// kernel's alone, without Go's entersyscall bookkeeping.
func measureFloor(pairs, bursts, writeBytes int) (*kernelFloor, error) {
	if pairs < 1 || bursts < 1 || writeBytes < 1 {
		return nil, fmt.Errorf("ssedge-load: kernel floor: %d pairs, %d bursts, %d bytes: want at least 1 of each", pairs, bursts, writeBytes)
	}
	writers, readers, err := loopbackPairs(pairs + 1)
	defer func() {
		closeAll(writers)
		closeAll(readers)
	}()
	if err != nil {
		return nil, err
	}
	// The last pair is not in the reader's epoll: the hot figure writes
	// to it and reads it back itself.
	hot := [2]int{writers[pairs], readers[pairs]}
	r, err := startFloorReader(readers[:pairs])
	if err != nil {
		return nil, err
	}

	type outcome struct {
		f   *kernelFloor
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		f, err := writeBursts(writers[:pairs], bursts, writeBytes, &r.received)
		if err == nil {
			f.HotWriteUs, err = hotWrites(hot[0], hot[1], writeBytes)
		}
		done <- outcome{f, err}
	}()
	o := <-done

	// Closing the writing ends hands the reader an EOF on every socket,
	// and it stops.
	closeAll(writers)
	writers = nil
	select {
	case err := <-r.done:
		if o.err == nil && err != nil {
			o.err = err
		}
	case <-time.After(floorDrainWait):
		if o.err == nil {
			o.err = errors.New("ssedge-load: kernel floor: the reader did not see every connection close")
		}
		// Leave the reader's descriptors to it; it may still be inside epoll_wait.
		readers = nil
	}
	if readers != nil {
		unix.Close(r.epfd)
	}
	return o.f, o.err
}

// loopbackPairs connects pairs client sockets to a fresh listener on
// 127.0.0.1 and returns the accepted (writing) and connected (reading)
// ends, both non-blocking with TCP_NODELAY.
func loopbackPairs(pairs int) (writers, readers []int, err error) {
	ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socket", err)
	}
	defer unix.Close(ln)
	if err := unix.Bind(ln, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return nil, nil, os.NewSyscallError("bind", err)
	}
	if err := unix.Listen(ln, 128); err != nil {
		return nil, nil, os.NewSyscallError("listen", err)
	}
	sa, err := unix.Getsockname(ln)
	if err != nil {
		return nil, nil, os.NewSyscallError("getsockname", err)
	}
	for range pairs {
		c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return writers, readers, fmt.Errorf("ssedge-load: kernel floor: %w", os.NewSyscallError("socket", err))
		}
		readers = append(readers, c)
		if err := unix.Connect(c, sa); err != nil {
			return writers, readers, fmt.Errorf("ssedge-load: kernel floor: %w", os.NewSyscallError("connect", err))
		}
		a, _, err := unix.Accept4(ln, unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK)
		if err != nil {
			return writers, readers, fmt.Errorf("ssedge-load: kernel floor: %w", os.NewSyscallError("accept4", err))
		}
		writers = append(writers, a)
		for _, fd := range []int{a, c} {
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
				return writers, readers, os.NewSyscallError("setsockopt TCP_NODELAY", err)
			}
		}
		if err := unix.SetNonblock(c, true); err != nil {
			return writers, readers, os.NewSyscallError("fcntl O_NONBLOCK", err)
		}
	}
	return writers, readers, nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// floorReader drains the reading ends on its own OS thread.
type floorReader struct {
	epfd     int
	received atomic.Int64 // bytes read so far; written by the reader, read by the writer
	done     chan error   // the reader's exit: nil once every socket reached EOF
}

func startFloorReader(fds []int) (*floorReader, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	for _, fd := range fds {
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(fd)}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			unix.Close(epfd)
			return nil, os.NewSyscallError("epoll_ctl", err)
		}
	}
	r := &floorReader{epfd: epfd, done: make(chan error, 1)}
	go func() {
		// Never unlocked: the thread ends with the goroutine, so
		// nothing else ever runs on it.
		runtime.LockOSThread()
		r.done <- r.drain(len(fds))
	}()
	return r, nil
}

// drain reads every ready socket until EAGAIN, until all open sockets
// have reached EOF.
func (r *floorReader) drain(open int) error {
	events := make([]unix.EpollEvent, 128)
	buf := make([]byte, 64<<10)
	eof := map[int32]bool{}
	for len(eof) < open {
		n, err := unix.EpollWait(r.epfd, events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("epoll_wait", err)
		}
		for _, ev := range events[:n] {
			for !eof[ev.Fd] {
				m, err := unix.Read(int(ev.Fd), buf)
				if err == unix.EAGAIN {
					break
				}
				if err != nil || m == 0 {
					eof[ev.Fd] = true
					break
				}
				r.received.Add(int64(m))
			}
		}
	}
	return nil
}

// writeBursts runs on a locked OS thread: a warm-up burst, then bursts
// timed bursts, then the null syscalls.
func writeBursts(fds []int, bursts, writeBytes int, received *atomic.Int64) (*kernelFloor, error) {
	frame := make([]byte, writeBytes)
	for i := range frame {
		frame[i] = 'x'
	}
	var sent int64
	perWriteUs := make([]float64, 0, bursts)
	for b := 0; b <= bursts; b++ {
		deadline := time.Now().Add(floorDrainWait)
		for received.Load() < sent {
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("ssedge-load: kernel floor: the reader drained %d of %d bytes in %s", received.Load(), sent, floorDrainWait)
			}
			time.Sleep(20 * time.Microsecond)
		}
		time.Sleep(floorQuiet)
		start := threadCPUNs()
		for _, fd := range fds {
			n, _, errno := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&frame[0])), uintptr(len(frame)))
			if errno != 0 {
				return nil, fmt.Errorf("ssedge-load: kernel floor: %w", os.NewSyscallError("write", errno))
			}
			if int(n) != len(frame) {
				return nil, fmt.Errorf("ssedge-load: kernel floor: wrote %d of %d bytes: want whole writes", n, len(frame))
			}
		}
		if b > 0 { // the first burst warms caches and is not counted
			perWriteUs = append(perWriteUs, float64(threadCPUNs()-start)/1e3/float64(len(fds)))
		}
		sent += int64(len(fds) * len(frame))
	}

	start := threadCPUNs()
	for range floorNullSyscalls {
		unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
	}
	nullNs := threadCPUNs() - start

	writes := bursts * len(fds)
	return &kernelFloor{
		Pairs: len(fds), Bursts: bursts, Writes: writes, WriteBytes: writeBytes,
		WriteUs:       medianOf(perWriteUs),
		NullSyscallUs: float64(nullNs) / 1e3 / floorNullSyscalls,
		Source:        "CLOCK_THREAD_CPUTIME_ID",
	}, nil
}

// hotWrites is the cost of the same write repeated to one socket, with
// no reader waiting: the best case, for comparison with the floor.
func hotWrites(w, r, writeBytes int) (float64, error) {
	frame := make([]byte, writeBytes)
	buf := make([]byte, floorHotWrites*writeBytes)
	var cpuNs int64
	for range floorHotRounds {
		start := threadCPUNs()
		for range floorHotWrites {
			n, _, errno := unix.RawSyscall(unix.SYS_WRITE, uintptr(w), uintptr(unsafe.Pointer(&frame[0])), uintptr(len(frame)))
			if errno != 0 || int(n) != len(frame) {
				return 0, fmt.Errorf("ssedge-load: kernel floor: one-socket write: %d bytes, %w", n, os.NewSyscallError("write", errno))
			}
		}
		cpuNs += threadCPUNs() - start
		for got := 0; got < len(buf); {
			n, err := unix.Read(r, buf[got:])
			if err == unix.EAGAIN || err == unix.EINTR {
				continue
			}
			if err != nil || n == 0 {
				return 0, fmt.Errorf("ssedge-load: kernel floor: reading back the one-socket writes: %d bytes, %v", n, err)
			}
			got += n
		}
	}
	return float64(cpuNs) / 1e3 / (floorHotRounds * floorHotWrites), nil
}

// threadCPUNs is the calling thread's CPU time; the caller must be locked
// to its thread.
func threadCPUNs() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		panic(os.NewSyscallError("clock_gettime", err))
	}
	return ts.Nano()
}
