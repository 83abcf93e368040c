package poller

import (
	"math"
	"strconv"
	"time"

	"github.com/ssedge/ssedge/pubsub"
	"github.com/ssedge/ssedge/sse"
)

// replay is a resuming subscriber's catch-up state: per channel, the last
// id sent (or asked from) and the next retained event after it. It exists
// only while catching up.
type replay struct {
	asked uint64 // the client's Last-Event-ID
	chans []replayChan
	// since is when the client asked (unix ns), for Hub.Future. checking:
	// the client's id is ahead of this loop and the hub cannot yet tell
	// whether it exists anywhere (cluster mode, a look at the log under
	// way); the loop asks again each turn until it can, or until its
	// position passes the id.
	since    int64
	checking bool
	// fetch is the read from the durable log under way (cluster mode,
	// upstream_linux.go), for the channels fetchChans indexes; nil if none.
	// giveUpAt: the loop ms at which the loop stops waiting for it.
	fetch      *pubsub.UpstreamFetch
	fetchChans []int
	giveUpAt   int64
}

type replayChan struct {
	name  string
	after uint64        // ids up to here are sent, reported as a gap, or were the client's
	next  *pubsub.Event // the oldest retained event after it and below the loop's position; nil if none
	// upTo, when not 0: this node's memory may lack the channel's events
	// up to upTo, and those come from the durable log (upstream_linux.go):
	// queue holds the fetched ones not yet sent, and through (when not 0)
	// is how far the fetch that filled it covered the channel.
	upTo    uint64
	through uint64
	queue   []*pubsub.Event
}

// prepareReplay gives a resuming subscriber its replay state, before its
// stream head goes out: a client that has read the head finds the replay
// counted in Stats.Replaying.
func (l *loop) prepareReplay(slot int32, last uint64) {
	rp := &replay{asked: last, chans: make([]replayChan, len(l.nameEnd)), since: time.Now().UnixNano()}
	start := 0
	for i, end := range l.nameEnd {
		rp.chans[i] = replayChan{name: string(l.names[start:end]), after: last}
		start = end
	}
	l.conns.at(slot).replay = rp
	l.stats.replaying.Add(1)
}

// startReplay begins catching a resuming subscriber up. The stream head is
// already sent; the history is replayed in id order, in chunks paced by
// the backlog, until it reaches the loop's ring position, and only then
// does the connection join the live channels — so there is no hole and no
// duplicate at the seam: replay sends ids below the position, live
// delivery ids from it on.
func (l *loop) startReplay(slot int32) {
	c := l.conns.at(slot)
	if c.replay.asked >= l.cursor.NextID() {
		l.checkFuture(slot)
	}
	l.replaying = append(l.replaying, connRef{slot, c.gen})
	l.replayStep(slot)
}

// checkFuture decides for a client whose id is at or past this loop's
// position whether the id is from the future (above every id issued: it
// gets a future gap on each channel and continues from here) or exists
// and this loop has yet to reach it (it waits). Hub.Future never blocks;
// when it cannot tell yet, the replay stays "checking" and runReplays asks
// again on the next turns.
func (l *loop) checkFuture(slot int32) {
	rp := l.conns.at(slot).replay
	future, known := l.srv.cfg.Hub.Future(rp.asked, rp.since)
	rp.checking = !known
	if !known || !future {
		return
	}
	below := l.cursor.NextID()
	for i := range rp.chans {
		l.sendGap(slot, rp.chans[i].name, rp.asked, below, GapFuture)
		rp.chans[i].after = below - 1
	}
	rp.asked = below - 1
}

// futureChecks reports whether a replay waits for Hub.Future to tell, or
// for a read from the durable log (a resume's or a long-poll's): the loop
// then sleeps at most futureRecheckMs, to ask again.
func (l *loop) futureChecks() bool {
	for _, r := range l.replaying {
		c := l.conns.at(r.slot)
		if c.gen != r.gen {
			continue
		}
		if rp := c.replay; rp != nil && (rp.checking || rp.fetch != nil) {
			return true
		}
		if c.longPoll != nil && c.longPoll.fetch != nil {
			return true
		}
	}
	return false
}

// futureRecheckMs is how often a loop asks again whether a client's id
// exists while a look at the durable log is under way.
const futureRecheckMs = 5

// replayChunk bounds the frames one step queues: replay never pushes a
// connection's backlog past half its bounds, so replay alone never closes
// a client as a slow consumer.
func (l *loop) replayChunk() (frames, bytes int) {
	return max(l.cfg.MaxBacklogFrames/2, 1), max(l.cfg.MaxBacklogBytes/2, 1)
}

// replayReady reports whether some replaying connection can take more.
func (l *loop) replayReady() bool {
	frames, bytes := l.replayChunk()
	for _, r := range l.replaying {
		c := l.conns.at(r.slot)
		if c.gen == r.gen && c.replay != nil && c.state == stateStreaming && replayRoom(c, frames, bytes) &&
			(c.replay.fetch == nil || c.replay.fetch.Done()) { // a read under way: futureChecks paces the loop
			return true
		}
		if c.gen == r.gen && c.longPoll != nil && c.longPoll.fetch != nil && c.longPoll.fetch.Done() {
			return true
		}
	}
	return false
}

// replayRoom reports whether c's backlog has drained enough for the next
// replay chunk.
func replayRoom(c *conn, frames, bytes int) bool {
	return c.out.len() < max(frames/2, 1) && c.out.bytes < max(bytes/2, 1)
}

// runReplays moves every replaying connection whose backlog has drained
// on by one step, and forgets the finished ones.
func (l *loop) runReplays() {
	if len(l.replaying) == 0 {
		return
	}
	frames, bytes := l.replayChunk()
	// A step may add to the list: an answered poll's pipelined requests
	// can start a resume or park another poll on the log. Those go after
	// this pass's entries, in the same array, and are kept.
	list := l.replaying
	l.replaying = list[len(list):]
	keep := list[:0]
	for _, r := range list {
		c := l.conns.at(r.slot)
		if c.gen == r.gen && c.state == stateLongPoll && c.longPoll != nil && c.longPoll.fetch != nil {
			if !l.pollFetched(r.slot) {
				keep = append(keep, r)
			}
			continue
		}
		if c.gen != r.gen || c.replay == nil || c.state != stateStreaming {
			continue
		}
		if f := c.replay.fetch; f != nil && !f.Done() && l.now >= c.replay.giveUpAt {
			l.logUpstreamGiveUp("stream")
			l.close(r.slot, CloseUnavailable)
			continue
		}
		if c.replay.checking {
			if l.cursor.NextID() > c.replay.asked {
				c.replay.checking = false // this loop has reached the id: it exists
			} else {
				l.checkFuture(r.slot)
			}
		}
		if replayRoom(c, frames, bytes) {
			l.replayStep(r.slot)
		}
		if c.gen == r.gen && c.replay != nil {
			keep = append(keep, r)
		}
	}
	l.replaying = append(keep, l.replaying...) // copy handles the overlap
}

// replayStep queues the next chunk of history, merged across channels in
// id order, with a gap event first for each channel that lost events.
// A channel whose events fell out of this node's memory (upTo set) takes
// part with what the durable log gave it (its queue); while it waits for
// the log, no event above its position goes out on any channel, so the
// merge stays in id order.
func (l *loop) replayStep(slot int32) {
	c := l.conns.at(slot)
	rp := c.replay
	below := l.cursor.NextID()
	frames, bytes := l.replayChunk()
	for i := range rp.chans {
		if rp.chans[i].upTo == 0 {
			l.look(slot, &rp.chans[i], below)
		}
	}
	for c.state == stateStreaming && c.out.len() < frames && c.out.bytes < bytes {
		if !l.settleUpstream(slot, below) {
			return
		}
		var best *replayChan
		var ev *pubsub.Event
		barrier := uint64(math.MaxUint64) // ids above it wait for the log
		for i := range rp.chans {
			rc := &rp.chans[i]
			next := rc.next
			if rc.upTo != 0 {
				if len(rc.queue) == 0 {
					barrier = min(barrier, rc.after)
					continue
				}
				next = rc.queue[0]
			}
			if next != nil && (ev == nil || next.ID < ev.ID) {
				best, ev = rc, next
			}
		}
		if best == nil || ev.ID > barrier {
			// Join only once this loop's ring position is past the client's
			// id: a loop lagging behind the one that served the client's
			// previous connection would otherwise deliver it again what it
			// already has. Until then the connection waits here.
			if best == nil && barrier == math.MaxUint64 && below > rp.asked {
				l.finishReplay(slot)
			}
			break
		}
		best.after = ev.ID
		if !l.enqueue(slot, ev.Frame) {
			break
		}
		l.stats.replayed.Add(1)
		if best.upTo != 0 {
			best.queue[0] = nil
			best.queue = best.queue[1:]
		} else {
			l.look(slot, best, below)
		}
	}
	if c.state == stateStreaming && c.out.len() > 0 {
		l.flush(slot)
	}
}

// lookAhead sets rc.next to rc's oldest retained event after rc.after and
// below the loop's position. When events after rc.after may be gone it
// reports the gap — the first id still available and why — and moves
// rc.after past what the gap covers (never backwards). Until the loop's
// position is past rc.after there is nothing to look at: a lagging loop
// waits rather than judge gaps against a position behind the client.
func (l *loop) lookAhead(rc *replayChan, below uint64) (gap bool, asked, first uint64, reason GapReason) {
	rc.next = nil
	if below <= rc.after+1 {
		return false, 0, 0, 0
	}
	hub := l.srv.cfg.Hub
	res := hub.HistoryAfter(rc.name, rc.after, below)
	rc.next = res.Next
	if res.Evicted <= rc.after {
		return false, 0, 0, 0
	}
	if hub.CanFetchUpstream() {
		// Memory lacks what the durable log may still hold: the caller
		// reads it from there, and the log tells what is really gone.
		rc.upTo, rc.next = min(res.Evicted, below-1), nil
		return false, 0, 0, 0
	}
	first = below
	if res.Next != nil {
		first = res.Next.ID
	}
	reason = GapEvicted
	if rc.after < hub.Seed() {
		reason = GapRestart
	}
	asked = rc.after
	rc.after = max(rc.after, min(res.Evicted, first-1))
	return true, asked, first, reason
}

// look is lookAhead for a streaming replay: a gap goes out as an event.
func (l *loop) look(slot int32, rc *replayChan, below uint64) {
	if gap, asked, first, reason := l.lookAhead(rc, below); gap {
		l.sendGap(slot, rc.name, asked, first, reason)
	}
}

// sendGap queues the ssedge.gap event for one channel: the client asked
// for events after asked and the first one still available is first. It
// carries no id: the client's Last-Event-ID stays what it was until the
// next real event.
func (l *loop) sendGap(slot int32, channel string, asked, first uint64, reason GapReason) {
	b := make([]byte, 0, 128+len(channel))
	b = append(b, "event: "+sse.GapEvent+"\ndata: "...)
	b = appendGapJSON(b, channel, asked, first, reason)
	b = append(b, "\n\n"...)
	if l.enqueue(slot, b) {
		l.stats.gaps[reason].Add(1)
	}
}

// finishReplay joins the live channels: from the loop's current position
// on, the ring delivers what history no longer needs to.
func (l *loop) finishReplay(slot int32) {
	c := l.conns.at(slot)
	rp := c.replay
	c.replay = nil
	l.stats.replaying.Add(-1)
	for i := range rp.chans {
		l.join(slot, []byte(rp.chans[i].name))
	}
}

// appendGapJSON appends one gap object, as the ssedge.gap event's data and
// the long-poll answer's "gaps" entries carry it.
func appendGapJSON(dst []byte, channel string, asked, first uint64, reason GapReason) []byte {
	dst = append(dst, `{"channel":`...)
	dst = sse.AppendJSONString(dst, channel)
	dst = append(dst, `,"lastEventId":`...)
	dst = strconv.AppendUint(dst, asked, 10)
	dst = append(dst, `,"firstAvailableId":`...)
	dst = strconv.AppendUint(dst, first, 10)
	dst = append(dst, `,"reason":"`...)
	dst = append(dst, reason.String()...)
	return append(dst, `"}`...)
}
