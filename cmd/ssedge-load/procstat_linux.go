package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat. It
// is 100 on every Linux architecture Go supports (sysconf(_SC_CLK_TCK)
// would need cgo to ask).
const clockTicks = 100

// readProcTree samples pid and every process below it, found afresh at
// each sample, so a supervisor's workers (ssedge serve --procs N, nginx's
// master and workers) are measured together.
func readProcTree(pid int) (procSample, error) {
	pids, err := processTree(pid)
	if err != nil {
		return procSample{}, err
	}
	var sum procSample
	for i, p := range pids {
		s, err := readProc(p)
		if err != nil {
			if i == 0 {
				return sum, err
			}
			continue // a descendant exited since the walk
		}
		sum.Procs++
		sum.RSSBytes += s.RSSBytes
		sum.CPUTicksNs += s.CPUTicksNs
		sum.SchedNs += s.SchedNs
		sum.HaveSched = sum.HaveSched || s.HaveSched
	}
	return sum, nil
}

// processTree lists pid and its descendants, pid first, from
// /proc/PID/task/*/children (CONFIG_PROC_CHILDREN), or from every
// process's parent in /proc/*/stat where that file does not exist.
func processTree(pid int) ([]int, error) {
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
		return nil, err
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid)); errors.Is(err, fs.ErrNotExist) {
		return processTreeByParent(pid)
	}
	pids := []int{pid}
	seen := map[int]bool{pid: true}
	for i := 0; i < len(pids); i++ {
		files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pids[i]))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				continue // the thread or process exited
			}
			for _, c := range bytes.Fields(b) {
				if child, err := strconv.Atoi(string(c)); err == nil && !seen[child] {
					seen[child] = true
					pids = append(pids, child)
				}
			}
		}
	}
	return pids, nil
}

func processTreeByParent(pid int) ([]int, error) {
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return nil, err
	}
	children := map[int][]int{}
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		fields := bytes.Fields(b[bytes.LastIndexByte(b, ')')+1:])
		if len(fields) < 2 {
			continue
		}
		p, err1 := strconv.Atoi(filepath.Base(filepath.Dir(f)))
		parent, err2 := strconv.Atoi(string(fields[1]))
		if err1 == nil && err2 == nil {
			children[parent] = append(children[parent], p)
		}
	}
	pids := []int{pid}
	for i := 0; i < len(pids); i++ {
		pids = append(pids, children[pids[i]]...)
	}
	return pids, nil
}

// readProc samples one process: VmRSS from /proc/PID/status; utime+stime
// from /proc/PID/stat (10 ms resolution, includes exited threads); and the
// nanosecond on-CPU time summed over /proc/PID/task/*/schedstat, which is
// what CPU per delivery uses when the kernel provides it (threads that
// exit mid-run drop out of that sum, which Go servers rarely do).
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
