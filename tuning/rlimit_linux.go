package tuning

import (
	"os"

	"golang.org/x/sys/unix"
)

// FileLimit is the open-files limit (RLIMIT_NOFILE) before and after
// RaiseFileLimit.
type FileLimit struct {
	Soft, Hard, Before uint64
}

// RaiseFileLimit raises the soft RLIMIT_NOFILE to the hard limit. It never
// touches the hard limit: raising that needs CAP_SYS_RESOURCE and is the
// service manager's job (systemd LimitNOFILE=).
func RaiseFileLimit() (FileLimit, error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return FileLimit{}, os.NewSyscallError("getrlimit", err)
	}
	fl := FileLimit{Soft: rl.Cur, Hard: rl.Max, Before: rl.Cur}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
			return fl, os.NewSyscallError("setrlimit", err)
		}
		fl.Soft = rl.Max
	}
	return fl, nil
}

// CurrentFileLimit reads this process's RLIMIT_NOFILE without changing it.
func CurrentFileLimit() (FileLimit, error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return FileLimit{}, os.NewSyscallError("getrlimit", err)
	}
	return FileLimit{Soft: rl.Cur, Hard: rl.Max, Before: rl.Cur}, nil
}
