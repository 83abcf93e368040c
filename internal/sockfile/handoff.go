package sockfile

import (
	"net"
	"os"
)

// Files returns duplicates of the listener's and the lock's descriptors,
// to hand the socket to a new process on a binary upgrade: the flock is
// held by the open file, so the new process holds it too and a third
// server still cannot take the path.
func (s *Socket) Files() (ln, lock *os.File, err error) {
	if ln, err = s.Listener.File(); err != nil {
		return nil, nil, err
	}
	if s.lock != nil {
		if lock, err = dupFile(s.lock); err != nil {
			ln.Close()
			return nil, nil, err
		}
	}
	return ln, lock, nil
}

// LockFile returns a duplicate of the lock's descriptor (nil, nil
// without a lock), to hand the lock to a new process on a binary upgrade
// when the listener travels by its own descriptor.
func (s *Socket) LockFile() (*os.File, error) {
	if s.lock == nil {
		return nil, nil
	}
	return dupFile(s.lock)
}

// Disown makes Remove leave the file alone (it only closes this
// process's copy of the lock): a new process serves it now.
func (s *Socket) Disown() { s.dev, s.ino = 0, 0; s.Path = "" }

// Adopt takes over a socket file a previous process created and handed
// over (Files): the listener and the lock (nil: none). Remove then
// removes it as if this process had created it. ln may be nil for a
// caller that serves the socket by its descriptor (the poller's shared
// unix listeners): the Socket then only holds the lock and the file.
func Adopt(path string, ln *net.UnixListener, lock *os.File) *Socket {
	if ln != nil {
		ln.SetUnlinkOnClose(false)
	}
	s := &Socket{Path: path, Listener: ln, lock: lock}
	s.dev, s.ino, _ = socketID(path)
	return s
}

func dupFile(f *os.File) (*os.File, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var out *os.File
	var derr error
	if err := rc.Control(func(fd uintptr) { out, derr = dupFD(fd) }); err != nil {
		return nil, err
	}
	return out, derr
}
