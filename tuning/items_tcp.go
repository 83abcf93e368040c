package tuning

import (
	"fmt"
	"math"
)

// MaxListenBacklog is the largest listen backlog ssedge asks for.
const MaxListenBacklog = 65535

// stormBacklog is what one listener's accept queue must hold when every
// client of a process reconnects at once (a restart): its share of them.
func (c *checker) stormBacklog() int64 {
	return min(max(ceilDiv(c.t.perProcess(), int64(c.t.Loops)), 4096), MaxListenBacklog)
}

func (c *checker) somaxconn() Item {
	need := c.stormBacklog()
	return c.atLeast("net.core.somaxconn", 0, need, fmt.Sprintf(
		"caps every listen(2) backlog; ssedge has one listener per loop (%d) and asks for min(somaxconn, %d). After a restart every client reconnects at once, %d per listener; a full queue drops their SYNs and they retry 1 s, 3 s, 7 s later", c.t.Loops, MaxListenBacklog, ceilDiv(c.t.perProcess(), int64(c.t.Loops))), "")
}

func (c *checker) synBacklog() Item {
	cookies := "with tcp_syncookies=1 an overflow is answered with syncookies (the connection is made, but without TCP options unless timestamps carry them)"
	if v, err := c.s.int1("net.ipv4.tcp_syncookies"); err == nil && v == 0 {
		cookies = "tcp_syncookies=0 here: an overflow drops the SYN"
	}
	return c.atLeast("net.ipv4.tcp_max_syn_backlog", 0, c.stormBacklog(),
		"half-open connections (SYN-RECV) remembered per listener, the first half of a reconnect storm; same need as somaxconn; "+cookies, "")
}

func (c *checker) netdevBacklog() Item {
	// Three packets per connect (SYN, ACK, request) from every client
	// within EventSource's ~3 s retry is N packets per second; each CPU's
	// queue holds one 10 ms softirq slice of its share.
	need := max(1000, ceilDiv(int64(c.t.Conns), int64(100*c.s.CPUs)))
	return c.atLeast("net.core.netdev_max_backlog", 0, need, fmt.Sprintf(
		"packets queued per CPU between the NIC (or loopback) and TCP. A reconnect storm is ~3 packets per client within ~3 s, N per second; each of %d CPUs must hold a 10 ms slice of it. Drops show in column 2 of /proc/net/softnet_stat and are retransmitted", c.s.CPUs), "")
}

func (c *checker) tcpMem() Item {
	const key = "net.ipv4.tcp_mem"
	m := c.m
	why := fmt.Sprintf("TCP socket-buffer memory of the whole box in %d-byte pages (min pressure max): above pressure the kernel shrinks send buffers, above max sends fail and ssedge closes subscribers as slow consumers. When one event goes to every subscriber each socket holds %d B until ACKed, charged as %d page(s): %d x %d = %d pages (%s). Watch it: the mem field of TCP in /proc/net/sockstat",
		m.PageSize, m.SendBytes, m.TCPPagesPerSocket, c.t.Conns, m.TCPPagesPerSocket, m.TCPPages, gib(m.TCPPages*m.PageSize))
	cur, err := c.s.ints(key, 3)
	if err != nil {
		return unknown(key, err, why)
	}
	need := m.TCPPages
	it := Item{Name: key, Current: joinInts(cur), Needed: fmt.Sprintf("pressure, max >= %d", need), Verdict: OK, Why: why, sysctl: true}
	switch {
	case cur[2] < need:
		it.Verdict = Fail
	case cur[1] < need:
		it.Verdict = Warn
	}
	if it.Verdict != OK {
		// Keep the kernel's own proportions: min = 3/4 pressure, max = 3/2.
		p := max(cur[1], need)
		it.Set = joinInts([]int64{max(cur[0], p*3/4), p, max(cur[2], p*3/2)})
		it.Fix = fmt.Sprintf("sysctl -w %s=%q", key, it.Set)
	}
	return it
}

func (c *checker) tcpWmem() Item {
	const key = "net.ipv4.tcp_wmem"
	need := c.m.SendBytes
	why := fmt.Sprintf("send buffer per socket in bytes (min default max); a socket starts at default and autotuning grows it for fast links. One fan-out queues %d B per subscriber: below that it splits into several writes (ssedge keeps the rest in its backlog). Idle sockets cost nothing here, but a stalled subscriber pins up to its buffer, so keep default modest", need)
	cur, err := c.s.ints(key, 3)
	if err != nil {
		return unknown(key, err, why)
	}
	it := Item{Name: key, Current: joinInts(cur), Needed: fmt.Sprintf("default >= %d", need), Verdict: OK, Why: why, sysctl: true}
	if cur[1] < need {
		d := ceilDiv(need, 4096) * 4096
		it.Verdict, it.Set = Warn, joinInts([]int64{cur[0], d, max(cur[2], d)})
		it.Fix = fmt.Sprintf("sysctl -w %s=%q", key, it.Set)
	}
	return it
}

// requestHeadMax is httpmin.MaxHeaderBytes: the most a subscriber sends.
const requestHeadMax = 16384

func (c *checker) tcpRmem() Item {
	const key = "net.ipv4.tcp_rmem"
	why := fmt.Sprintf("receive buffer per socket in bytes (min default max). Subscribers send one request head (at most %d B) and then nothing; buffers are allocated as data arrives, so the defaults are right and raising them gains ssedge nothing", requestHeadMax)
	cur, err := c.s.ints(key, 3)
	if err != nil {
		return unknown(key, err, why)
	}
	it := Item{Name: key, Current: joinInts(cur), Needed: fmt.Sprintf("default >= %d", requestHeadMax), Verdict: OK, Why: why, sysctl: true}
	if cur[1] < requestHeadMax {
		it.Verdict, it.Set = Warn, joinInts([]int64{cur[0], requestHeadMax, max(cur[2], requestHeadMax)})
		it.Fix = fmt.Sprintf("sysctl -w %s=%q", key, it.Set)
	}
	return it
}

func (c *checker) portRange() Item {
	const key = "net.ipv4.ip_local_port_range"
	per := c.t.perProcess()
	why := fmt.Sprintf("ephemeral ports for outgoing connections. ssedge only accepts; this matters when nginx on this box proxies to ssedge over TCP: one (nginx address, ssedge address:port) pair carries at most as many connections as the range holds, and each ssedge process here has %d", per)
	cur, err := c.s.ints(key, 2)
	if err != nil {
		return unknown(key, err, why)
	}
	size := cur[1] - cur[0] + 1
	it := Item{Name: key, Current: joinInts(cur), Needed: fmt.Sprintf("%d ports per upstream pair", per), Verdict: OK, Why: why, sysctl: true}
	if size < per {
		it.Verdict = Warn
		const wide = 65535 - 1024 + 1
		pairs := ceilDiv(per, wide)
		if size < wide {
			it.Set = "1024 65535"
		}
		it.Fix = fmt.Sprintf("range %d holds %d; with 1024-65535 (%d) nginx needs %d upstream address pair(s) per process (ssedge --listen repeats; nginx proxy_bind), or a unix-socket upstream, which uses no ports; reserve ssedge's own port with net.ipv4.ip_local_reserved_ports", size, size, wide, pairs)
	}
	return it
}

func (c *checker) finTimeout() Item {
	return c.atMost("net.ipv4.tcp_fin_timeout", 60,
		"seconds a socket ssedge closed (slow consumer, shutdown) waits in FIN-WAIT-2 for the client's FIN. Up to 60 s (TCP_TIMEWAIT_LEN) the kernel keeps it as a 256-byte timewait socket instead of a full one, so the default 60 is right; lowering it frees little")
}

func (c *checker) twReuse() Item {
	const key = "net.ipv4.tcp_tw_reuse"
	why := "lets an outgoing connect() reuse a port in TIME-WAIT when TCP timestamps prove it safe (0 off, 1 on, 2 loopback only). ssedge never connects out; it matters for nginx on this box reconnecting to ssedge after closing upstreams itself: 2 covers a loopback upstream, 1 any address"
	cur, err := c.s.int1(key)
	if err != nil {
		return unknown(key, err, why)
	}
	raw, _ := c.s.raw(key)
	it := Item{Name: key, Current: raw, Needed: "1 or 2", Verdict: OK, Why: why, sysctl: true}
	if cur == 0 {
		it.Verdict, it.Set, it.Fix = Warn, "1", "sysctl -w "+key+"=1"
	}
	return it
}

func (c *checker) twBuckets() Item {
	return c.atLeast("net.ipv4.tcp_max_tw_buckets", 0, int64(c.t.Conns),
		"TIME-WAIT sockets the box keeps (256 B each). ssedge closes first when it stops, so a restart leaves one per connection; beyond the limit the kernel logs \"time wait bucket table overflow\" and drops them early", "")
}

func (c *checker) orphans() Item {
	return c.atLeast("net.ipv4.tcp_max_orphans", 0, int64(c.t.Conns),
		"sockets closed by ssedge but not yet finished with the client (FIN not acknowledged). At shutdown all of them are; beyond the limit the kernel resets them instead (\"too many orphaned sockets\"). Clients reconnect either way", "")
}

func (c *checker) keepalive() Item {
	const key = "net.ipv4.tcp_keepalive_time"
	why := "seconds idle before TCP keepalive probes, for sockets that ask for them. ssedge does not: its heartbeat comment (--heartbeat, 30 s) keeps streams busy, and a dead client is found by the retransmission timeout (tcp_retries2). nginx's idle upstream keepalive connections use it"
	cur, err := c.s.ints(key, 1)
	if err != nil {
		return unknown(key, err, why)
	}
	cv := fmt.Sprint(cur[0])
	if iv, err := c.s.int1("net.ipv4.tcp_keepalive_intvl"); err == nil {
		if pr, err := c.s.int1("net.ipv4.tcp_keepalive_probes"); err == nil {
			why += fmt.Sprintf("; here a dead idle peer is dropped after %d + %d x %d = %d s", cur[0], pr, iv, cur[0]+pr*iv)
		}
	}
	return Item{Name: key, Current: cv, Needed: "any", Verdict: OK, Why: why, sysctl: true}
}

func (c *checker) retries2() Item {
	const key = "net.ipv4.tcp_retries2"
	why := "retransmissions before TCP gives up on a peer that stopped acknowledging. A subscriber that vanished (a phone losing its network) is found when a heartbeat goes unacknowledged; until then it holds a descriptor, ~4 KiB and its queued frames"
	if cur, err := c.s.int1(key); err == nil {
		why += fmt.Sprintf(". With a 200 ms first RTO, %d retries give up after %.0f s; 8 after about 100 s, the RFC 1122 minimum", cur, rtoTotal(cur))
	}
	return c.atMost(key, 8, why)
}

// rtoTotal is the seconds TCP retransmits before giving up after n
// retries: the timeout doubles from TCP_RTO_MIN (0.2 s) up to TCP_RTO_MAX
// (120 s), and the last one is waited out too.
func rtoTotal(n int64) float64 {
	total, rto := 0.0, 0.2
	for i := int64(0); i <= n; i++ {
		total += rto
		rto = math.Min(rto*2, 120)
	}
	return total
}
