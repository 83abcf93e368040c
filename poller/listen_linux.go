package poller

import (
	"net"
	"os"

	"golang.org/x/sys/unix"
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
