// Package sockfile owns the life of a unix socket file that ssedge serves
// on: a socket left by a crashed run (nobody accepts on it) is replaced, a
// live one or a path that is not a socket is refused, an exclusive flock on
// PATH.lock stops two servers starting at once from both taking the path,
// the file is created owner-only and then opened up to the configured mode,
// and on a clean exit it is removed — only if it is still the file this
// process created. On a binary upgrade the listener and the lock move to
// the new process (Files or LockFile, then Adopt): the flock belongs to
// the open file, so the new process holds it on after the old one exits,
// and the old one's Disown leaves the file to it.
package sockfile

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// DefaultPublishPath is where the publish socket goes when none is given:
// $XDG_RUNTIME_DIR/ssedge.sock when that directory exists (per-user,
// private), else ssedge-<uid>.sock in the temporary directory. Neither
// needs root.
func DefaultPublishPath() string {
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			return filepath.Join(dir, "ssedge.sock")
		}
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("ssedge-%d.sock", os.Getuid()))
}

var errSocketLocked = errors.New("locked by another server")

// Socket is a unix socket file this process created and listens on.
type Socket struct {
	Path     string
	Listener *net.UnixListener
	lock     *os.File // flock held while serving
	dev, ino uint64
}

// Listen binds a unix socket at path, owned by uid and gid (-1: as
// created), with the given mode — in that order, so the socket is never
// open to a group it was not meant for. what names it in errors ("publish
// socket") and flag the option a person would change ("--publish-socket").
func Listen(path string, mode fs.FileMode, uid, gid int, what, flag string) (*Socket, error) {
	lock, err := lockSocket(path)
	if errors.Is(err, errSocketLocked) {
		return nil, fmt.Errorf("%s %q is in use by a running server (%s.lock is held); stop it or choose another %s", what, path, path, flag)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %q: lock: %w", what, path, err)
	}
	ln, err := bindUnix(path, mode, uid, gid, what, flag)
	if err != nil {
		lock.Close()
		return nil, err
	}
	s := &Socket{Path: path, Listener: ln, lock: lock}
	s.dev, s.ino, _ = socketID(path)
	return s, nil
}

// Remove deletes the socket file if it is still the one Listen created,
// and releases the lock. The listener is the caller's to close.
func (s *Socket) Remove() {
	if d, i, ok := socketID(s.Path); ok && d == s.dev && i == s.ino {
		os.Remove(s.Path)
	}
	if s.lock != nil {
		s.lock.Close()
	}
}

func bindUnix(path string, mode fs.FileMode, uid, gid int, what, flag string) (*net.UnixListener, error) {
	if err := clearStaleSocket(path, what, flag); err != nil {
		return nil, err
	}
	// Create the socket with no group/other bits, then open it up to mode,
	// so it is never reachable more widely than configured.
	restore := privateUmask()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	restore()
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", what, path, err)
	}
	ln.SetUnlinkOnClose(false) // Remove does it, and only if the file is still ours
	if uid >= 0 || gid >= 0 {
		if err := os.Lchown(path, uid, gid); err != nil {
			ln.Close()
			os.Remove(path)
			return nil, fmt.Errorf("%s %q: owner: %w", what, path, err)
		}
	}
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		os.Remove(path)
		return nil, fmt.Errorf("%s %q: %w", what, path, err)
	}
	return ln, nil
}

func clearStaleSocket(path, what, flag string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s %q: %w", what, path, err)
	}
	if fi.Mode()&fs.ModeSocket == 0 {
		return fmt.Errorf("%s path %q exists and is not a socket (%s); refusing to replace it", what, path, fi.Mode().Type())
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("%s %q is in use by a running server; stop it or choose another %s", what, path, flag)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("cannot tell whether %s %q is in use: %w", what, path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("removing stale %s %q: %w", what, path, err)
	}
	return nil
}
