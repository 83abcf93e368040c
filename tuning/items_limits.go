package tuning

import (
	"errors"
	"fmt"
	"io/fs"
)

// itemFuncs lists the checks in the order they are printed: hard limits
// first, then the TCP settings.
var itemFuncs = []func(*checker) Item{
	(*checker).fileLimit,
	(*checker).nrOpen,
	(*checker).fileMax,
	(*checker).memory,
	(*checker).cpu,
	(*checker).tcpMem,
	(*checker).conntrack,
	(*checker).somaxconn,
	(*checker).synBacklog,
	(*checker).netdevBacklog,
	(*checker).tcpWmem,
	(*checker).tcpRmem,
	(*checker).portRange,
	(*checker).finTimeout,
	(*checker).twReuse,
	(*checker).twBuckets,
	(*checker).orphans,
	(*checker).keepalive,
	(*checker).retries2,
}

// readKeys are the sysctls ReadSystem reads.
var readKeys = []string{
	"fs.file-max", "fs.file-nr", "fs.nr_open",
	"net.core.somaxconn", "net.core.netdev_max_backlog",
	"net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_syncookies",
	"net.ipv4.tcp_mem", "net.ipv4.tcp_wmem", "net.ipv4.tcp_rmem",
	"net.ipv4.ip_local_port_range", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_tw_reuse",
	"net.ipv4.tcp_max_tw_buckets", "net.ipv4.tcp_max_orphans",
	"net.netfilter.nf_conntrack_max", "net.netfilter.nf_conntrack_count",
	"net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
	"net.ipv4.tcp_retries2",
}

// fdNeed is the descriptors one ssedge process needs.
func (c *checker) fdNeed() int64 { return c.t.perProcess() + FDReserve }

func (c *checker) fileLimit() Item {
	need := c.fdNeed()
	why := fmt.Sprintf("one descriptor per subscriber: %d per process plus %d for ssedge itself; ssedge raises the soft limit to the hard one at start but cannot raise the hard one. Read from the process running this check: the service's own limit comes from its unit (LimitNOFILE=)", c.t.perProcess(), FDReserve)
	if c.s.FileLimitErr != nil {
		return unknown("RLIMIT_NOFILE", c.s.FileLimitErr, why)
	}
	fl := c.s.FileLimit
	it := Item{Name: "RLIMIT_NOFILE", Current: fmt.Sprintf("soft %d hard %d", fl.Soft, fl.Hard), Needed: fmt.Sprintf("hard >= %d", need), Verdict: OK, Why: why}
	fix := fmt.Sprintf("LimitNOFILE=%d in the systemd unit; for a login shell `* - nofile %d` in /etc/security/limits.conf; in docker --ulimit nofile=%d:%d", need, need, need, need)
	if fl.Hard > FDReserve {
		fix += fmt.Sprintf("; or, at this hard limit, run `ssedge serve --procs %d` (worker processes sharing the port, each under its own limit; check with --procs %[1]d)",
			ceilDiv(int64(c.t.Conns), int64(fl.Hard)-FDReserve))
	}
	switch {
	case fl.Hard < uint64(need):
		it.Verdict, it.Fix = Fail, fix
	case fl.Soft < uint64(need):
		it.Verdict, it.Fix = Warn, "none needed for ssedge serve (it raises the soft limit); for other tools: ulimit -n "+fmt.Sprint(need)
	}
	return it
}

func (c *checker) nrOpen() Item {
	need := ceilDiv(c.fdNeed(), 1024) * 1024
	return c.atLeast("fs.nr_open", c.fdNeed(), need,
		"the most any process's RLIMIT_NOFILE may be: LimitNOFILE= or setrlimit above it fails. Needs the per-process descriptors, rounded up to 1024", "")
}

func (c *checker) fileMax() Item {
	n := int64(c.t.Conns)
	used := int64(0)
	if v, err := c.s.ints("fs.file-nr", 1); err == nil {
		used = v[0]
	}
	need := 3*n + 65536
	return c.atLeast("fs.file-max", n+used, need,
		fmt.Sprintf("open files on the whole box. Fails below the %d in use now plus ssedge's %d; needs 3 per connection (ssedge's one and a local nginx's two, client and upstream) plus 65536 for the rest: a cap, so it costs nothing until used", used, n), "")
}

func (c *checker) memory() Item {
	m := c.m
	why := fmt.Sprintf("%d connections x (%d B kernel socket + %d B queued when an event goes to all (%d frame of %d+%d B, skb %d B) + %d B ssedge) + %s per process. It counts ssedge's own sockets only: a client or nginx on this box has a socket of its own per stream (another %d B each), and nginx its buffers",
		c.t.Conns, m.KernelIdleBytes, m.SendBytes, m.FramesInFlight, c.t.EventBytes, FrameOverheadBytes, SkbOverheadBytes, m.UserBytes, gib(BaseProcessBytes), m.KernelIdleBytes)
	if c.s.MemErr != nil {
		return unknown("memory", c.s.MemErr, why)
	}
	it := Item{Name: "memory", Current: fmt.Sprintf("%s available of %s", gib(c.s.MemAvailable), gib(c.s.MemTotal)),
		Needed: gib(m.TotalBytes), Verdict: OK, Why: why}
	switch {
	case m.TotalBytes > c.s.MemAvailable:
		it.Verdict, it.Fix = Fail, "more RAM, fewer connections per box, or less memory per connection (--event-bytes, a lower event rate)"
	case m.TotalBytes > c.s.MemAvailable*3/4:
		it.Verdict, it.Fix = Warn, "under 25% of available memory left for page cache, nginx and bursts: add RAM or hold fewer connections"
	}
	return it
}

func (c *checker) conntrack() Item {
	const key = "net.netfilter.nf_conntrack_max"
	n := int64(c.t.Conns)
	why := "connection-tracking table entries (netfilter, loaded with NAT or stateful firewall rules): one per connection through this box, two when nginx here proxies to ssedge over TCP; when full, new connections are dropped (\"nf_conntrack: table full, dropping packet\")"
	if _, err := c.s.raw(key); errors.Is(err, fs.ErrNotExist) {
		return Item{Name: key, Current: "not loaded", Needed: "-", Verdict: OK, sysctl: false,
			Why: "nf_conntrack is not loaded: nothing tracks connections, no limit. If a firewall loads it later, run check again"}
	}
	count := int64(0)
	if v, err := c.s.int1("net.netfilter.nf_conntrack_count"); err == nil {
		count = v
	}
	it := c.atLeast(key, count+n, 2*n, why+fmt.Sprintf("; fails below the %d tracked now plus %d", count, n),
		"; or exempt the SSE port from tracking (SYSCTL.md, conntrack)")
	return it
}
