package tuning

import "errors"

// Sentinel errors; callers branch with errors.Is.
var (
	// ErrNeedsLinux is returned by the rlimit calls on other systems.
	ErrNeedsLinux = errors.New("tuning: ssedge needs Linux")
	// ErrUnknownSetting is a sysctl key that ssedge does not tune, found in
	// a backup file given to Revert.
	ErrUnknownSetting = errors.New("tuning: not a setting ssedge tunes")
	// ErrBadBackup is a backup file line that is not "key = value".
	ErrBadBackup = errors.New("tuning: malformed backup line")
	// ErrBadTarget is a Target with a value out of range.
	ErrBadTarget = errors.New("tuning: bad target")
)
