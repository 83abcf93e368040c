package pubsub

import (
	"sync"
	"sync/atomic"
	"time"
)

// Default history bounds.
const (
	DefaultHistoryPerChannel = 1000
	DefaultHistoryAge        = time.Hour
	DefaultHistoryBytes      = 256 << 20
)

// HistoryConfig bounds the events the hub retains for resuming clients.
type HistoryConfig struct {
	PerChannel int           // events kept per channel; default 1000; negative: no history
	MaxAge     time.Duration // events older than this are evicted; default 1 h
	MaxBytes   int64         // one budget for all channels (frames plus index); default 256 MiB
}

// eventOverhead is what retaining an event costs besides its frame: the
// Event struct (64 bytes), its channel slot (8) and its entry in the
// global eviction order (16).
const eventOverhead = 64 + 8 + 16

// channelOverhead is what a tracked channel costs besides its slots and
// name: the channel struct and its sync.Map entry.
const channelOverhead = 160

// maxForgotten bounds the table of forgotten channels' eviction marks;
// past it, the oldest marks fold into the floor.
const maxForgotten = 65536

// channel is one channel's retained events: a ring of slots indexed by the
// channel-local sequence number. Writers (publishers, under history.mu)
// append at next and evict at first; readers (loops) read lock-free and
// validate what they read against the event's seq.
type channel struct {
	name    string
	slots   atomic.Pointer[[]atomic.Pointer[Event]] // length a power of two; replaced (never modified after) when grown
	first   atomic.Uint64                           // seq of the oldest retained event
	next    atomic.Uint64                           // seq the next event gets
	evicted atomic.Uint64                           // the newest id that may have been evicted from this channel

	// This channel's bounds: the server-wide ones, or a per-channel rule's
	// (Hub.SetHistoryLimits). Under history.mu; loops never read them.
	perChannel int
	maxAge     time.Duration
}

// orderEntry names a retained event in the global eviction order without
// pinning its frame (a count-evicted event leaves a stale entry behind).
type orderEntry struct {
	ch  *channel
	seq uint64
}

// history is the hub's retained events. Publishers modify it under mu;
// loops read it without any lock (Hub.HistoryAfter).
type history struct {
	cfg      HistoryConfig
	channels sync.Map // string -> *channel; read lock-free by loops

	mu    sync.Mutex   // publishers only: everything below and all channel writes
	order []orderEntry // global FIFO, oldest first, from head
	head  int
	bytes int64

	// Running counts for HistoryStats, so that a scrape reads a few words
	// instead of walking every channel under the publishers' lock.
	events    int64  // under mu: retained events
	nchannels int64  // under mu: tracked channels
	evictions uint64 // under mu: events dropped (count, age or memory bound)

	// A channel whose events are all evicted is forgotten (idle channels
	// cost nothing) but its newest evicted id is remembered here, so a
	// resume on it still reports its gap — and only its own. When the
	// table is full its oldest marks fold into floor, which then counts
	// for every channel not tracked: ids up to floor may be gone.
	forgotten     sync.Map      // string -> uint64; written under mu, read lock-free
	forgottenFIFO []string      // under mu: insertion order, for folding
	forgottenN    int           // under mu
	floor         atomic.Uint64 // starts at the seed: a resume from before a restart is a gap

	limits HistoryLimits         // under mu: per-channel bounds; nil: the server-wide ones for all
	aged   map[*channel]struct{} // under mu: channels whose age bound is shorter than cfg.MaxAge (the janitor trims them one by one)
}

func newHistory(cfg HistoryConfig, seed uint64) *history {
	if cfg.PerChannel == 0 {
		cfg.PerChannel = DefaultHistoryPerChannel
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultHistoryAge
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultHistoryBytes
	}
	h := &history{cfg: cfg, aged: make(map[*channel]struct{})}
	h.floor.Store(seed)
	return h
}

// channelFor returns the channel for name, creating it, or nil when the
// channel keeps no history (none server-wide, or its rule says none).
// Under mu.
func (h *history) channelFor(name []byte) *channel {
	if h.limits == nil && !h.keeps() {
		return nil
	}
	if v, ok := h.channels.Load(string(name)); ok {
		return v.(*channel)
	}
	per, age := h.limitsFor(name)
	if per <= 0 {
		return nil
	}
	ch := &channel{name: string(name), perChannel: per, maxAge: age}
	slots := make([]atomic.Pointer[Event], 8)
	ch.slots.Store(&slots)
	ch.evicted.Store(h.evictedMark(ch.name))
	h.channels.Store(ch.name, ch)
	h.bytes += channelCost(ch.name, len(slots))
	h.noteAge(ch)
	h.nchannels++
	return ch
}

func channelCost(name string, slots int) int64 {
	return channelOverhead + int64(len(name)) + 8*int64(slots)
}

// evictedMark is the newest id that may be gone from an untracked channel.
func (h *history) evictedMark(name string) uint64 {
	if v, ok := h.forgotten.Load(name); ok {
		return max(v.(uint64), h.floor.Load())
	}
	return h.floor.Load()
}

// forget drops an empty channel, remembering its eviction mark. Under mu.
func (h *history) forget(ch *channel) {
	if !h.channels.CompareAndDelete(ch.name, ch) {
		return
	}
	h.bytes -= channelCost(ch.name, len(*ch.slots.Load()))
	h.nchannels--
	delete(h.aged, ch)
	h.remember(ch.name, ch.evicted.Load())
}

// remember records that ids up to id may be gone from the untracked
// channel name, folding the oldest marks into the floor past maxForgotten.
// Under mu.
func (h *history) remember(name string, id uint64) {
	if _, loaded := h.forgotten.Swap(name, id); !loaded {
		h.forgottenFIFO = append(h.forgottenFIFO, name)
		h.forgottenN++
	}
	for h.forgottenN > maxForgotten {
		old := h.forgottenFIFO[0]
		h.forgottenFIFO = h.forgottenFIFO[1:]
		if v, ok := h.forgotten.LoadAndDelete(old); ok {
			h.forgottenN--
			if v.(uint64) > h.floor.Load() {
				h.floor.Store(v.(uint64))
			}
		}
	}
}

func cost(ev *Event) int64 { return int64(len(ev.Frame)) + eventOverhead }

// keeps reports whether events are retained by default. Without history
// no channel is tracked (unless a rule gives it history), so publishing to
// ever new channel names costs no memory.
func (h *history) keeps() bool { return h.cfg.PerChannel >= 0 }

// retain appends ev (already numbered) to its channel ch (nil when the
// channel keeps no history) and enforces the bounds, oldest first. Under
// mu.
func (h *history) retain(ch *channel, ev *Event, now int64) {
	if ch == nil {
		if h.limits == nil || !h.keeps() {
			h.floor.Store(ev.ID) // nothing is kept: every resume is a gap
		} else {
			h.remember(ev.Channel, ev.ID) // this channel's rule keeps nothing: its resumes are gaps
		}
		return
	}
	seq := ch.next.Load()
	slots := *ch.slots.Load()
	if seq-ch.first.Load() == uint64(len(slots)) {
		if len(slots) < ch.perChannel {
			h.bytes += 8 * int64(len(slots))
			slots = ch.grow(slots)
		} else {
			h.evictOldest(ch)
		}
	}
	ev.seq = seq
	slots[seq&uint64(len(slots)-1)].Store(ev)
	ch.next.Store(seq + 1)
	h.order = append(h.order, orderEntry{ch, seq})
	h.bytes += cost(ev)
	h.events++
	for ch.next.Load()-ch.first.Load() > uint64(ch.perChannel) {
		h.evictOldest(ch)
	}
	if ch.maxAge < h.cfg.MaxAge {
		h.trimChannel(ch, now)
	}
	h.trim(now)
}

// trim evicts from the global order while over budget or too old (for
// the age bound of the entry's own channel). Under mu.
//
// The order is one FIFO for all channels, so the age bound is applied at
// its head. When the head belongs to a channel whose rule sets a longer
// age than the server-wide one, trim looks past it (at most trimScan
// entries a call) and evicts the events of other channels that are past
// their age, so one long-lived channel does not keep everyone's events;
// those entries leave the order when they reach its head. Channels with a
// shorter age are trimmed one by one (trimChannel).
func (h *history) trim(now int64) {
	for h.head < len(h.order) {
		e := h.order[h.head]
		if e.ch.first.Load() > e.seq { // already evicted by the channel's count bound
			h.popOrder()
			continue
		}
		ev := e.ch.at(e.seq)
		if h.bytes <= h.cfg.MaxBytes && (ev == nil || ev.Published >= now-int64(e.ch.maxAge)) {
			if ev != nil && e.ch.maxAge > h.cfg.MaxAge && ev.Published < now-int64(h.cfg.MaxAge) {
				h.trimPast(now)
			}
			break
		}
		h.evictOldest(e.ch)
		h.popOrder()
	}
	if h.head > 1024 && h.head > len(h.order)/2 {
		n := copy(h.order, h.order[h.head:])
		clear(h.order[n:])
		h.order, h.head = h.order[:n], 0
	}
}

// trimScan bounds the entries trimPast looks at in one call.
const trimScan = 1024

// trimPast evicts, behind a head entry that a longer-lived channel keeps,
// the events older than their own channel's age. The order is in publish
// time, so it stops at the first event inside the server-wide age; events
// of longer-lived channels are passed over. Under mu.
func (h *history) trimPast(now int64) {
	end := min(len(h.order), h.head+1+trimScan)
	for i := h.head + 1; i < end; i++ {
		e := h.order[i]
		if e.ch.first.Load() != e.seq { // evicted already (or not the channel's oldest: never, order is per-channel FIFO)
			continue
		}
		ev := e.ch.at(e.seq)
		if ev == nil {
			continue
		}
		if ev.Published >= now-int64(h.cfg.MaxAge) {
			return
		}
		if ev.Published < now-int64(e.ch.maxAge) {
			h.evictOldest(e.ch)
		}
	}
}

func (h *history) popOrder() {
	h.order[h.head] = orderEntry{}
	h.head++
	h.bytes -= 16 // the entry itself, counted in eventOverhead until popped
}

// evictOldest drops the oldest event of ch. Under mu.
func (h *history) evictOldest(ch *channel) {
	f := ch.first.Load()
	ev := ch.at(f)
	if ev == nil {
		return
	}
	if ev.ID > ch.evicted.Load() {
		ch.evicted.Store(ev.ID)
	}
	ch.first.Store(f + 1)
	// Drop the slot's reference so the evicted frame can be collected
	// (readers treat a nil slot as evicted and search again).
	slots := *ch.slots.Load()
	slots[f&uint64(len(slots)-1)].CompareAndSwap(ev, nil)
	h.bytes -= cost(ev) - 16
	h.events--
	h.evictions++
	if f+1 == ch.next.Load() {
		h.forget(ch)
	}
}

// grow doubles ch's slots (under mu); readers holding the old slice still
// see valid, unchanging contents.
func (ch *channel) grow(old []atomic.Pointer[Event]) []atomic.Pointer[Event] {
	slots := make([]atomic.Pointer[Event], 2*len(old))
	for s := ch.first.Load(); s < ch.next.Load(); s++ {
		slots[s&uint64(len(slots)-1)].Store(old[s&uint64(len(old)-1)].Load())
	}
	ch.slots.Store(&slots)
	return slots
}

// at returns the retained event with seq s, or nil if it is not (or no
// longer) retained. Safe without the lock.
func (ch *channel) at(s uint64) *Event {
	slots := *ch.slots.Load()
	ev := slots[s&uint64(len(slots)-1)].Load()
	if ev == nil || ev.seq != s {
		return nil
	}
	return ev
}

// after returns the oldest retained event with after < ID < below, or nil.
// Lock-free: a concurrent eviction shows up as a nil slot (or one holding
// another seq), and the search starts again from the new first. It never
// gives up on a race — that would read as "nothing retained" and skip
// events.
func (ch *channel) after(after, below uint64) *Event {
	for {
		lo, hi := ch.first.Load(), ch.next.Load()
		raced := false
		for lo < hi { // first seq whose ID > after
			mid := lo + (hi-lo)/2
			ev := ch.at(mid)
			if ev == nil {
				raced = true
				break
			}
			if ev.ID > after {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		if raced {
			continue
		}
		if lo >= ch.next.Load() {
			return nil
		}
		ev := ch.at(lo)
		if ev == nil {
			continue
		}
		if ev.ID >= below {
			return nil
		}
		return ev
	}
}

// Resume is what a resuming reader needs to know about one channel.
type Resume struct {
	Next    *Event // the oldest retained event with after < ID < below; nil if none
	Evicted uint64 // > after: events with IDs in (after, Evicted] may be gone — a gap
}

// HistoryAfter looks up channel name's retained events after id after and
// below id below, without taking any lock publishers take.
//
// The eviction mark is read before the search, and the search starts above
// it: an event evicted meanwhile is then still returned (the pointer stays
// valid), never silently stepped over behind a gap that does not cover it.
func (hub *Hub) HistoryAfter(name string, after, below uint64) Resume {
	h := hub.hist
	v, ok := h.channels.Load(name)
	if !ok {
		r := Resume{}
		if e := h.evictedMark(name); e > after {
			r.Evicted = e
		}
		return r
	}
	ch := v.(*channel)
	var r Resume
	if e := ch.evicted.Load(); e > after {
		r.Evicted = e
	}
	r.Next = ch.after(max(after, r.Evicted), below)
	return r
}

// HistoryStats is a snapshot of what the history holds.
type HistoryStats struct {
	Events    int    // retained events
	Bytes     int64  // accounted bytes (frames plus index), against HistoryConfig.MaxBytes
	Channels  int    // channels with retained events
	Evictions uint64 // events dropped so far by the count, age or memory bound
}

// HistoryStats reports the history's size. It takes the publishers' lock
// for a few loads (the counts are kept as events come and go), so a
// scrape does not hold publishers up.
func (hub *Hub) HistoryStats() HistoryStats {
	h := hub.hist
	h.mu.Lock()
	defer h.mu.Unlock()
	return HistoryStats{Events: int(h.events), Bytes: h.bytes, Channels: int(h.nchannels), Evictions: h.evictions}
}

// expire evicts events past the age bound when nothing is being published.
func (hub *Hub) expire() {
	h := hub.hist
	h.mu.Lock()
	now := time.Now().UnixNano()
	h.trim(now)
	for ch := range h.aged {
		h.trimChannel(ch, now)
	}
	h.mu.Unlock()
}
