package main

// kernelFloor is what one delivery cannot cost less than on this machine:
// the CPU time of one small write to a loopback TCP socket whose reader is
// asleep in epoll_wait, measured by this process in the same run as the
// server (floor_linux.go). A null syscall is measured beside it for
// context.
type kernelFloor struct {
	Pairs         int     `json:"pairs"`           // loopback connections written to
	Bursts        int     `json:"bursts"`          // one write per connection each, like one event to many subscribers
	Writes        int     `json:"writes"`          // counted writes (a warm-up burst is not counted)
	WriteBytes    int     `json:"write_bytes"`     // bytes per write: one SSE frame of the run
	WriteUs       float64 `json:"write_us"`        // writer thread CPU per write, median over bursts
	HotWriteUs    float64 `json:"hot_write_us"`    // the same write repeated to one socket with no reader waiting: the best case
	NullSyscallUs float64 `json:"null_syscall_us"` // getppid
	Source        string  `json:"source"`          // the clock read
}

// sseFrameBytes is the size of the frame a server sends for one event of
// size data bytes: "id: " + a 16-digit id + "\n" + "data: " + data +
// "\n\n" (ssedge's and the net/http peer's ids are 16 digits today).
func sseFrameBytes(size int) int {
	return len("id: ") + 16 + len("\n") + len("data: ") + size + len("\n\n")
}
