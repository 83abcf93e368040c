package poller

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"

	"github.com/ssedge/ssedge/internal/sockfile"
)

// claimPort checks that no other process listens on addr — not even one
// that set SO_REUSEPORT too, which the kernel would otherwise let share the
// port silently, splitting the clients between two servers. It binds a
// probe socket without SO_REUSEPORT (SO_REUSEADDR only, so connections in
// TIME_WAIT from a previous run do not count) and returns the address with
// the port the kernel chose when addr's port is 0.
func claimPort(addr *net.TCPAddr) (*net.TCPAddr, error) {
	fd, bound, err := bindTCP(addr, false)
	if err != nil {
		return nil, err
	}
	unix.Close(fd)
	return bound, nil
}

// listenTCP opens a non-blocking SO_REUSEPORT listening socket on addr.
func listenTCP(addr *net.TCPAddr, backlog int) (int, error) {
	fd, _, err := bindTCP(addr, true)
	if err != nil {
		return -1, err
	}
	if err := unix.Listen(fd, backlog); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("listen", err)
	}
	return fd, nil
}

// bindTCP opens a non-blocking TCP socket bound to addr.
func bindTCP(addr *net.TCPAddr, reusePort bool) (int, *net.TCPAddr, error) {
	family, sa := unix.AF_INET, unix.Sockaddr(nil)
	if ip4 := addr.IP.To4(); ip4 != nil || addr.IP == nil {
		s := &unix.SockaddrInet4{Port: addr.Port}
		if ip4 != nil {
			copy(s.Addr[:], ip4)
		}
		sa = s
	} else {
		family = unix.AF_INET6
		s := &unix.SockaddrInet6{Port: addr.Port}
		copy(s.Addr[:], addr.IP.To16())
		sa = s
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return -1, nil, os.NewSyscallError("socket", err)
	}
	fail := func(op string, err error) (int, *net.TCPAddr, error) {
		unix.Close(fd)
		return -1, nil, os.NewSyscallError(op, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("setsockopt SO_REUSEADDR", err)
	}
	if reusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fail("setsockopt SO_REUSEPORT", err)
		}
	}
	// Accepted sockets inherit TCP_NODELAY: an event must not wait for the
	// previous one's ACK (Nagle) — each writev is already a full batch.
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		return fail("setsockopt TCP_NODELAY", err)
	}
	if family == unix.AF_INET6 && addr.IP.IsUnspecified() {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0)
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		return fail("getsockname", err)
	}
	bound := &net.TCPAddr{}
	switch a := got.(type) {
	case *unix.SockaddrInet4:
		bound.IP, bound.Port = net.IP(append([]byte(nil), a.Addr[:]...)), a.Port
	case *unix.SockaddrInet6:
		bound.IP, bound.Port = net.IP(append([]byte(nil), a.Addr[:]...)), a.Port
	}
	return fd, bound, nil
}

// unixListener is one unix-socket subscriber listener: a single socket
// that every loop's epoll watches with EPOLLEXCLUSIVE (unix sockets have
// no SO_REUSEPORT), so one loop is woken per new connection. sock is nil
// when the socket file belongs to another process (Inherited without a
// lock). adopted: the file and its lock were handed over by a binary
// upgrade; they are this server's to remove only once it has started
// (before that, the old process still serves them).
type unixListener struct {
	fd      int
	sock    *sockfile.Socket
	adopted bool
}

// openUnix opens the subscriber socket at path (for nginx's
// "proxy_pass http://unix:PATH:" — no ephemeral ports to run out of).
func openUnix(path string, mode os.FileMode) (unixListener, error) {
	sock, err := sockfile.Listen(path, mode, -1, -1, "subscriber socket", "--listen unix:PATH")
	if err != nil {
		return unixListener{}, fmt.Errorf("poller: %w", err)
	}
	f, err := sock.Listener.File() // a dup of the socket, for our own epoll
	sock.Listener.Close()
	if err != nil {
		sock.Remove()
		return unixListener{}, fmt.Errorf("poller: subscriber socket %q: %w", path, err)
	}
	fd, err := unix.Dup(int(f.Fd()))
	f.Close()
	if err == nil {
		unix.CloseOnExec(fd)
		err = unix.SetNonblock(fd, true)
	}
	if err != nil {
		sock.Remove()
		return unixListener{}, fmt.Errorf("poller: subscriber socket %q: %w", path, err)
	}
	return unixListener{fd: fd, sock: sock}, nil
}

// openTCP opens n SO_REUSEPORT sockets on address a, after checking that
// no other process holds the port (claimPort). A port of 0 is chosen by
// the kernel once and shared by all n.
func openTCP(a string, n, backlog int) (*net.TCPAddr, []int, error) {
	addr, err := net.ResolveTCPAddr("tcp", a)
	if err != nil {
		return nil, nil, fmt.Errorf("poller: listen address %q: %w (expected HOST:PORT or unix:PATH)", a, err)
	}
	if addr, err = claimPort(addr); err != nil {
		return nil, nil, fmt.Errorf("poller: listen on %q: %w (is another server using the port?)", a, err)
	}
	fds := make([]int, 0, n)
	for range n {
		fd, err := listenTCP(addr, backlog)
		if err != nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
			return nil, nil, fmt.Errorf("poller: listen on %q: %w", a, err)
		}
		fds = append(fds, fd)
	}
	return addr, fds, nil
}
