package fdpass

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Conn is one end of a hand-off socket.
type Conn struct {
	fd       int
	buf      []byte
	oob      []byte
	deadline time.Time // for Send; zero: none
	timed    bool      // SO_SNDTIMEO has been set
}

// Pair makes a connected pair: the first for this process, the second
// (a file, for exec.Cmd.ExtraFiles) for the child.
func Pair() (*Conn, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	return newConn(fds[0]), os.NewFile(uintptr(fds[1]), "ssedge-handoff"), nil
}

// SetSendDeadline bounds every later Send: past t it fails with
// ErrTimeout, waiting at most until t for room in the peer's queue. The
// zero time: no deadline.
func (c *Conn) SetSendDeadline(t time.Time) { c.deadline = t }

// sendTimeout sets SO_SNDTIMEO to what is left until the deadline.
func (c *Conn) sendTimeout() error {
	var tv unix.Timeval // zero: block for ever
	if c.deadline.IsZero() && !c.timed {
		return nil
	}
	c.timed = true
	if !c.deadline.IsZero() {
		left := time.Until(c.deadline)
		if left <= 0 {
			return fmt.Errorf("%w: send deadline passed (the peer is not reading)", ErrTimeout)
		}
		// At least a millisecond: a zero timeout would mean none.
		tv = unix.NsecToTimeval(max(left, time.Millisecond).Nanoseconds())
	}
	return os.NewSyscallError("setsockopt", unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv))
}

// FromFD takes over an inherited hand-off descriptor.
func FromFD(fd int) (*Conn, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("fdpass: hand-off descriptor %d: %w", fd, os.NewSyscallError("fstat", err))
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return nil, fmt.Errorf("fdpass: hand-off descriptor %d is not a socket", fd)
	}
	unix.CloseOnExec(fd)
	return newConn(fd), nil
}

func newConn(fd int) *Conn {
	return &Conn{fd: fd, buf: make([]byte, MaxPayload+1), oob: make([]byte, unix.CmsgSpace(MaxFDs*4))}
}

// Close closes this end.
func (c *Conn) Close() error {
	if c.fd < 0 {
		return nil
	}
	err := unix.Close(c.fd)
	c.fd = -1
	return err
}

// Send sends one message. fds stay open: the kernel duplicates them.
func (c *Conn) Send(kind byte, payload []byte, fds []int) error {
	if len(payload) > MaxPayload || len(fds) > MaxFDs {
		return tooLarge(len(payload), len(fds))
	}
	msg := make([]byte, 0, 1+len(payload))
	msg = append(append(msg, kind), payload...)
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	for {
		if err := c.sendTimeout(); err != nil {
			return err
		}
		err := unix.Sendmsg(c.fd, msg, oob, nil, unix.MSG_NOSIGNAL)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return fmt.Errorf("%w: no room to send until the deadline (the peer is not reading)", ErrTimeout)
		}
		if err != nil {
			return os.NewSyscallError("sendmsg", err)
		}
		return nil
	}
}

// Recv waits up to timeout (0: no limit) for the next message.
func (c *Conn) Recv(timeout time.Duration) (*Message, error) {
	var tv unix.Timeval // zero: no limit (also after a call that had one)
	if timeout > 0 {
		tv = unix.NsecToTimeval(timeout.Nanoseconds())
	}
	if err := unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return nil, os.NewSyscallError("setsockopt", err)
	}
	for {
		n, oobn, flags, _, err := unix.Recvmsg(c.fd, c.buf, c.oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return nil, fmt.Errorf("%w: no message within %v", ErrTimeout, timeout)
		}
		if err != nil {
			return nil, os.NewSyscallError("recvmsg", err)
		}
		m := &Message{FDs: rights(c.oob[:oobn])}
		if n == 0 && len(m.FDs) == 0 {
			return nil, ErrClosed
		}
		if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 || n == 0 {
			for _, fd := range m.FDs {
				unix.Close(fd)
			}
			return nil, fmt.Errorf("fdpass: truncated message (%d bytes, flags %#x)", n, flags)
		}
		m.Kind = c.buf[0]
		m.Payload = append([]byte(nil), c.buf[1:n]...)
		return m, nil
	}
}

// rights returns the descriptors in the control messages oob, each one
// as far as it parses: the kernel has installed them in this process,
// so a malformed message must not leave one open and unknown.
func rights(oob []byte) []int {
	var fds []int
	for len(oob) > 0 {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			break
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_RIGHTS {
			for ; len(data) >= 4; data = data[4:] {
				fds = append(fds, int(int32(binary.NativeEndian.Uint32(data))))
			}
		}
		oob = rest
	}
	return fds
}

// CloseFDs closes received descriptors the caller does not keep.
func CloseFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// Listener accepts hand-off connections on an abstract unix socket name
// (no file: it goes away with its last descriptor). Used between two
// worker processes that have no socket pair in common (ssedge serve
// --procs upgrades each worker to its successor).
type Listener struct{ fd int }

// Listen binds the abstract name ("\x00" is prepended).
func Listen(name string) (*Listener, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: "@" + name}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("fdpass: bind %q: %w", name, err)
	}
	if err := unix.Listen(fd, 1); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("listen", err)
	}
	return &Listener{fd: fd}, nil
}

// Accept waits up to timeout in all for a connection whose peer runs as
// this process's user (SO_PEERCRED); one from another user is refused and
// the wait goes on.
func (l *Listener) Accept(timeout time.Duration) (*Conn, error) {
	return l.AcceptWatching(timeout, nil)
}

// ErrWatchEnded: AcceptWatching's watched connection was closed by its
// peer, or spoke, before a connection came.
var ErrWatchEnded = errors.New("fdpass: the watched connection ended the wait")

// AcceptWatching is Accept that also gives up as soon as watch (if not
// nil) becomes readable or is hung up: the process that should still be
// there while this one waits has gone, or has something to say.
func (l *Listener) AcceptWatching(timeout time.Duration, watch *Conn) (*Conn, error) {
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("%w: no connection within %v", ErrTimeout, timeout)
		}
		if watch != nil {
			fds := []unix.PollFd{{Fd: int32(l.fd), Events: unix.POLLIN}, {Fd: int32(watch.fd), Events: unix.POLLIN | unix.POLLRDHUP}}
			n, err := unix.Poll(fds, int(max(left, time.Millisecond)/time.Millisecond))
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return nil, os.NewSyscallError("poll", err)
			}
			if n == 0 {
				continue // the deadline, checked above
			}
			if fds[1].Revents != 0 {
				return nil, ErrWatchEnded
			}
			left = time.Until(deadline)
		}
		tv := unix.NsecToTimeval(max(left, time.Millisecond).Nanoseconds())
		if err := unix.SetsockoptTimeval(l.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return nil, os.NewSyscallError("setsockopt", err)
		}
		fd, _, err := unix.Accept4(l.fd, unix.SOCK_CLOEXEC)
		if err == unix.EINTR || err == unix.ECONNABORTED {
			continue
		}
		if err == unix.EAGAIN {
			return nil, fmt.Errorf("%w: no connection within %v", ErrTimeout, timeout)
		}
		if err != nil {
			return nil, os.NewSyscallError("accept4", err)
		}
		if err := sameUser(fd); err != nil {
			unix.Close(fd)
			continue
		}
		return newConn(fd), nil
	}
}

// Close closes the listener (the name goes with it); again, nothing.
func (l *Listener) Close() error {
	if l.fd < 0 {
		return nil
	}
	err := unix.Close(l.fd)
	l.fd = -1
	return err
}

// PeerPID is the pid of the process at the other end (SO_PEERCRED: the
// one that created its socket).
func (c *Conn) PeerPID() (int, error) {
	cred, err := unix.GetsockoptUcred(c.fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return 0, os.NewSyscallError("getsockopt SO_PEERCRED", err)
	}
	return int(cred.Pid), nil
}

// Dial connects to the abstract name and checks that the peer runs as
// this process's user.
func Dial(name string) (*Conn, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: "@" + name}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("fdpass: connect %q: %w", name, err)
	}
	if err := sameUser(fd); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return newConn(fd), nil
}

// sameUser checks the peer's uid (SO_PEERCRED): descriptors go only to,
// and come only from, a process of the same user.
func sameUser(fd int) error {
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return os.NewSyscallError("getsockopt SO_PEERCRED", err)
	}
	if int(cred.Uid) != os.Getuid() {
		return fmt.Errorf("fdpass: peer pid %d runs as uid %d, not %d", cred.Pid, cred.Uid, os.Getuid())
	}
	return nil
}
