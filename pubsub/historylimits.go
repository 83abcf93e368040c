package pubsub

import "time"

// HistoryLimits gives one channel's own history bounds: the events it
// keeps (negative: none, so every resume on it reports a gap; 0: the
// server-wide count) and their age (0: the server-wide age). ok false
// means the server-wide bounds (Config.History) apply to both. It is
// called with the publishers' lock held, when a channel's history is
// created and when the function is replaced, never per event; it must not
// block, publish or keep channel.
type HistoryLimits func(channel []byte) (perChannel int, maxAge time.Duration, ok bool)

// SetHistoryLimits puts per-channel history bounds in force (nil: the
// server-wide ones for every channel). Channels already retained take
// their new bounds at once: a smaller count or a shorter age evicts their
// oldest events now, "none" forgets the channel (its resumes report a gap).
// It takes the publishers' lock for one walk over the retained channels.
func (hub *Hub) SetHistoryLimits(f HistoryLimits) {
	h := hub.hist
	h.mu.Lock()
	defer h.mu.Unlock()
	h.limits = f
	h.reapplyLimits(time.Now().UnixNano())
}

// SetHistoryBounds puts new server-wide history bounds (zero fields take
// the defaults, as in Config.History) and per-channel bounds in force in
// one step, for a reload: every channel goes from its old bounds to its
// new ones directly, so no in-between state (new rules under the old
// server-wide bounds, say) evicts events both configurations keep. The
// memory budget applies at once; turning history off (PerChannel < 0)
// forgets the channels it covers, so later resumes on them are told of
// their gap. Safe for concurrent use with publishers and loops: the
// bounds are read only under the history lock that publishers hold.
func (hub *Hub) SetHistoryBounds(cfg HistoryConfig, f HistoryLimits) {
	cfg = newHistory(cfg, 0).cfg
	h := hub.hist
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cfg, h.limits = cfg, f
	now := time.Now().UnixNano()
	h.reapplyLimits(now)
	h.trim(now)
}

// reapplyLimits gives every retained channel the bounds that now apply to
// it and evicts what they no longer allow. Under mu.
func (h *history) reapplyLimits(now int64) {
	h.channels.Range(func(_, v any) bool {
		ch := v.(*channel)
		ch.perChannel, ch.maxAge = h.limitsFor([]byte(ch.name))
		for ch.first.Load() < ch.next.Load() && ch.next.Load()-ch.first.Load() > uint64(max(ch.perChannel, 0)) {
			h.evictOldest(ch) // forgets the channel when it empties
		}
		if ch.first.Load() < ch.next.Load() {
			h.noteAge(ch)
			h.trimChannel(ch, now)
		}
		return true
	})
}

// limitsFor is name's history bounds. Under mu.
func (h *history) limitsFor(name []byte) (int, time.Duration) {
	per, age := h.cfg.PerChannel, h.cfg.MaxAge
	if h.limits != nil {
		if p, a, ok := h.limits(name); ok {
			if p != 0 {
				per = p
			}
			if a > 0 {
				age = a
			}
		}
	}
	return per, age
}

// noteAge keeps h.aged, the channels the janitor trims one by one, in step
// with ch's age bound. Under mu.
func (h *history) noteAge(ch *channel) {
	if ch.maxAge < h.cfg.MaxAge {
		h.aged[ch] = struct{}{}
	} else {
		delete(h.aged, ch)
	}
}

// trimChannel evicts ch's events older than its own age bound, oldest
// first (a channel's events are in publish order). Under mu.
func (h *history) trimChannel(ch *channel, now int64) {
	oldest := now - int64(ch.maxAge)
	for ch.first.Load() < ch.next.Load() {
		ev := ch.at(ch.first.Load())
		if ev == nil || ev.Published >= oldest { // nil: cannot be under mu; never spin on it
			return
		}
		h.evictOldest(ch)
	}
}
