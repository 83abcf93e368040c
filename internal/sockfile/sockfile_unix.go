//go:build unix

package sockfile

import (
	"os"
	"syscall"
)

// privateUmask makes new files owner-only until the returned func runs.
// Only called at start-up, before anything else creates files.
func privateUmask() (restore func()) {
	old := syscall.Umask(0o177)
	return func() { syscall.Umask(old) }
}

// socketID identifies the socket file we created, so we never remove a
// file another process put in its place.
func socketID(path string) (dev, ino uint64, ok bool) {
	fi, err := os.Lstat(path)
	if err != nil {
		return 0, 0, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return uint64(st.Dev), st.Ino, true
}

// lockSocket takes an exclusive flock on path+".lock" for as long as the
// returned file stays open. Two servers starting at once could otherwise
// both judge the socket stale, and one remove the other's live socket. The
// lock file is left in place (removing it would reopen that race).
func lockSocket(path string) (*os.File, error) {
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if err == syscall.EWOULDBLOCK {
			return nil, errSocketLocked
		}
		return nil, err
	}
	return f, nil
}
