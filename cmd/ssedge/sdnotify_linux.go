package main

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// sdNotifyBarrier waits, up to timeout, until systemd has processed every
// notification this process sent before it (sd_notify_barrier(3)): it
// sends BARRIER=1 with the write end of a pipe, which systemd closes once
// it has read the message. The old process of an upgrade waits so before
// it exits, so that its MAINPID= is in before systemd sees it go.
// Without $NOTIFY_SOCKET it returns at once.
func sdNotifyBarrier(timeout time.Duration) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return os.NewSyscallError("pipe2", err)
	}
	defer unix.Close(p[0])
	s, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err == nil {
		// SockaddrUnix takes a leading '@' for an abstract socket.
		err = unix.Sendmsg(s, []byte("BARRIER=1"), unix.UnixRights(p[1]), &unix.SockaddrUnix{Name: path}, 0)
		unix.Close(s)
	}
	unix.Close(p[1])
	if err != nil {
		return os.NewSyscallError("sendmsg", err)
	}
	fds := []unix.PollFd{{Fd: int32(p[0]), Events: unix.POLLIN}}
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("systemd did not confirm the notifications within %v", timeout)
		}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("poll", err)
		}
		if n > 0 && fds[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0 {
			return nil
		}
	}
}
