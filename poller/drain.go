package poller

import "time"

// DrainResult says what a Drain did.
type DrainResult struct {
	Streams int64         // streams open when it started
	Closed  uint64        // connections closed for CloseDrain
	Elapsed time.Duration // from the start to the last close (or to ctx's end)
	Cut     bool          // ctx ended it: Close closes the rest at once
}
