package poller

import (
	"fmt"
	"net"
	"os"
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
		if u.sock != nil { // nil for a handed socket that came without its lock
			u.sock.Remove()
		}
	}
	b.fds, b.unix = nil, nil
}

// Handoff describes the sockets for a supervisor's binary upgrade: one
// HandoffListener per address, in Addrs order; a TCP address's FDs are
// every worker's, worker by worker (Sets order), a unix one's its one
// socket and a duplicate of its file's lock (closed by done). The
// descriptors stay the Bound's: send them, then call done.
func (b *Bound) Handoff() (lns []HandoffListener, done func(), err error) {
	var locks []*os.File
	done = func() {
		for _, f := range locks {
			f.Close()
		}
	}
	for k, a := range b.Addrs {
		ln := HandoffListener{Network: a.Network(), Addr: a.String(), Lock: -1}
		if len(b.Sets) > 0 {
			ln.Proxy = b.Sets[0][k].Proxy
		}
		if a.Network() == "unix" {
			fd := b.Sets[0][k].FDs[0]
			ln.FDs = []int{fd}
			for _, u := range b.unix {
				if u.fd != fd || u.sock == nil {
					continue
				}
				lock, err := u.sock.LockFile()
				if err != nil {
					done()
					return nil, nil, fmt.Errorf("poller: cannot hand off the lock of %s: %w", a, err)
				}
				if lock != nil {
					locks = append(locks, lock)
					ln.Lock, ln.HasLock = int(lock.Fd()), true
				}
			}
		} else {
			for _, set := range b.Sets {
				ln.FDs = append(ln.FDs, set[k].FDs...)
			}
		}
		ln.N = len(ln.FDs)
		lns = append(lns, ln)
	}
	return lns, done, nil
}

// BoundFrom rebuilds a Bound from the sockets another supervisor handed
// over (its Handoff, received with SCM_RIGHTS) for workers processes: a
// TCP address's sockets are split evenly, worker by worker, so worker w
// gets the very sockets the previous supervisor's worker w had. The
// descriptors (and Lock, taken as the unix socket file's lock) are the
// Bound's from then on, closed on error too.
func BoundFrom(lns []HandoffListener, workers int) (*Bound, error) {
	b := &Bound{Sets: make([][]Inherited, workers)}
	fail := func(err error) (*Bound, error) {
		for _, ln := range lns {
			for _, fd := range ln.FDs {
				unix.Close(fd)
			}
			if ln.HasLock && ln.Lock >= 0 {
				unix.Close(ln.Lock)
			}
		}
		return nil, err
	}
	for _, ln := range lns {
		if ln.Network == "unix" {
			if len(ln.FDs) != 1 {
				return fail(fmt.Errorf("poller: handed-over unix listener %s has %d sockets, expected 1", ln.Addr, len(ln.FDs)))
			}
			continue
		}
		if ln.Network != "tcp" || len(ln.FDs) == 0 || len(ln.FDs)%workers != 0 {
			return fail(fmt.Errorf("poller: handed-over %s listener %s has %d sockets for %d workers", ln.Network, ln.Addr, len(ln.FDs), workers))
		}
		if _, err := net.ResolveTCPAddr("tcp", ln.Addr); err != nil {
			return fail(fmt.Errorf("poller: handed-over listener %q: %w", ln.Addr, err))
		}
	}
	for _, ln := range lns {
		if ln.Network == "unix" {
			addr := &net.UnixAddr{Name: ln.Addr, Net: "unix"}
			u := unixListener{fd: ln.FDs[0], adopted: true}
			if ln.HasLock && ln.Lock >= 0 {
				u.sock = sockfile.Adopt(ln.Addr, nil, os.NewFile(uintptr(ln.Lock), ln.Addr+".lock"))
			}
			b.unix = append(b.unix, u)
			for w := range b.Sets {
				b.Sets[w] = append(b.Sets[w], Inherited{Addr: addr, FDs: []int{u.fd}, Proxy: ln.Proxy})
			}
			b.Addrs = append(b.Addrs, addr)
			continue
		}
		addr, _ := net.ResolveTCPAddr("tcp", ln.Addr)
		per := len(ln.FDs) / workers
		b.fds = append(b.fds, ln.FDs...)
		for w := range b.Sets {
			b.Sets[w] = append(b.Sets[w], Inherited{Addr: addr, FDs: ln.FDs[w*per : (w+1)*per], Proxy: ln.Proxy})
		}
		b.Addrs = append(b.Addrs, addr)
	}
	return b, nil
}

// Disown leaves the unix socket files and their locks to the supervisor
// that took them over: Close then only closes this process's copies.
func (b *Bound) Disown() {
	for _, u := range b.unix {
		if u.sock != nil {
			u.sock.Disown()
		}
	}
}
