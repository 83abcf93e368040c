package poller

import (
	"fmt"
	"net"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ssedge/ssedge/internal/sockfile"
)

// inherit takes over a passed-down listener. The sockets may have been
// put into blocking mode on the way (os/exec does that to the files it
// passes): they are made non-blocking again.
func (s *Server) inherit(in Inherited) error {
	ua, isUnix := in.Addr.(*net.UnixAddr)
	want := len(s.loops)
	if isUnix {
		want = 1
	}
	if in.Lock != nil && !isUnix {
		in.Lock.Close()
		return fmt.Errorf("poller: inherited listener %s: a lock for a TCP listener", in.Addr)
	}
	if len(in.FDs) != want {
		if in.Lock != nil {
			in.Lock.Close()
		}
		return fmt.Errorf("poller: inherited listener %s has %d sockets for %d loops", in.Addr, len(in.FDs), len(s.loops))
	}
	for _, fd := range in.FDs {
		unix.CloseOnExec(fd)
		if err := unix.SetNonblock(fd, true); err != nil {
			if in.Lock != nil {
				in.Lock.Close()
			}
			return fmt.Errorf("poller: inherited listener %s: %w", in.Addr, err)
		}
	}
	if isUnix {
		u := unixListener{fd: in.FDs[0]}
		if in.Lock != nil {
			u.sock, u.adopted = sockfile.Adopt(ua.Name, nil, in.Lock), true
		}
		return s.addUnix(u, in.Addr, in.Proxy)
	}
	return s.addTCP(in.Addr, in.FDs, in.Proxy)
}

// Bound is the listeners a supervisor opened for its worker processes.
type Bound struct {
	Sets  [][]Inherited // Sets[w] is worker w's Config.Inherited
	Addrs []net.Addr
	fds   []int
	unix  []unixListener
}

// Bind opens cfg.Listen and cfg.ProxyListen for workers processes of
// cfg.Loops loops each: every TCP address gets workers×Loops SO_REUSEPORT
// sockets, so the kernel spreads connections over all loops of all
// workers; every unix:PATH one socket shared by all. The supervisor keeps
// them open (a worker that dies leaves its sockets queueing for its
// successor) and closes them with Close.
func Bind(cfg Config, workers int) (*Bound, error) {
	cfg.setDefaults()
	b := &Bound{Sets: make([][]Inherited, workers)}
	add := func(a string, proxy bool) error {
		if path, ok := strings.CutPrefix(a, "unix:"); ok {
			u, err := openUnix(path, cfg.UnixMode)
			if err != nil {
				return err
			}
			b.unix = append(b.unix, u)
			addr := &net.UnixAddr{Name: path, Net: "unix"}
			for w := range b.Sets {
				b.Sets[w] = append(b.Sets[w], Inherited{Addr: addr, FDs: []int{u.fd}, Proxy: proxy})
			}
			b.Addrs = append(b.Addrs, addr)
			return nil
		}
		addr, fds, err := openTCP(a, workers*cfg.Loops, cfg.Backlog)
		if err != nil {
			return err
		}
		b.fds = append(b.fds, fds...)
		for w := range b.Sets {
			b.Sets[w] = append(b.Sets[w], Inherited{Addr: addr, FDs: fds[w*cfg.Loops : (w+1)*cfg.Loops], Proxy: proxy})
		}
		b.Addrs = append(b.Addrs, addr)
		return nil
	}
	for _, a := range cfg.Listen {
		if err := add(a, false); err != nil {
			b.Close()
			return nil, err
		}
	}
	for _, a := range cfg.ProxyListen {
		if err := add(a, true); err != nil {
			b.Close()
			return nil, err
		}
	}
	return b, nil
}

// Close closes every socket and removes the unix socket files.
func (b *Bound) Close() {
	for _, fd := range b.fds {
		unix.Close(fd)
	}
	for _, u := range b.unix {
		unix.Close(u.fd)
		u.sock.Remove()
	}
	b.fds, b.unix = nil, nil
}
