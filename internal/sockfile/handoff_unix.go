//go:build unix

package sockfile

import (
	"os"
	"syscall"
)

func dupFD(fd uintptr) (*os.File, error) {
	syscall.ForkLock.RLock()
	n, err := syscall.Dup(int(fd))
	if err == nil {
		syscall.CloseOnExec(n)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, os.NewSyscallError("dup", err)
	}
	return os.NewFile(uintptr(n), "lock"), nil
}
