package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat. It
// is 100 on every Linux architecture Go supports (sysconf(_SC_CLK_TCK)
// would need cgo to ask).
const clockTicks = 100

// readProc samples the server process: VmRSS from /proc/PID/status;
// utime+stime from /proc/PID/stat (10 ms resolution, includes exited
// threads); and the nanosecond on-CPU time summed over
// /proc/PID/task/*/schedstat, which is what CPU per delivery uses when the
// kernel provides it (threads that exit mid-run drop out of that sum, which
// Go servers rarely do).
func readProc(pid int) (procSample, error) {
	var s procSample
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for line := range bytes.Lines(status) {
		if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			kb, err := strconv.ParseInt(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(v), []byte("kB")))), 10, 64)
			if err != nil {
				return s, fmt.Errorf("ssedge-load: /proc/%d/status VmRSS %q: want a number of kB", pid, bytes.TrimSpace(v))
			}
			s.RSSBytes = kb << 10
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command name may hold spaces and parentheses; fields are
	// counted after the last ')'. utime and stime are fields 14 and 15.
	fields := bytes.Fields(stat[bytes.LastIndexByte(stat, ')')+1:])
	if len(fields) < 13 {
		return s, fmt.Errorf("ssedge-load: /proc/%d/stat has %d fields after the name: want at least 13", pid, len(fields))
	}
	utime, err1 := strconv.ParseInt(string(fields[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(fields[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return s, fmt.Errorf("ssedge-load: /proc/%d/stat utime %q stime %q: want numbers", pid, fields[11], fields[12])
	}
	s.CPUTicksNs = (utime + stime) * (1e9 / clockTicks)

	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread exited
		}
		f := bytes.Fields(b)
		if len(f) == 0 {
			continue
		}
		if ns, err := strconv.ParseInt(string(f[0]), 10, 64); err == nil {
			s.SchedNs += ns
			s.HaveSched = true
		}
	}
	return s, nil
}
