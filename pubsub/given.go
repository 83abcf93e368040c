package pubsub

import (
	"fmt"
	"time"

	"github.com/ssedge/ssedge/sse"
)

// A hub fed by a durable log (package pubsub/cluster: NATS JetStream)
// does not number events: the log does, and every node shows the log's
// number as the id. Such a hub is created with Config.GivenIDs and the
// log's last sequence as its Seed, restored (Restore, RestoreMarks) from
// what the log retains before anything subscribes, and then fed in order
// by PublishAt. Its ring still maps position p to id Seed+p+1; a hole in
// the log's numbering (events the log deleted before this node read them)
// is padded with fillers: events with no channel and no frame, which no
// loop delivers (no subscriber has the channel "") and history ignores;
// the hole marks every channel's history as possibly missing events up to
// it (MarkLost), so a resume across it gets a gap, never a silent hole.

// PublishAt publishes an event whose id was given by a log: id must be
// above every id published so far (LastRingID). Ids skipped on the way
// are padded with fillers. published is the log's timestamp (unix ns; 0:
// now). The channel and event names are validated as Publish does; an
// invalid one returns an error and publishes nothing (the caller skips
// that log entry: it came from another writer of the log).
func (h *Hub) PublishAt(id uint64, published int64, channel, name, data []byte) error {
	if len(channel) == 0 {
		return ErrNoChannel
	}
	if err := sse.ValidChannelName(channel); err != nil {
		return err
	}
	if len(name) > 0 {
		if err := sse.ValidEventName(name); err != nil {
			return err
		}
	}
	if id == 0 || id > MaxID {
		return fmt.Errorf("%w: id %d out of range", ErrRelayOrder, id)
	}
	if last := h.LastRingID(); id <= last {
		return fmt.Errorf("%w: event id %d at or below %d, already published", ErrRelayOrder, id, last)
	}
	if due := h.LastRingID() + 1; due < id {
		for ; due < id; due++ {
			if err := h.put(nil, &Event{ID: due, Frame: []byte{}}, nil, nil); err != nil {
				return err
			}
		}
		h.MarkLost(id - 1)
	}
	if published == 0 {
		published = time.Now().UnixNano()
	}
	ev := &Event{ID: id, Published: published}
	ev.Frame = sse.AppendEvent(make([]byte, 0, sse.EventLen(id, name, data)), id, name, data)
	return h.put(channel, ev, nil, nil)
}

// LastRingID is the id of the newest event on this hub's ring (its seed
// when none): unlike LastID it ignores Config.Upstream.
func (h *Hub) LastRingID() uint64 { return h.seed + h.ring.next.Load() }

// Restore puts an event the log retains, with its id, straight into the
// history (not on the ring: nothing subscribes yet). Call it, in id order,
// only for ids at or below the hub's Seed, after RestoreFloor and before
// RestoreMarks, Subscribe and PublishAt. Invalid names return an error and
// restore nothing.
func (h *Hub) Restore(id uint64, published int64, channel, name, data []byte) error {
	if err := sse.ValidChannelName(channel); err != nil {
		return err
	}
	if len(name) > 0 {
		if err := sse.ValidEventName(name); err != nil {
			return err
		}
	}
	if id == 0 || id > h.seed {
		return fmt.Errorf("%w: restored id %d is not in 1..%d", ErrRelayOrder, id, h.seed)
	}
	ev := &Event{ID: id, Published: published}
	ev.Frame = sse.AppendEvent(make([]byte, 0, sse.EventLen(id, name, data)), id, name, data)
	ev.Channel = string(channel)
	h.hist.mu.Lock()
	defer h.hist.mu.Unlock()
	h.hist.restore(ev, time.Now().UnixNano()) // snapshot.go: the path LoadSnapshot takes
	return nil
}

// MarkLost records that events up to id may be gone from every channel:
// a hole in the log's numbering, events the log deleted before this node
// read them, on channels it cannot know. Resumes from before the hole
// then get a gap on every channel (also for events held from before it)
// rather than miss, silently, what the hole took: a false gap is told,
// a silent one is not.
func (h *Hub) MarkLost(id uint64) {
	hist := h.hist
	hist.mu.Lock()
	defer hist.mu.Unlock()
	if id > hist.floor.Load() {
		hist.floor.Store(id)
	}
	hist.channels.Range(func(_, v any) bool {
		if ch := v.(*channel); ch.evicted.Load() < id {
			ch.evicted.Store(id)
		}
		return true
	})
}

// RestoreFloor starts a restored hub's history: ids at or below floor may
// be gone from every channel (the log's first sequence less one), and a
// gap is never put down to a restart (Seed returns 0 from now on). Call
// it once, before Restore.
func (h *Hub) RestoreFloor(floor uint64) {
	h.hist.mu.Lock()
	h.hist.floor.Store(floor)
	h.hist.mu.Unlock()
	h.restart.Store(0)
}

// RestoreMarks raises the eviction marks of restored channels: for each
// channel named in marks, ids at or below the mark may be gone (the log
// evicted older events of that channel). Call it after Restore.
func (h *Hub) RestoreMarks(marks map[string]uint64) {
	h.hist.mu.Lock()
	defer h.hist.mu.Unlock()
	for name, id := range marks {
		h.hist.raiseMark(name, id)
	}
}
