//go:build unix

package pubsub

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
