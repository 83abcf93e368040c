package main

import (
	"bytes"
	"maps"
	"time"

	"golang.org/x/sys/unix"
)

// gapEventType is the event ssedge sends a resuming client for events its
// history no longer holds (sse.GapEvent); its data carries "reason".
var gapEventType = []byte("ssedge.gap")

// stormState is a worker's part of a reconnect storm (storm.go). It lives
// in the loop goroutine like the rest of the worker.
type stormState struct {
	after     int   // drop once every stream has this many events; 0: no drop asked
	have      int   // streaming subscriptions with at least after events
	dropped   bool  // the drop happened
	dropNs    int64 // when, unix ns
	resumed   int   // dropped streams streaming again
	failed    int   // dropped streams that could not resume
	lastResNs int64 // when the last one resumed, unix ns
	gaps      map[string]int
	errsAt    map[string]int // the failure counts at the drop, to tell the resume's own
}

// onStormEvent counts gap events, which carry no run payload, and
// streams reaching the drop threshold. It reports whether ev was a gap.
func (w *worker) onStormEvent(ev *sseEvent, gotBefore int32) bool {
	if bytes.Equal(ev.Type, gapEventType) {
		reason := "unknown"
		if _, r, ok := bytes.Cut(ev.Data, []byte(`"reason":"`)); ok {
			if r, _, ok = bytes.Cut(r, []byte{'"'}); ok {
				reason = string(r)
			}
		}
		if w.storm.gaps == nil {
			w.storm.gaps = map[string]int{}
		}
		w.storm.gaps[reason]++
		return true
	}
	if a := int32(w.storm.after); a > 0 && !w.storm.dropped && gotBefore < a && w.cur.track.got >= a {
		w.storm.have++
	}
	return false
}

// armDrop takes the drop command: count the streams already past the
// threshold; later ones are counted as their events arrive.
func (w *worker) armDrop(after int) {
	w.storm.after = after
	w.storm.have = 0
	for i := range w.subs {
		if s := &w.subs[i]; s.state == connStreaming && int(s.track.got) >= after {
			w.storm.have++
		}
	}
}

// dropReady reports whether every live stream has the threshold's events.
func (w *worker) dropReady() bool {
	return w.storm.after > 0 && !w.storm.dropped && w.storm.have >= w.connected-w.closedLate
}

// drop closes every streaming subscription at once and queues each to
// reconnect, keeping its track (what it has had) and its parser's last
// event id, which the reconnect sends as Last-Event-ID: the client side
// of an EventSource whose server went away.
func (w *worker) drop() stormWorker {
	w.storm.dropped = true
	w.storm.dropNs = time.Now().UnixNano()
	w.storm.errsAt = maps.Clone(w.errs)
	n := 0
	for i := range w.subs {
		s := &w.subs[i]
		if s.state != connStreaming {
			continue
		}
		unix.Close(s.fd)
		id := s.sse.id
		s.state, s.head, s.dec, s.sse = connIdle, nil, chunkedDecoder{}, sseParser{id: id}
		n++
	}
	w.next = 0
	return stormWorker{Dropped: n, DropNs: w.storm.dropNs}
}

// requestFor is the GET subscription s sends: after a drop, with its last
// event id.
func (w *worker) requestFor(s *subscription) []byte {
	if !s.streamed || len(s.sse.id) == 0 {
		return w.request
	}
	req := make([]byte, 0, len(w.request)+len(s.sse.id)+20)
	req = append(req, w.request[:len(w.request)-2]...) // up to the blank line's CRLF
	req = append(req, "Last-Event-ID: "...)
	req = append(req, s.sse.id...)
	return append(req, "\r\n\r\n"...)
}

// concurrency is the connects in flight the loop allows now.
func (w *worker) concurrency() int {
	if w.storm.dropped && w.job.StormConcurrency > 0 {
		return w.job.StormConcurrency
	}
	return w.job.Concurrency
}

// resumedHead accounts for a dropped subscription's new stream head.
func (w *worker) resumedHead() {
	w.storm.resumed++
	w.storm.lastResNs = time.Now().UnixNano()
}

// resumeFailed accounts for a dropped subscription that did not come
// back: the events it never got are abandoned, as for a stream closed
// mid-run, so "complete" still comes; the report counts them lost.
func (w *worker) resumeFailed(s *subscription) {
	w.storm.failed++
	w.abandoned += uint64(w.job.Events - int(s.track.got))
}

func (w *worker) stormStatus() message {
	m := w.status("resumed")
	m.Storm = &stormWorker{DropNs: w.storm.dropNs, Resumed: w.storm.resumed, Failed: w.storm.failed, LastResumeNs: w.storm.lastResNs, Errors: map[string]int{}}
	for k, n := range w.errs {
		if d := n - w.storm.errsAt[k]; d > 0 {
			m.Storm.Errors[k] = d
		}
	}
	return m
}
