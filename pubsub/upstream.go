package pubsub

import "sync/atomic"

// A hub fed by a durable log (pubsub/cluster) keeps in memory only what
// its history bounds allow, while the log may hold more: a resume whose
// events fell out of memory asks the log for them (Config.UpstreamFetch)
// instead of answering with a gap. The loop that serves the resume never
// waits: it starts a fetch (Hub.FetchUpstream), which runs on its own
// goroutine, and checks Done on its next turns; the events come back as
// Events with their frames formatted once, ids being the log's.

// UpstreamRange asks the log for one channel's events with ids in
// (After, UpTo].
type UpstreamRange struct {
	Channel string
	After   uint64
	UpTo    uint64
}

// UpstreamLoss says what the log no longer holds of a range: events with
// ids in (After, Mark] may be gone (Mark 0 or at most After: nothing is
// missing), and First is the first id the log still holds after After
// on that channel (the gap's firstAvailableId).
type UpstreamLoss struct {
	Mark  uint64
	First uint64
}

// UpstreamFetch is one fetch from the log, started by Hub.FetchUpstream.
// The fields are written by the fetcher before Finish and read by the
// caller only once Done reports true.
type UpstreamFetch struct {
	Ranges []UpstreamRange // what was asked; the fetcher does not change it
	// Events are the held events of the ranges, in id order, with ids up
	// to Covered: every event the log holds of range r with an id in
	// (r.After, min(r.UpTo, Covered)] is here. A range with UpTo above
	// Covered needs another fetch from Covered on.
	Events  []*Event
	Covered uint64
	Loss    []UpstreamLoss // one per range
	Err     error          // the log could not be read: nothing else is valid
	done    atomic.Bool
}

// Finish marks f complete: the caller may read its fields from now on.
// The fetcher calls it once, from any goroutine.
func (f *UpstreamFetch) Finish() { f.done.Store(true) }

// Done reports whether the fetch has finished (successfully or with Err).
func (f *UpstreamFetch) Done() bool { return f.done.Load() }

// Complete reports whether range i is covered to its UpTo.
func (f *UpstreamFetch) Complete(i int) bool { return f.Covered >= f.Ranges[i].UpTo }

// CanFetchUpstream reports whether this hub can ask its log for events
// its memory no longer holds (Config.UpstreamFetch is set).
func (h *Hub) CanFetchUpstream() bool { return h.upFetch != nil }

// FetchUpstream starts a fetch of ranges from the log, at most about
// maxEvents events and maxBytes bytes of frames (at least one event per
// fetch, so a fetch always makes progress), and returns at once; poll
// Done. It must only be called when CanFetchUpstream.
func (h *Hub) FetchUpstream(ranges []UpstreamRange, maxEvents, maxBytes int) *UpstreamFetch {
	f := &UpstreamFetch{Ranges: ranges}
	h.upFetch(f, max(maxEvents, 1), max(maxBytes, 1))
	return f
}
