package ingest

import (
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// peerCred is the uid and primary gid of a unix-socket peer (SO_PEERCRED).
func peerCred(c *net.UnixConn) (uid, gid uint32, err error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, 0, err
	}
	var cred *unix.Ucred
	var serr error
	if err := rc.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, 0, err
	}
	if serr != nil {
		return 0, 0, os.NewSyscallError("getsockopt SO_PEERCRED", serr)
	}
	return cred.Uid, cred.Gid, nil
}
