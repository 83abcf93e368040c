package poller

import (
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// listenTCP opens a non-blocking SO_REUSEPORT listening socket on addr and
// returns it with the address it is bound to.
func listenTCP(addr *net.TCPAddr, backlog int) (int, *net.TCPAddr, error) {
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
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		return fail("setsockopt SO_REUSEPORT", err)
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
	if err := unix.Listen(fd, backlog); err != nil {
		return fail("listen", err)
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
