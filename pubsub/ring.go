package pubsub

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Event is one published event. It is immutable once it is on the ring.
type Event struct {
	ID        uint64
	Channel   string // shared with the channel's history, not a copy per event
	Frame     []byte // the complete SSE frame, shared read-only by every subscriber
	Published int64  // unix nanoseconds at publish
	seq       uint64 // position in the channel's history
}

// slot is one ring entry. committed holds pos+1 once the event for ring
// position pos is readable; ev is written before that store and read after
// the matching load, so the atomic orders them. readers counts the cursors
// that have still to read the slot; the last one drops ev, so a delivered
// frame is not kept alive by the ring until the slot comes round again.
type slot struct {
	committed atomic.Uint64
	readers   atomic.Int32
	ev        *Event
}

// eventRing is the bounded broadcast ring from publishers to loops (see
// the package doc for its protocol and locks).
type eventRing struct {
	mask  uint64
	slots []slot
	base  uint64 // the id of ring position p is base + p + 1

	_    [64]byte      // keep the producers' counter off the slots' header line
	next atomic.Uint64 // next position to claim; written by producers
	_    [56]byte
	gate atomic.Uint64 // a lower bound of every cursor's position; cache of minCursor

	closed  atomic.Bool
	waiting atomic.Int32 // publishers in waitRoom (tests observe it)
	waitMu  sync.Mutex   // held by the one waiting publisher that polls for room; the others sleep on it

	mu      sync.Mutex                // guards cursor registration only
	cursors atomic.Pointer[[]*Cursor] // copy-on-write under mu; read lock-free
}

// newEventRing returns a ring with room for size events; size is rounded
// up to a power of two (at least 2).
func newEventRing(size int) *eventRing {
	n := 2
	for n < size {
		n <<= 1
	}
	r := &eventRing{mask: uint64(n - 1), slots: make([]slot, n)}
	empty := []*Cursor{}
	r.cursors.Store(&empty)
	return r
}

// tryClaim reserves the next position if the ring has room for it. The
// caller holds the hub's history lock, which every claim takes, so next
// does not move between the check and the add; it returns false, without
// waiting, when the ring is full.
func (r *eventRing) tryClaim() (uint64, bool) {
	pos := r.next.Load()
	size := uint64(len(r.slots))
	if pos >= r.gate.Load()+size && pos >= r.refreshGate(pos)+size {
		return 0, false
	}
	r.next.Store(pos + 1)
	return pos, true
}

// waitRoom waits, holding no lock that a claim, the janitor or a loop
// takes, until the next position to claim has room (the slowest loop has
// moved on) or the ring is closed; it returns false if closed. Another
// publisher may take the room first; the caller then waits again.
//
// Only one waiter polls at a time (it holds waitMu); the others sleep on
// waitMu, so a hundred waiting publishers cost what one does, and the CPU
// goes to the loops that make the room. sync.Mutex turns fair (FIFO) once
// a waiter has waited over a millisecond, so none starves.
func (r *eventRing) waitRoom() bool {
	size := uint64(len(r.slots))
	r.waiting.Add(1)
	defer r.waiting.Add(-1)
	r.waitMu.Lock()
	defer r.waitMu.Unlock()
	for spins := 0; ; spins++ {
		if r.closed.Load() {
			return false
		}
		pos := r.next.Load()
		if pos < r.refreshGate(pos)+size {
			return true
		}
		// Full: the slowest loop is a whole ring behind. Back off; loops
		// never block on anything but epoll, so this ends.
		if spins < 64 {
			runtime.Gosched()
		} else {
			time.Sleep(50 * time.Microsecond)
		}
	}
}

// refreshGate recomputes the gate from the cursors. It runs under mu so
// that it cannot store a gate computed from a cursor list that a
// concurrent Subscribe has just extended (which would let the fast path
// overwrite the new cursor's first slot). Only a full ring gets here.
func (r *eventRing) refreshGate(def uint64) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	low := r.minCursor(def)
	r.gate.Store(low)
	return low
}

// commit makes ev readable at pos and wakes the loops that sleep.
func (r *eventRing) commit(pos uint64, ev *Event) {
	s := &r.slots[pos&r.mask]
	s.ev = ev
	cursors := *r.cursors.Load()
	s.readers.Store(int32(len(cursors)))
	s.committed.Store(pos + 1)
	for _, c := range cursors {
		if c.sleeping.Load() && c.sleeping.CompareAndSwap(true, false) {
			c.wake()
		}
	}
}

// minCursor is the smallest position any cursor still has to read, or def
// when there are no cursors.
func (r *eventRing) minCursor(def uint64) uint64 {
	low := def
	for _, c := range *r.cursors.Load() {
		if p := c.pos.Load(); p < low {
			low = p
		}
	}
	return low
}

// close makes waiting and future publishers fail with ErrClosed.
func (r *eventRing) close() { r.closed.Store(true) }

// subscribe registers a reader that starts at the next unclaimed position.
// wake is called (from a publisher's goroutine) when an event is committed
// while the reader is sleeping; it must not block.
func (r *eventRing) subscribe(wake func()) *Cursor {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := &Cursor{ring: r, wake: wake}
	start := r.next.Load()
	// A producer that claimed a position below start but has not committed
	// yet is not this cursor's concern; everything from start on is.
	c.local = start
	c.pos.Store(start)
	if r.gate.Load() > start {
		r.gate.Store(start)
	}
	list := append(append([]*Cursor(nil), *r.cursors.Load()...), c)
	r.cursors.Store(&list)
	return c
}

// unsubscribe removes c, so producers no longer wait for it.
func (r *eventRing) unsubscribe(c *Cursor) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.cursors.Load()
	list := make([]*Cursor, 0, len(old))
	for _, x := range old {
		if x != c {
			list = append(list, x)
		}
	}
	r.cursors.Store(&list)
}

// Cursor is one loop's read position on the ring. Next, Pending, Commit,
// Sleep and Awake are called only by the owning loop goroutine.
type Cursor struct {
	ring  *eventRing
	wake  func()
	local uint64 // owned by the loop: next position to read

	_        [64]byte
	pos      atomic.Uint64 // published read position: producers gate on it
	sleeping atomic.Bool   // the loop is about to block or blocked in epoll_wait
}

// Next returns the next committed event, or nil if there is none yet. The
// loop must call Commit after a batch so producers can reuse the slots.
func (c *Cursor) Next() *Event {
	s := &c.ring.slots[c.local&c.ring.mask]
	if s.committed.Load() != c.local+1 {
		return nil
	}
	ev := s.ev
	if s.readers.Add(-1) == 0 {
		s.ev = nil
	}
	c.local++
	return ev
}

// NextID is the id of the next event Next will return: every event with a
// smaller id has been read by this cursor (or was published before it
// subscribed).
func (c *Cursor) NextID() uint64 { return c.ring.base + c.local + 1 }

// Pending reports whether Next would return an event.
func (c *Cursor) Pending() bool {
	return c.ring.slots[c.local&c.ring.mask].committed.Load() == c.local+1
}

// Commit releases every slot read so far back to the producers.
func (c *Cursor) Commit() { c.pos.Store(c.local) }

// Sleep announces the loop is about to block. It returns false (and the
// loop must not block) when an event was committed meanwhile. The order —
// store sleeping, then load the slot — pairs with commit's store of the
// slot, then load of sleeping: one of the two sides always sees the other.
func (c *Cursor) Sleep() bool {
	c.sleeping.Store(true)
	if c.Pending() {
		c.sleeping.Store(false)
		return false
	}
	return true
}

// Awake clears the sleep announcement after the loop wakes up.
func (c *Cursor) Awake() { c.sleeping.Store(false) }

// Lag is how many events have been claimed on the ring that this cursor
// has not yet released (read and committed): the loop's distance behind
// the publishers. Safe from any goroutine; both sides are atomics the
// ring already keeps, so asking costs the loop nothing.
func (c *Cursor) Lag() uint64 {
	next, pos := c.ring.next.Load(), c.pos.Load()
	if pos >= next {
		return 0
	}
	return next - pos
}

// RingStats is a snapshot of the broadcast ring.
type RingStats struct {
	Size     int    // slots
	InFlight uint64 // events claimed that the slowest reader has not released; publishers wait when it reaches Size
}

// RingStats reports the ring's occupancy. Safe from any goroutine; it
// reads the cursors' published positions without taking any lock.
func (h *Hub) RingStats() RingStats {
	r := h.ring
	next := r.next.Load()
	return RingStats{Size: len(r.slots), InFlight: next - r.minCursor(next)}
}
