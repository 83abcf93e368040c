package main

// procSample is one reading of the server: the process given by
// --server-pid and all its descendants, summed.
type procSample struct {
	Procs      int   // processes summed
	RSSBytes   int64 // VmRSS summed: shared pages count once per process, which cancels in a delta
	CPUTicksNs int64 // utime+stime, in ns, 10 ms resolution
	SchedNs    int64 // on-CPU ns summed over live threads
	HaveSched  bool
}

// cpuNs is the best CPU figure the sample has.
func (s procSample) cpuNs() int64 {
	if s.HaveSched {
		return s.SchedNs
	}
	return s.CPUTicksNs
}
