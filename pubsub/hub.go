package pubsub

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssedge/ssedge/sse"
)

// Config configures a Hub.
type Config struct {
	RingSize      int    // events in flight between publishers and loops; default 16384
	MaxEventBytes int    // largest event data accepted; default 256 KiB
	Seed          uint64 // id seed; 0 means seedFromClock(time.Now()), unless GivenIDs
	// GivenIDs says ids come from a durable log (PublishAt, Restore), not
	// from this hub: Seed is taken as it is, 0 included (an empty log).
	GivenIDs bool
	History  HistoryConfig
	// Upstream, for a worker fed by a Relay, reads the highest id the
	// supervisor has issued (shared memory that NewRelay's mark writes). A
	// worker that has not yet received an id a client already holds from
	// another worker is behind, not facing an id "from the future".
	Upstream func() uint64
	// UpstreamCheck, for a hub fed by a durable log that other servers
	// publish to (pubsub/cluster), tells whether id exists in the log by
	// a look that began at or after since (unix nanoseconds): known false
	// means no such look has ended yet, and one is under way. Loops call
	// it, so it must not block: the caller asks again later.
	UpstreamCheck func(id uint64, since int64) (exists, known bool)
	// UpstreamFetch, for a hub fed by a durable log, starts reading f's
	// ranges from the log on its own goroutine and returns at once; it
	// calls f.Finish when done (upstream.go). Loops call it through
	// FetchUpstream for resumes their memory no longer covers.
	UpstreamFetch func(f *UpstreamFetch, maxEvents, maxBytes int)
}

// Default limits.
const (
	DefaultRingSize      = 16384
	DefaultMaxEventBytes = 256 << 10
)

// Hub validates publishes, formats each event's frame once and puts it on
// the ring. It is safe for concurrent use.
type Hub struct {
	ring    *eventRing
	hist    *history
	seed    uint64
	restart atomic.Uint64 // Seed(): resumes below it lost their history to a restart
	maxData int
	count   atomic.Uint64                                     // events published
	up      func() uint64                                     // Config.Upstream; nil in a single process
	upCheck func(id uint64, since int64) (exists, known bool) // Config.UpstreamCheck; nil but in cluster mode
	upFetch func(f *UpstreamFetch, maxEvents, maxBytes int)   // Config.UpstreamFetch; nil but in cluster mode
	given   bool                                              // Config.GivenIDs: Publish is refused (ids come from PublishAt)
	done    chan struct{}
	once    sync.Once
}

// NewHub returns a hub for cfg.
func NewHub(cfg Config) *Hub {
	if cfg.RingSize <= 0 {
		cfg.RingSize = DefaultRingSize
	}
	if cfg.MaxEventBytes <= 0 {
		cfg.MaxEventBytes = DefaultMaxEventBytes
	}
	if cfg.Seed == 0 && !cfg.GivenIDs {
		cfg.Seed = seedFromClock(time.Now())
	}
	h := &Hub{ring: newEventRing(cfg.RingSize), hist: newHistory(cfg.History, cfg.Seed), seed: cfg.Seed,
		maxData: cfg.MaxEventBytes, up: cfg.Upstream, upCheck: cfg.UpstreamCheck, upFetch: cfg.UpstreamFetch, given: cfg.GivenIDs, done: make(chan struct{})}
	h.ring.base = cfg.Seed
	h.restart.Store(cfg.Seed)
	go h.janitor()
	return h
}

// janitor applies the age bound while nobody publishes (publishing applies
// it too).
func (h *Hub) janitor() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-h.done:
			return
		case <-t.C:
			h.expire()
		}
	}
}

// LastID is an upper bound of the ids issued so far: by this hub, or in a
// worker, by the supervisor (Config.Upstream).
func (h *Hub) LastID() uint64 {
	id := h.seed + h.ring.next.Load()
	if h.up != nil {
		id = max(id, h.up())
	}
	return id
}

// Future tells whether a client's id is above every id issued anywhere
// (it comes from another server or stream: the client is told of a gap
// at once) or exists, though perhaps not yet here (the caller waits for
// it). since is when the client asked (unix nanoseconds): a durable log's
// answer must come from a look that began after that, or an id issued by
// another server just before the client moved here could be called
// future. known false (future is then false too): that cannot be told yet
// without waiting; a look is under way, ask again. It never blocks; loops
// call it.
func (h *Hub) Future(id uint64, since int64) (future, known bool) {
	if id <= h.LastID() {
		return false, true
	}
	if h.upCheck == nil {
		return true, true
	}
	exists, known := h.upCheck(id, since)
	return known && !exists, known
}

// Seed is the id below which a resume's gap is due to a restart of this
// process: the id seed (every id this process issues is above it), or 0
// in a hub whose history was restored from a durable log (Restore), where
// a gap means the log itself no longer holds the events.
func (h *Hub) Seed() uint64 { return h.restart.Load() }

// MaxEventBytes is the largest event data Publish accepts.
func (h *Hub) MaxEventBytes() int { return h.maxData }

// Published is the number of events published so far.
func (h *Hub) Published() uint64 { return h.count.Load() }

// Subscribe registers a loop's cursor, which starts at the next event to be
// published. wake is called (from a publisher's goroutine) when an event
// is committed while the loop has announced sleep (Cursor.Sleep); it must
// not block.
func (h *Hub) Subscribe(wake func()) *Cursor { return h.ring.subscribe(wake) }

// Unsubscribe removes a loop's cursor.
func (h *Hub) Unsubscribe(c *Cursor) { h.ring.unsubscribe(c) }

// Close stops publishing: Publish returns ErrClosed from now on.
func (h *Hub) Close() {
	h.ring.close()
	h.once.Do(func() { close(h.done) })
}

// Publish validates and publishes one event and returns its id. name may
// be empty (an unnamed "message" event). The error says what was wrong
// with the input and quotes it; nothing is published then.
func (h *Hub) Publish(channel, name, data []byte) (uint64, error) {
	if len(channel) == 0 {
		return 0, ErrNoChannel
	}
	if err := sse.ValidChannelName(channel); err != nil {
		return 0, err
	}
	if len(name) > 0 {
		if err := sse.ValidEventName(name); err != nil {
			return 0, err
		}
	}
	if len(data) > h.maxData {
		return 0, fmt.Errorf("%w: %d bytes, the limit is %d", ErrEventTooLarge, len(data), h.maxData)
	}
	if h.ring.closed.Load() {
		return 0, ErrClosed
	}
	if h.given {
		return 0, ErrGivenIDs
	}
	// Allocate before claiming so the window between claim and commit, in
	// which loops wait for this slot, stays short. MaxID has 16 digits.
	ev := &Event{Published: time.Now().UnixNano()}
	ev.Frame = make([]byte, 0, sse.EventLen(MaxID, name, data))
	if err := h.put(channel, ev, name, data); err != nil {
		return 0, err
	}
	return ev.ID, nil
}

// put numbers ev (of channel chName), or checks the number it carries, and puts it on the
// ring and in its channel's history. An ev without an id (ID 0) is
// numbered here and its frame formatted from name and data; a relayed one
// (ID set, Frame complete) must carry exactly the id its ring position
// gives, or nothing is published.
func (h *Hub) put(chName []byte, ev *Event, name, data []byte) error {
	// The history lock orders claims with history appends, so each
	// channel's history is in id order. Loops never take it. Every claim
	// is made under it, so ring.next is stable here. A full ring is waited
	// out with the lock released (waitRoom), so other publishers and the
	// janitor never queue behind a publisher that waits for the loops.
	var pos uint64
	for {
		h.hist.mu.Lock()
		if ev.ID != 0 {
			if want := h.seed + h.ring.next.Load() + 1; ev.ID != want {
				h.hist.mu.Unlock()
				return fmt.Errorf("%w: event id %d where %d was due", ErrRelayOrder, ev.ID, want)
			}
		}
		if h.ring.closed.Load() {
			h.hist.mu.Unlock()
			return ErrClosed
		}
		var ok bool
		if pos, ok = h.ring.tryClaim(); ok {
			break
		}
		h.hist.mu.Unlock()
		if !h.ring.waitRoom() {
			return ErrClosed
		}
	}
	var ch *channel
	if len(chName) > 0 { // a filler (PublishAt) has no channel and no history
		ch = h.hist.channelFor(chName)
	}
	if ch != nil {
		ev.Channel = ch.name
	} else {
		ev.Channel = string(chName)
	}
	if ev.ID == 0 {
		ev.ID = h.seed + pos + 1
		ev.Frame = sse.AppendEvent(ev.Frame, ev.ID, name, data)
	}
	if len(chName) > 0 {
		h.hist.retain(ch, ev, ev.Published)
	}
	h.hist.mu.Unlock()
	h.ring.commit(pos, ev)
	h.count.Add(1)
	return nil
}
