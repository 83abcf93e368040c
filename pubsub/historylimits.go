package pubsub

import "time"

// SetHistory puts new history bounds in force, for a configuration
// reload; zero fields take the defaults, as in Config.History. The memory
// budget and the age bound apply at once; a lower count per channel
// applies to each channel at its next publish. Turning history off
// (PerChannel < 0) keeps what is retained until the age or budget evicts
// it, and every later resume is told of its gap. Safe for concurrent use
// with publishers and loops: the bounds are read only under the history
// lock that publishers hold.
func (hub *Hub) SetHistory(cfg HistoryConfig) {
	cfg = newHistory(cfg, 0).cfg // the same defaults as at start
	h := hub.hist
	h.mu.Lock()
	h.cfg = cfg
	h.trim(time.Now().UnixNano())
	h.mu.Unlock()
}
