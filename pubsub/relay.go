package pubsub

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/ssedge/ssedge/sse"
)

// The relay carries every event of one hub (the supervisor's, which owns
// the publish socket and numbers events) to the hubs of worker processes
// (ssedge serve --procs), over one stream socket per worker.
//
// The stream starts with a hello: relayMagic, then the length of a
// history snapshot (8 bytes, big endian), then the snapshot (see
// snapshotMagic), taken at the relay's ring position when the worker
// attached: its LastID is the id seed the worker must use, and the id of
// the first event it will receive, minus one. A worker that loads it
// (Hub.LoadSnapshot) starts with the supervisor's history, so a resume
// there is as exact as on any sibling. Then one record per event, in id
// order, with no gap:
//
//	u32 length of the rest | u64 id | i64 published (unix ns) | u16 channel length | channel | frame
//
// Because the worker's hub takes the same seed and gets every event from
// there in order, ring position p carries id seed+p+1 in both processes:
// ids, history and resume behave in each worker exactly as in a single
// process. A record whose id is not the next one is a broken stream; the
// worker stops rather than serve wrong ids.
const relayMagic = "SSEDGE-RELAY 2\n"

// relayBatch bounds the bytes encoded into one batch.
const relayBatch = 256 << 10

// relayQueue bounds the batches queued for one worker. Past it the relay
// waits for that worker (back-pressure to the publishers, as a full ring
// gives), at most until the worker's write stalls.
const relayQueue = 32 << 20

// Relay reads a hub's ring as one more cursor, encodes the events once
// per batch and queues each batch to every attached worker; a writer
// goroutine per worker writes its queue. A worker whose write blocks for
// longer than the stall timeout is dropped (its onDrop is called, so its
// supervisor can kill and restart it). Until its queue is full a stuck
// worker delays no other; then the relay waits for it (and so, once the
// ring fills, the publishers), at most until its write stalls.
type Relay struct {
	hub   *Hub
	cur   *Cursor
	stall time.Duration
	mark  func(uint64)
	wake  chan struct{}

	mu      sync.Mutex // guards pending, ended and byConn
	pending []*relayOut
	ended   bool                   // Run has returned: Attach closes at once
	byConn  map[net.Conn]*relayOut // attached and not yet detached, for Queue

	outs []*relayOut // owned by Run
	wg   sync.WaitGroup
}

// relayOut is one worker's queue and writer.
type relayOut struct {
	conn   net.Conn
	onDrop func(error)
	start  *Snapshot // the history up to the seam, written (with the hello) before the queue; owned by the writer once it runs

	mu      sync.Mutex // guards the fields below
	cond    sync.Cond  // signalled when the queue changes or the writer ends
	queue   [][]byte   // batches, shared read-only with the other workers' queues
	bytes   int
	closing bool // no more batches: write what is queued, then close
	dead    bool // the writer has ended
}

// NewRelay subscribes a relay to hub's ring from the next event on.
// stall is how long one write to a worker may block. mark, if not nil, is
// called with the highest id of each batch before any worker can receive
// it: the supervisor stores it where workers read it (Config.Upstream).
func NewRelay(hub *Hub, stall time.Duration, mark func(id uint64)) *Relay {
	r := &Relay{hub: hub, stall: stall, mark: mark, wake: make(chan struct{}, 1)}
	r.cur = hub.Subscribe(func() {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	})
	return r
}

// Attach adds a worker's socket. Before any event it gets the hello with
// the seed for the events that follow. onDrop is called once, from the
// worker's writer goroutine, when a write fails or stalls; conn is closed
// by then. The returned detach ends the worker's stream (its writer exits
// and closes conn); call it when the worker is gone. After Run has
// returned, Attach just closes conn. Safe from any goroutine.
func (r *Relay) Attach(conn net.Conn, onDrop func(error)) (detach func()) {
	o := &relayOut{conn: conn, onDrop: onDrop}
	o.cond.L = &o.mu
	r.mu.Lock()
	if r.ended {
		r.mu.Unlock()
		conn.Close()
		return func() {}
	}
	r.pending = append(r.pending, o)
	if r.byConn == nil {
		r.byConn = make(map[net.Conn]*relayOut)
	}
	r.byConn[conn] = o
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return func() {
		r.mu.Lock()
		delete(r.byConn, conn)
		r.mu.Unlock()
		o.mu.Lock()
		o.closing, o.queue, o.bytes = true, nil, 0
		o.cond.Broadcast()
		o.mu.Unlock()
	}
}

// Queue reports what waits in the queue of the worker attached with conn:
// batches and bytes not yet written to it (ok is false once detached).
// Read-only, for metrics; safe from any goroutine.
func (r *Relay) Queue(conn net.Conn) (batches, bytes int, ok bool) {
	r.mu.Lock()
	o := r.byConn[conn]
	r.mu.Unlock()
	if o == nil {
		return 0, 0, false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.queue), o.bytes, true
}

// Run relays until ctx is done, then queues what was already published,
// lets every writer finish its queue and closes the workers' sockets (the
// workers see the end of the stream and stop). Call it once.
func (r *Relay) Run(ctx context.Context) {
	defer r.hub.Unsubscribe(r.cur)
	for {
		r.turn()
		if ctx.Err() != nil {
			r.turn()
			break
		}
		if !r.cur.Sleep() {
			continue
		}
		select {
		case <-r.wake:
		case <-ctx.Done():
		}
		r.cur.Awake()
	}
	r.mu.Lock()
	late := r.pending
	r.pending, r.ended = nil, true
	r.mu.Unlock()
	for _, o := range late {
		o.conn.Close()
	}
	for _, o := range r.outs {
		o.mu.Lock()
		o.closing = true
		o.cond.Broadcast()
		o.mu.Unlock()
	}
	r.wg.Wait()
}

// turn starts the writers of newly attached workers, then encodes what is
// on the ring, a batch at a time, and queues each batch to every worker.
func (r *Relay) turn() {
	r.mu.Lock()
	attach := r.pending
	r.pending = nil
	r.mu.Unlock()
	if len(attach) > 0 {
		// The seam: this cursor has read every id up to seam, and the
		// history holds them all (an event is retained before it is
		// committed); the queue gets everything after it.
		seam := r.cur.NextID() - 1
		snap, err := r.hub.SnapshotAt(seam)
		if err != nil { // cannot be: the cursor is never ahead of the ring
			panic(err)
		}
		for _, o := range attach {
			o.start = snap
			r.outs = append(r.outs, o)
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				o.write(r.stall)
			}()
		}
	}
	for {
		var batch []byte
		var last uint64
		for len(batch) < relayBatch {
			ev := r.cur.Next()
			if ev == nil {
				break
			}
			if batch == nil {
				batch = make([]byte, 0, relayBatch+len(ev.Frame)+64)
			}
			batch = appendRecord(batch, ev)
			last = ev.ID
		}
		r.cur.Commit()
		if len(batch) == 0 {
			return
		}
		if r.mark != nil {
			r.mark(last)
		}
		live := r.outs[:0]
		for _, o := range r.outs {
			if o.push(batch) {
				live = append(live, o)
			}
		}
		clear(r.outs[len(live):])
		r.outs = live
	}
}

// push queues b, waiting while the queue is full. It reports false when
// the worker has been dropped.
func (o *relayOut) push(b []byte) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for o.bytes > relayQueue && !o.dead && !o.closing {
		o.cond.Wait() // the writer makes progress or stalls and dies
	}
	if o.dead || o.closing {
		return false
	}
	o.queue = append(o.queue, b)
	o.bytes += len(b)
	o.cond.Broadcast()
	return true
}

// write is the worker's writer goroutine: it writes the hello and the
// history snapshot, then the queue in order until closing and drained, or
// until a write fails or stalls. The snapshot is not counted in the
// queue's bound: the relay queues events behind it meanwhile (up to the
// bound, then it waits, as for any slow worker).
func (o *relayOut) write(stall time.Duration) {
	if err := o.writeStart(stall); err != nil {
		o.mu.Lock()
		o.dead = true
		o.queue, o.bytes = nil, 0
		o.cond.Broadcast()
		o.mu.Unlock()
		o.fail(err, stall)
		return
	}
	for {
		o.mu.Lock()
		for len(o.queue) == 0 && !o.closing {
			o.cond.Wait()
		}
		if len(o.queue) == 0 {
			o.dead = true
			o.mu.Unlock()
			o.conn.Close()
			return
		}
		b := o.queue[0]
		o.queue[0] = nil
		o.queue = o.queue[1:]
		o.mu.Unlock()

		o.conn.SetWriteDeadline(time.Now().Add(stall))
		_, err := o.conn.Write(b)

		o.mu.Lock()
		o.bytes -= len(b)
		if err != nil {
			o.dead = true
			o.queue, o.bytes = nil, 0
		}
		o.cond.Broadcast()
		o.mu.Unlock()
		if err != nil {
			o.fail(err, stall)
			return
		}
	}
}

// writeStart writes the hello and the snapshot, each write of it under
// the stall deadline.
func (o *relayOut) writeStart(stall time.Duration) error {
	snap := o.start
	o.start = nil // the frames it pins can go once written
	w := &stallWriter{conn: o.conn, stall: stall}
	hello := binary.BigEndian.AppendUint64([]byte(relayMagic), uint64(snap.Len()))
	if _, err := w.Write(hello); err != nil {
		return err
	}
	_, err := snap.WriteTo(w)
	return err
}

// fail closes a worker's socket after a failed write and tells its owner.
func (o *relayOut) fail(err error, stall time.Duration) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = fmt.Errorf("worker read nothing for %v: %w", stall, err)
	}
	o.conn.Close()
	o.onDrop(err)
}

// stallWriter gives each write its own deadline, so a large write (a
// snapshot) fails only when the reader stops, not when it is slow.
type stallWriter struct {
	conn  net.Conn
	stall time.Duration
}

func (w *stallWriter) Write(p []byte) (int, error) {
	w.conn.SetWriteDeadline(time.Now().Add(w.stall))
	return w.conn.Write(p)
}

func appendRecord(b []byte, ev *Event) []byte {
	n := 8 + 8 + 2 + len(ev.Channel) + len(ev.Frame)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = binary.BigEndian.AppendUint64(b, ev.ID)
	b = binary.BigEndian.AppendUint64(b, uint64(ev.Published))
	b = binary.BigEndian.AppendUint16(b, uint16(len(ev.Channel)))
	b = append(b, ev.Channel...)
	return append(b, ev.Frame...)
}

// ReadRelayHello reads a relay stream's hello and the history snapshot
// in it, reading at most limit bytes of snapshot (HistoryConfig's
// SnapshotLimit) and not one byte past it. The worker's hub takes the
// snapshot's LastID as its seed (Config.Seed; 0 comes only from a hub
// with Config.GivenIDs, whose workers set it too) and loads it
// (Hub.LoadSnapshot) before anything subscribes; then it follows the
// stream.
func ReadRelayHello(r io.Reader, limit int64) (*Snapshot, error) {
	var b [len(relayMagic) + 8]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return nil, fmt.Errorf("%w: hello: %w", ErrRelayProtocol, err)
	}
	if string(b[:len(relayMagic)]) != relayMagic {
		return nil, fmt.Errorf("%w: hello %q, expected %q", ErrRelayProtocol, b[:len(relayMagic)], relayMagic)
	}
	n := binary.BigEndian.Uint64(b[len(relayMagic):])
	if n > uint64(limit) {
		return nil, fmt.Errorf("%w: a history snapshot of %d bytes, the limit is %d", ErrRelayProtocol, n, limit)
	}
	lr := &io.LimitedReader{R: r, N: int64(n)}
	br := bufio.NewReaderSize(lr, 64<<10) // never reads past the snapshot
	snap, err := ReadSnapshot(br, int64(n))
	if err == nil && (br.Buffered() > 0 || lr.N > 0) {
		err = fmt.Errorf("%w: %d bytes after its end", ErrSnapshot, int64(br.Buffered())+lr.N)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRelayProtocol, err)
	}
	return snap, nil
}

// Follow publishes a relay stream's events (after ReadRelayHello) into h,
// which must have been created with the hello's seed and must get events
// from nowhere else. It returns nil at the end of the stream, or the
// error that broke it.
func (h *Hub) Follow(r io.Reader) error {
	br := bufio.NewReaderSize(r, relayBatch)
	var head [4 + 8 + 8 + 2]byte
	var lost uint64 // the last filler of a run not yet marked lost
	// "data: " per line of data at most: a frame is never 8 times its data.
	maxFrame := 8*h.maxData + 64 + sse.MaxEventName
	for {
		if _, err := io.ReadFull(br, head[:]); err != nil {
			if err == io.EOF {
				return nil
			}
			return fmt.Errorf("%w: %w", ErrRelayProtocol, err)
		}
		n := int(binary.BigEndian.Uint32(head[0:]))
		chLen := int(binary.BigEndian.Uint16(head[20:]))
		frameLen := n - 18 - chLen
		filler := chLen == 0 && frameLen == 0 // a hole in a log's ids (Hub.PublishAt)
		if !filler && (chLen == 0 || chLen > sse.MaxChannelName || frameLen <= 0 || frameLen > maxFrame) {
			return fmt.Errorf("%w: record of %d bytes with a %d-byte channel", ErrRelayProtocol, n, chLen)
		}
		rec := make([]byte, n-18)
		if _, err := io.ReadFull(br, rec); err != nil {
			return fmt.Errorf("%w: %w", ErrRelayProtocol, err)
		}
		ev := &Event{
			ID:        binary.BigEndian.Uint64(head[4:]),
			Published: int64(binary.BigEndian.Uint64(head[12:])),
			Frame:     rec[chLen:len(rec):len(rec)],
		}
		if ev.ID == 0 {
			return fmt.Errorf("%w: event id 0", ErrRelayProtocol)
		}
		if err := h.put(rec[:chLen], ev, nil, nil); err != nil {
			return err
		}
		switch {
		case filler:
			lost = ev.ID
		case lost != 0:
			h.MarkLost(lost) // once per run of fillers: see PublishAt
			lost = 0
		}
	}
}
