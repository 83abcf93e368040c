package main

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// machine is where a run ran, carried in its JSON so a report made later
// from the files alone can say so.
type machine struct {
	CPUs       int     `json:"cpus"` // online CPUs the scheduler may use
	CPUModel   string  `json:"cpu_model,omitempty"`
	Kernel     string  `json:"kernel,omitempty"`
	MemBytes   int64   `json:"mem_bytes,omitempty"`
	NofileSoft uint64  `json:"nofile_soft,omitempty"`
	NofileHard uint64  `json:"nofile_hard,omitempty"`
	LoadAvg1   float64 `json:"load_avg_1m"` // /proc/loadavg when the run started: other work on the machine
}

func thisMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), Kernel: kernelRelease()}
	m.NofileSoft, m.NofileHard = nofileLimits()
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := bytes.Fields(b); len(f) > 0 {
			m.LoadAvg1, _ = strconv.ParseFloat(string(f[0]), 64)
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range bytes.Lines(b) {
			if v, ok := bytes.CutPrefix(line, []byte("MemTotal:")); ok {
				kb, _ := strconv.ParseInt(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(v), []byte("kB")))), 10, 64)
				m.MemBytes = kb << 10
			}
		}
	}
	return m
}
