package main

import (
	"github.com/ssedge/ssedge/sse"
	"sync"
	"sync/atomic"
)

// subscriber is one SSE connection's mailbox.
type subscriber struct {
	frames  chan []byte   // shared read-only frames; written by publishers, read by the connection goroutine
	dropped chan struct{} // closed once when the subscriber is dropped as a slow consumer
	once    sync.Once
}

func newSubscriber(queue int) *subscriber {
	return &subscriber{frames: make(chan []byte, queue), dropped: make(chan struct{})}
}

// offer queues frame without blocking; a full queue drops the subscriber.
// It reports whether the frame was queued.
func (s *subscriber) offer(frame []byte) bool {
	select {
	case s.frames <- frame:
		return true
	default:
		s.once.Do(func() { close(s.dropped) })
		return false
	}
}

// hub is the registry of subscribers per channel.
type hub struct {
	mu       sync.RWMutex
	channels map[string]map[*subscriber]struct{} // guarded by mu
	all      map[*subscriber]int                 // guarded by mu; subscriber -> number of channels, for heartbeats

	publishMu sync.Mutex    // serializes id assignment and fan-out so ids arrive in order
	nextID    atomic.Uint64 // last id handed out
	dropped   atomic.Uint64 // subscribers dropped as slow consumers
}

func newHub(seed uint64) *hub {
	h := &hub{channels: make(map[string]map[*subscriber]struct{}), all: make(map[*subscriber]int)}
	h.nextID.Store(seed)
	return h
}

func (h *hub) subscribe(s *subscriber, channels []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, name := range channels {
		set := h.channels[name]
		if set == nil {
			set = make(map[*subscriber]struct{})
			h.channels[name] = set
		}
		if _, ok := set[s]; !ok {
			set[s] = struct{}{}
			h.all[s]++
		}
	}
}

func (h *hub) unsubscribe(s *subscriber, channels []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, name := range channels {
		set := h.channels[name]
		if _, ok := set[s]; !ok {
			continue
		}
		delete(set, s)
		if len(set) == 0 {
			delete(h.channels, name)
		}
		if h.all[s]--; h.all[s] == 0 {
			delete(h.all, s)
		}
	}
}

// publish assigns the next id, formats the frame once and offers the same
// slice to every subscriber of channel. It returns the id and the number of
// subscribers the frame was queued on.
func (h *hub) publish(channel, event string, data []byte) (id uint64, queued int) {
	h.publishMu.Lock()
	defer h.publishMu.Unlock()
	id = h.nextID.Add(1)
	frame := sse.AppendEvent(nil, id, []byte(event), data) // the same formatter ssedge uses: once per event

	h.mu.RLock()
	defer h.mu.RUnlock()
	for s := range h.channels[channel] {
		if s.offer(frame) {
			queued++
		} else {
			h.dropped.Add(1)
		}
	}
	return id, queued
}

// heartbeat offers the shared comment frame to every subscriber once.
func (h *hub) heartbeat() {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for s := range h.all {
		if !s.offer(sse.Heartbeat) {
			h.dropped.Add(1)
		}
	}
}
