package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// stormCounters are the TcpExt counters (/proc/net/netstat, what `nstat`
// shows) that say whether the storm overran the listen queues: SYNs
// dropped for a full accept queue (ListenOverflows, counted in
// ListenDrops with other drops) or a full SYN queue (TCPReqQFullDrop),
// and SYN cookies sent instead of queueing.
var stormCounters = []string{"ListenOverflows", "ListenDrops", "TCPReqQFullDrop", "TCPReqQFullDoCookies", "SyncookiesSent", "SyncookiesFailed", "TCPBacklogDrop"}

// serverStorm is the server side of the storm, read while it lasts.
type serverStorm struct {
	Samples            int              `json:"samples"`
	Listeners          int              `json:"listeners"`             // listening sockets on the target port (one per ssedge process with SO_REUSEPORT)
	Backlog            int              `json:"backlog"`               // their accept queue bound (ss Send-Q)
	PeakAcceptQueue    int              `json:"peak_accept_queue"`     // connections waiting for accept, summed over the listeners (ss Recv-Q)
	PeakAcceptQueueOne int              `json:"peak_accept_queue_one"` // the fullest single listener
	Counters           map[string]int64 `json:"tcpext_delta"`          // over the storm
	BeforeRSSBytes     int64            `json:"before_rss_bytes"`      // --server-pid's tree; 0 without it
	PeakRSSBytes       int64            `json:"peak_rss_bytes"`
	BeforeSockMemPages int64            `json:"before_sockstat_mem_pages"` // /proc/net/sockstat TCP mem: the kernel's TCP buffers, both ends on loopback
	PeakSockMemPages   int64            `json:"peak_sockstat_mem_pages"`
	BeforeTCPInUse     int64            `json:"before_tcp_inuse"`
	PeakTCPInUse       int64            `json:"peak_tcp_inuse"`
	PeakTimeWait       int64            `json:"peak_tcp_tw"`
	Errors             []string         `json:"errors,omitempty"` // what could not be read
}

// serverSampler reads the server side every so often; not for concurrent use.
type serverSampler struct {
	cfg    *config
	every  time.Duration
	last   time.Time
	before map[string]int64
	res    serverStorm
	errs   map[string]bool
}

func newServerSampler(cfg *config, every time.Duration) *serverSampler {
	return &serverSampler{cfg: cfg, every: every, errs: map[string]bool{}}
}

// sample reads everything once, unless the last reading is more recent
// than every and force is false.
func (s *serverSampler) sample(force bool) {
	now := time.Now()
	if !force && now.Sub(s.last) < s.every {
		return
	}
	s.last = now
	first := s.res.Samples == 0
	s.res.Samples++
	r := &s.res

	if q, err := listenQueues(s.cfg.target.Port()); err != nil {
		s.note("ss", err)
	} else {
		sum, one := 0, 0
		for _, l := range q {
			sum, one = sum+l.recvQ, max(one, l.recvQ)
			r.Backlog = max(r.Backlog, l.sendQ)
		}
		r.Listeners = max(r.Listeners, len(q))
		r.PeakAcceptQueue, r.PeakAcceptQueueOne = max(r.PeakAcceptQueue, sum), max(r.PeakAcceptQueueOne, one)
	}
	if c, err := tcpExtCounters(); err != nil {
		s.note("/proc/net/netstat", err)
	} else if first {
		s.before = c
	} else {
		r.Counters = map[string]int64{}
		for _, k := range stormCounters {
			r.Counters[k] = c[k] - s.before[k]
		}
	}
	if st, err := readSockstat(); err != nil {
		s.note("/proc/net/sockstat", err)
	} else {
		if first {
			r.BeforeSockMemPages, r.BeforeTCPInUse = st["mem"], st["inuse"]
		}
		r.PeakSockMemPages = max(r.PeakSockMemPages, st["mem"])
		r.PeakTCPInUse = max(r.PeakTCPInUse, st["inuse"])
		r.PeakTimeWait = max(r.PeakTimeWait, st["tw"])
	}
	if s.cfg.serverPID != 0 {
		if p, err := readProcTree(s.cfg.serverPID); err != nil {
			s.note("server process", err)
		} else {
			if first {
				r.BeforeRSSBytes = p.RSSBytes
			}
			r.PeakRSSBytes = max(r.PeakRSSBytes, p.RSSBytes)
		}
	}
}

func (s *serverSampler) note(what string, err error) {
	msg := what + ": " + err.Error()
	if !s.errs[msg] {
		s.errs[msg] = true
		s.res.Errors = append(s.res.Errors, msg)
	}
}

type listenQueue struct{ recvQ, sendQ int }

// listenQueues asks ss (iproute2, netlink: it does not read the whole
// /proc/net/tcp, which at 200,000 streams is tens of megabytes) for the
// listening sockets on port: Recv-Q is the accept queue, Send-Q its bound.
func listenQueues(port uint16) ([]listenQueue, error) {
	out, err := exec.Command("ss", "-Hltn", fmt.Sprintf("sport = :%d", port)).Output()
	if err != nil {
		return nil, err
	}
	return parseSSListen(out), nil
}

// parseSSListen reads `ss -Hltn` lines: State Recv-Q Send-Q Local Peer.
func parseSSListen(out []byte) []listenQueue {
	var q []listenQueue
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		r, err1 := strconv.Atoi(f[1])
		s, err2 := strconv.Atoi(f[2])
		if err1 == nil && err2 == nil {
			q = append(q, listenQueue{r, s})
		}
	}
	return q
}

// tcpExtCounters reads the TcpExt pair of lines of /proc/net/netstat.
func tcpExtCounters() (map[string]int64, error) {
	b, err := os.ReadFile("/proc/net/netstat")
	if err != nil {
		return nil, err
	}
	return parseNetstat(b, "TcpExt:")
}

// parseNetstat reads /proc/net/netstat's "Prefix: names" line and the
// "Prefix: values" line after it.
func parseNetstat(b []byte, prefix string) (map[string]int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var names []string
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		f := strings.Fields(line)[1:]
		if names == nil {
			names = f
			continue
		}
		m := make(map[string]int64, len(names))
		for i, n := range names {
			if i < len(f) {
				m[n], _ = strconv.ParseInt(f[i], 10, 64)
			}
		}
		return m, nil
	}
	return nil, fmt.Errorf("no %s lines", prefix)
}

// readSockstat reads the TCP line of /proc/net/sockstat: inuse, orphan,
// tw, alloc, mem (pages).
func readSockstat() (map[string]int64, error) {
	b, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return nil, err
	}
	return parseSockstat(b, "TCP:")
}

func parseSockstat(b []byte, prefix string) (map[string]int64, error) {
	for line := range strings.Lines(string(b)) {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		f := strings.Fields(line)[1:]
		m := map[string]int64{}
		for i := 0; i+1 < len(f); i += 2 {
			m[f[i]], _ = strconv.ParseInt(f[i+1], 10, 64)
		}
		return m, nil
	}
	return nil, fmt.Errorf("no %s line", prefix)
}

func (r *serverStorm) writeTable(w io.Writer) {
	fmt.Fprintf(w, "accept queue peak %d waiting over %d listener(s) (fullest one %d, bound %d); %d samples\n",
		r.PeakAcceptQueue, r.Listeners, r.PeakAcceptQueueOne, r.Backlog, r.Samples)
	if r.Counters != nil {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(r.Counters)) {
			parts = append(parts, fmt.Sprintf("%s %d", k, r.Counters[k]))
		}
		fmt.Fprintf(w, "TcpExt delta %s\n", strings.Join(parts, ", "))
	}
	if r.PeakRSSBytes > 0 {
		fmt.Fprintf(w, "server RSS   %.1f MiB before the drop, peak %.1f MiB during the storm\n",
			float64(r.BeforeRSSBytes)/(1<<20), float64(r.PeakRSSBytes)/(1<<20))
	}
	fmt.Fprintf(w, "sockstat     TCP mem %d pages before, peak %d (%.1f MiB, both ends on loopback); inuse %d before, peak %d; time-wait peak %d\n",
		r.BeforeSockMemPages, r.PeakSockMemPages, float64(r.PeakSockMemPages*int64(os.Getpagesize()))/(1<<20), r.BeforeTCPInUse, r.PeakTCPInUse, r.PeakTimeWait)
	for _, e := range r.Errors {
		fmt.Fprintf(w, "             not read: %s\n", e)
	}
}
