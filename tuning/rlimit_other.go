//go:build !linux

package tuning

// FileLimit is the open-files limit before and after RaiseFileLimit.
type FileLimit struct {
	Soft, Hard, Before uint64
}

// RaiseFileLimit is supported on Linux only.
func RaiseFileLimit() (FileLimit, error) { return FileLimit{}, ErrNeedsLinux }

// CurrentFileLimit is supported on Linux only.
func CurrentFileLimit() (FileLimit, error) { return FileLimit{}, ErrNeedsLinux }
