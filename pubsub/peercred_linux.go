package pubsub

import (
	"os"

	"golang.org/x/sys/unix"
)

// peerCred is the uid and primary gid of a unix-socket peer (SO_PEERCRED).
func peerCred(fd int) (uid, gid uint32, err error) {
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return 0, 0, os.NewSyscallError("getsockopt SO_PEERCRED", err)
	}
	return cred.Uid, cred.Gid, nil
}
