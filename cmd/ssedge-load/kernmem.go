package main

import (
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// kernelSample is the kernel's memory that sockets cost, read from the
// whole box: the slab (/proc/meminfo Slab: the TCP, sock_inode_cache,
// filp, dentry and eventpoll objects of every socket) and TCP's buffer
// pages (/proc/net/sockstat mem). On loopback the client's sockets are
// counted too: each connection is two sockets, one per end.
type kernelSample struct {
	SlabBytes int64 `json:"slab_bytes"`
	// SockSlabBytes is the slab caches one socket in an epoll set uses
	// (socketCaches), active objects x object size from /proc/slabinfo
	// (root only): less disturbed than the whole slab by what else runs.
	SockSlabBytes int64 `json:"sock_slab_bytes"`
	SockMemPages  int64 `json:"sockstat_mem_pages"`
	TCPInUse      int64 `json:"tcp_inuse"`
	MemAvailable  int64 `json:"mem_available_bytes"`
}

// kernelMem is the run's kernel side: before any connection and connected.
type kernelMem struct {
	Baseline  kernelSample `json:"baseline"`
	Connected kernelSample `json:"connected"`
	// SlabPerConnBytes is the slab growth per connection, both ends; on
	// loopback half of it is one socket's.
	SlabPerConnBytes     float64 `json:"slab_per_conn_bytes"`
	SockSlabPerConnBytes float64 `json:"sock_slab_per_conn_bytes"` // the socket caches alone, both ends
	SockMemPerConn       float64 `json:"sockstat_mem_bytes_per_conn"`
}

func readKernelSample() kernelSample {
	var k kernelSample
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			v, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "Slab:":
				k.SlabBytes = v << 10
			case "MemAvailable:":
				k.MemAvailable = v << 10
			}
		}
	}
	if st, err := readSockstat(); err == nil {
		k.SockMemPages, k.TCPInUse = st["mem"], st["inuse"]
	}
	if b, err := os.ReadFile("/proc/slabinfo"); err == nil {
		k.SockSlabBytes = socketSlab(b)
	}
	return k
}

// socketCaches are the slab caches of one TCP socket in an epoll set: the
// socket, its inode, its file and dentry, the epoll item and wait entry.
var socketCaches = map[string]bool{"TCP": true, "sock_inode_cache": true, "filp": true, "dentry": true, "eventpoll_epi": true, "eventpoll_pwq": true}

// socketSlab sums active objects x object size over socketCaches.
func socketSlab(b []byte) int64 {
	var sum int64
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 4 || !socketCaches[f[0]] {
			continue
		}
		active, _ := strconv.ParseInt(f[1], 10, 64)
		size, _ := strconv.ParseInt(f[3], 10, 64)
		sum += active * size
	}
	return sum
}

func (k *kernelMem) set(conns int) {
	if conns <= 0 {
		return
	}
	k.SlabPerConnBytes = float64(k.Connected.SlabBytes-k.Baseline.SlabBytes) / float64(conns)
	k.SockSlabPerConnBytes = float64(k.Connected.SockSlabBytes-k.Baseline.SockSlabBytes) / float64(conns)
	k.SockMemPerConn = float64((k.Connected.SockMemPages-k.Baseline.SockMemPages)*int64(os.Getpagesize())) / float64(conns)
}

// idleCPU is the server's CPU with every stream open and no event
// published (--idle): heartbeats, timers and the loops' own wake-ups.
type idleCPU struct {
	Seconds       float64 `json:"seconds"`         // how long it was measured
	CPUSeconds    float64 `json:"cpu_seconds"`     // server CPU over it (schedstat)
	PercentOfCore float64 `json:"percent_of_core"` // CPUSeconds / Seconds x 100
	// HeartbeatsPerS is streams / the server's heartbeat (--heartbeat), and
	// CPUPerHeartbeatUs the idle CPU divided by them: what one heartbeat
	// costs the server, its share of the wake-ups and timers included.
	HeartbeatsPerS    float64 `json:"heartbeats_per_s,omitempty"`
	CPUPerHeartbeatUs float64 `json:"cpu_per_heartbeat_us,omitempty"`
}

func (c *idleCPU) setHeartbeat(streams int, hb time.Duration) {
	if c == nil || hb <= 0 || streams <= 0 {
		return
	}
	c.HeartbeatsPerS = float64(streams) / hb.Seconds()
	c.CPUPerHeartbeatUs = c.CPUSeconds / c.Seconds / c.HeartbeatsPerS * 1e6
}

// measureIdle samples the server's CPU over d with nothing published.
func measureIdle(pid int, d time.Duration, log io.Writer, quiet bool) (*idleCPU, error) {
	if pid == 0 || d <= 0 {
		return nil, nil
	}
	a, err := readProcTree(pid)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if !quiet {
		io.WriteString(log, "idle: measuring the server's CPU with no events for "+d.String()+"\n")
	}
	time.Sleep(d) // the measured interval itself, not a wait for a state
	b, err := readProcTree(pid)
	if err != nil {
		return nil, err
	}
	secs := time.Since(start).Seconds()
	cpu := float64(b.cpuNs()-a.cpuNs()) / 1e9
	return &idleCPU{Seconds: secs, CPUSeconds: cpu, PercentOfCore: 100 * cpu / secs}, nil
}
