package tuning

import "math"

// The memory model. Each figure is per subscriber connection; see
// SYSCTL.md ("Memory") for how they were measured.
const (
	// KernelIdleSocketBytes is the kernel memory of an idle accepted TCP
	// socket: slab objects TCP (2368 B), sock_inode_cache (832), filp
	// (192), dentry (192), eventpoll_epi (128) and an eppoll_entry, 3.7 KiB
	// on Linux 6.18 x86-64 (/proc/slabinfo), plus what the slabs hold
	// beyond their live objects: the whole slab grew by 5,083 B per socket
	// at 200,000 loopback streams here (bench/scale.sh, docs/BENCH.md "1M
	// streams"), taken as 5 KiB.
	KernelIdleSocketBytes = 5120
	// SkbOverheadBytes is what the kernel adds to the data of one queued
	// send (sk_buff, skb_shared_info, header room): `ss -m` shows a
	// 576-byte segment as 1408 bytes of skmem (+832); the sender's fclone
	// skb is larger, hence 1 KiB.
	SkbOverheadBytes = 1024
	// FrameOverheadBytes is the SSE framing around an event's data:
	// "id: <16 digits>\n", "event: <name>\n", "data: ", "\n\n".
	FrameOverheadBytes = 64
	// UserBytesPerConn is ssedge's user-space memory per idle stream: 0.36
	// to 0.40 KiB measured from 1,000 to 200,000 streams (RSS delta / N,
	// all processes, bench/scale.sh), taken as 512 B.
	UserBytesPerConn = 512
	// BaseProcessBytes is one ssedge process without subscribers: Go
	// runtime, event ring, loop tables; 15.5 MiB measured (RSS before any
	// stream, 14 processes of serve --procs 13), taken as 16 MiB.
	BaseProcessBytes = 16 << 20
	// AckResidency is how long a sent frame stays queued until the client
	// acknowledges it: a slow client round trip (direct internet clients;
	// behind a LAN nginx it is well under a millisecond).
	AckResidencySeconds = 0.2
)

// Memory is the estimate for a Target: per connection, and for all of them.
type Memory struct {
	FramesInFlight    int64 `json:"frames_in_flight"`     // frames queued per socket at a fan-out peak
	KernelIdleBytes   int64 `json:"kernel_idle_bytes"`    // per socket, idle
	SendBytes         int64 `json:"send_bytes"`           // per socket, queued at the peak (skb truesize)
	TCPPagesPerSocket int64 `json:"tcp_pages_per_socket"` // what the queued bytes charge to tcp_mem
	UserBytes         int64 `json:"user_bytes"`           // ssedge user space per connection
	IdleBytes         int64 `json:"idle_bytes"`           // kernel socket + ssedge: an idle stream, what bench/scale.sh measures
	PerConnBytes      int64 `json:"per_conn_bytes"`       // the three together
	TCPPages          int64 `json:"tcp_pages"`            // tcp_mem pages at the peak, all sockets
	TotalBytes        int64 `json:"total_bytes"`          // RAM for the target, processes' base included
	PageSize          int64 `json:"page_size"`            // bytes in a tcp_mem page
}

// estimateMemory applies the model: when one event goes to every
// subscriber at once, every socket holds FramesInFlight frames until they
// are acknowledged; TCP charges socket buffers to tcp_mem in whole pages
// per socket (sk_mem_schedule rounds up), so a socket with anything queued
// costs at least one page there.
func estimateMemory(t Target, pageSize int64) Memory {
	frames := int64(math.Ceil(t.EventRate * AckResidencySeconds))
	frames = max(frames, 1)
	send := frames * (int64(t.EventBytes) + FrameOverheadBytes + SkbOverheadBytes)
	m := Memory{
		FramesInFlight:    frames,
		KernelIdleBytes:   KernelIdleSocketBytes,
		SendBytes:         send,
		TCPPagesPerSocket: ceilDiv(send, pageSize),
		UserBytes:         UserBytesPerConn,
		PageSize:          pageSize,
	}
	m.IdleBytes = m.KernelIdleBytes + m.UserBytes
	m.PerConnBytes = m.IdleBytes + m.SendBytes
	n := int64(t.Conns)
	m.TCPPages = n * m.TCPPagesPerSocket
	m.TotalBytes = n*m.PerConnBytes + int64(t.Procs)*BaseProcessBytes
	return m
}
