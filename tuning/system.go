package tuning

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// DefaultProcRoot is where the kernel's procfs is mounted.
const DefaultProcRoot = "/proc"

// System is what Check knows about the machine: sysctl values read from
// ROOT/sys, memory from ROOT/meminfo, and the caller's RLIMIT_NOFILE. Tests
// build one from a fake tree with ReadSystem and then set the fields.
type System struct {
	Root         string
	CPUs         int
	PageSize     int64
	MemTotal     int64 // bytes; 0 when MemErr is set
	MemAvailable int64 // bytes
	MemErr       error
	FileLimit    FileLimit
	FileLimitErr error
	values       map[string]sysValue
}

type sysValue struct {
	raw string
	err error
}

// sysctlPath is the file under root that holds a dotted sysctl key.
func sysctlPath(root, key string) string {
	return filepath.Join(root, "sys", filepath.FromSlash(strings.ReplaceAll(key, ".", "/")))
}

// readSysctl returns a sysctl's value with runs of blanks made one space,
// as `sysctl -n` prints it.
func readSysctl(root, key string) (string, error) {
	b, err := os.ReadFile(sysctlPath(root, key))
	if err != nil {
		return "", err
	}
	return strings.Join(strings.Fields(string(b)), " "), nil
}

// ReadSystem reads every setting Check looks at from root (a procfs mount;
// "" means /proc) and this process's open-files limit. A value it cannot
// read is remembered with its error; Check reports it as unknown.
func ReadSystem(root string) System {
	if root == "" {
		root = DefaultProcRoot
	}
	s := System{Root: root, CPUs: usableCPUs(), PageSize: int64(os.Getpagesize()), values: map[string]sysValue{}}
	for _, k := range readKeys {
		raw, err := readSysctl(root, k)
		s.values[k] = sysValue{raw, err}
	}
	s.MemTotal, s.MemAvailable, s.MemErr = readMeminfo(filepath.Join(root, "meminfo"))
	s.FileLimit, s.FileLimitErr = CurrentFileLimit()
	return s
}

// raw is a setting's value as read, or the error reading it.
func (s *System) raw(key string) (string, error) {
	v, ok := s.values[key]
	if !ok {
		return "", fmt.Errorf("tuning: %q was not read", key)
	}
	return v.raw, v.err
}

// ints parses a setting as want whitespace-separated integers.
func (s *System) ints(key string, want int) ([]int64, error) {
	raw, err := s.raw(key)
	if err != nil {
		return nil, err
	}
	f := strings.Fields(raw)
	if len(f) < want {
		return nil, fmt.Errorf("%s = %q: expected %d integers", key, raw, want)
	}
	out := make([]int64, want)
	for i := range out {
		// Unsigned sysctls (tcp_notsent_lowat, file-max on some kernels)
		// can exceed int64: clamp rather than fail.
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			u, uerr := strconv.ParseUint(f[i], 10, 64)
			if uerr != nil {
				return nil, fmt.Errorf("%s = %q: expected integers", key, raw)
			}
			n = int64(min(u, 1<<63-1))
		}
		out[i] = n
	}
	return out, nil
}

// int1 parses a single-integer setting.
func (s *System) int1(key string) (int64, error) {
	v, err := s.ints(key, 1)
	if err != nil {
		return 0, err
	}
	return v[0], nil
}

// readMeminfo returns MemTotal and MemAvailable in bytes.
func readMeminfo(path string) (total, avail int64, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		n, perr := strconv.ParseInt(f[1], 10, 64)
		if perr != nil {
			continue
		}
		switch f[0] {
		case "MemTotal:":
			total = n << 10 // meminfo counts kB (KiB)
		case "MemAvailable:":
			avail = n << 10
		}
	}
	if total == 0 || avail == 0 {
		return 0, 0, fmt.Errorf("%s: no MemTotal or MemAvailable line", path)
	}
	return total, avail, nil
}

// usableCPUs is the CPUs this process may run on: since Go 1.25 the
// default GOMAXPROCS also honours a cgroup CPU quota (a container limited
// to 1.5 CPUs gets 2, rounded up), which NumCPU does not; an explicit
// GOMAXPROCS lower than both counts too.
func usableCPUs() int { return max(1, min(runtime.NumCPU(), runtime.GOMAXPROCS(0))) }
