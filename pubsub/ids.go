package pubsub

import "time"

// MaxID is the largest id ssedge issues: 2^53-1, the largest integer a
// JavaScript number holds exactly.
const MaxID = 1<<53 - 1

// seedFromClock returns the id seed for a process started at now: the wall
// clock in microseconds since the Unix epoch. See the package doc for why
// this makes ids unique across restarts.
func seedFromClock(now time.Time) uint64 {
	us := now.UnixMicro()
	if us < 0 {
		return 0
	}
	return uint64(us)
}
