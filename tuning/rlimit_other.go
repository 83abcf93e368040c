//go:build !linux

package tuning

import "errors"

// FileLimit is the open-files limit before and after RaiseFileLimit.
type FileLimit struct {
	Soft, Hard, Before uint64
}

// RaiseFileLimit is supported on Linux only.
func RaiseFileLimit() (FileLimit, error) {
	return FileLimit{}, errors.New("tuning: ssedge needs Linux")
}
