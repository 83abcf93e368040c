package pubsub

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

// DefaultSocketPath is where the publish socket goes when none is given:
// $XDG_RUNTIME_DIR/ssedge.sock when that directory exists (per-user,
// private), else ssedge-<uid>.sock in the temporary directory. Neither
// needs root.
func DefaultSocketPath() string {
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			return filepath.Join(dir, "ssedge.sock")
		}
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("ssedge-%d.sock", os.Getuid()))
}

var errSocketLocked = errors.New("locked by another server")

// listenUnix binds a unix socket at path with the given mode. A socket
// file left by a crashed run (nobody accepts on it) is replaced; a live
// one, or a file that is not a socket, is refused. The returned lock file
// must stay open while the socket is served.
func listenUnix(path string, mode fs.FileMode) (*net.UnixListener, *os.File, error) {
	lock, err := lockSocket(path)
	if errors.Is(err, errSocketLocked) {
		return nil, nil, fmt.Errorf("pubsub: publish socket %q is in use by a running server (%s.lock is held); stop it or choose another --publish-socket", path, path)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("pubsub: publish socket %q: lock: %w", path, err)
	}
	ln, err := bindUnix(path, mode)
	if err != nil {
		lock.Close()
		return nil, nil, err
	}
	return ln, lock, nil
}

func bindUnix(path string, mode fs.FileMode) (*net.UnixListener, error) {
	if err := clearStaleSocket(path); err != nil {
		return nil, err
	}
	// Create the socket with no group/other bits, then open it up to mode,
	// so it is never reachable more widely than configured.
	restore := privateUmask()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	restore()
	if err != nil {
		return nil, fmt.Errorf("pubsub: publish socket %q: %w", path, err)
	}
	ln.SetUnlinkOnClose(false) // removeSocket does it, and only if the file is still ours
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		os.Remove(path)
		return nil, fmt.Errorf("pubsub: publish socket %q: %w", path, err)
	}
	return ln, nil
}

func clearStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pubsub: publish socket %q: %w", path, err)
	}
	if fi.Mode()&fs.ModeSocket == 0 {
		return fmt.Errorf("pubsub: publish socket path %q exists and is not a socket (%s); refusing to replace it", path, fi.Mode().Type())
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("pubsub: publish socket %q is in use by a running server; stop it or choose another --publish-socket", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("pubsub: cannot tell whether publish socket %q is in use: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("pubsub: removing stale publish socket %q: %w", path, err)
	}
	return nil
}

func removeSocket(path string, dev, ino uint64) {
	if d, i, ok := socketID(path); ok && d == dev && i == ino {
		os.Remove(path)
	}
}
