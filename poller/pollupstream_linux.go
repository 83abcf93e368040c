package poller

import (
	"go.uber.org/zap"

	"github.com/ssedge/ssedge/httpmin"
	"github.com/ssedge/ssedge/pubsub"
)

// Long-polls from the durable log (cluster mode): a poll whose events
// fell out of this node's memory is parked, on no channel, while the log
// is read (Hub.FetchUpstream, at most the answer's bounds), and answered
// on the turn the read is seen done (runReplays calls pollFetched): the
// log's gaps (reason evicted), then every event of the poll's channels up
// to the point the read covered, merged by id with what memory holds of
// the other channels; lastEventId is that point, so the next poll goes on
// from there (from memory, or the log again). A read that fails is
// answered 503 with the reason: the client polls again, nothing skipped.
//
// The poll waits for its read whatever its timeout (a short timeout would
// otherwise answer nothing, poll after poll), but not for ever: its
// deadline is when the loop gives up on the read (Server.upstreamGiveUpMs,
// a bound above the fetcher's own: 503, poll again), or its token's expiry
// if that comes first (answered with nothing and the client's own
// lastEventId, as a poll on its channels is at its token's expiry). A
// drain answers it 503 at once; a hand-off waits for its read like a
// replay (handoffBusy) and answers it 503 if it is still under way.

// upstreamGiveUpMs is how long a loop waits for a read from the durable
// log before it gives up on it (a stream is closed, a poll answered 503;
// the client resumes or polls again from its id): three times
// pubsub/cluster's own bound on a fetch, so it only fires when a fetch
// never finishes.
const upstreamGiveUpMs = 15000

// parkFetchingPoll starts the read for the poll's channels that need the
// log (upTo set by collectHistory) and parks the poll until it is done.
func (l *loop) parkFetchingPoll(slot int32, r *httpmin.Request, chans []replayChan, after CloseReason) {
	c := l.conns.at(slot)
	lp := &longPoll{chans: chans}
	if len(r.Origin) > 0 {
		lp.origin = append([]byte(nil), r.Origin...)
	}
	var ranges []pubsub.UpstreamRange
	for i := range chans {
		if rc := &chans[i]; rc.upTo != 0 {
			ranges = append(ranges, pubsub.UpstreamRange{Channel: rc.name, After: rc.after, UpTo: rc.upTo})
			lp.fetchChans = append(lp.fetchChans, i)
		}
	}
	lp.fetch = l.srv.cfg.Hub.FetchUpstream(ranges, longPollMaxEvents, longPollMaxBytes)
	l.stats.upstreamFetches.Add(1)
	l.log.Debug("long-poll reads from the cluster's stream", zap.Int("channels", len(ranges)), zap.Uint64("after", ranges[0].After))
	// c.deadline is the token's expiry here (authorize), or 0.
	lp.expires, lp.giveUpAt = c.deadline, l.now+l.srv.upstreamGiveUpMs.Load()
	c.state, c.after, c.longPoll = stateLongPoll, after, lp
	c.deadline = lp.giveUpAt
	if lp.expires != 0 && lp.expires < c.deadline {
		c.deadline = lp.expires
	}
	l.deadlines.push(deadline{connRef{slot, c.gen}, c.deadline})
	l.replaying = append(l.replaying, connRef{slot, c.gen})
	l.stats.longPollsParked.Add(1)
}

// fetchingPollDeadline is a fetching poll's deadline (or a drain's call to
// answer it now): see the comment at the top of the file.
func (l *loop) fetchingPollDeadline(slot int32) {
	c := l.conns.at(slot)
	lp := c.longPoll
	switch {
	case c.after == CloseDrain:
		l.endFetchingPoll(slot, 503, "server draining; poll again from the same lastEventId", CloseDrain)
	case lp.expires != 0 && l.now >= lp.expires:
		// The token expired before the read was done: nothing from it.
		l.gapsJSON = l.gapsJSON[:0]
		l.body = append(l.body[:0], `{"events":[`...)
		lastID := lp.chans[0].after
		for i := range lp.chans {
			lastID = min(lastID, lp.chans[i].after)
		}
		l.finishFetchingPoll(slot, lastID)
	case l.now >= lp.giveUpAt:
		l.logUpstreamGiveUp("long-poll")
		l.endFetchingPoll(slot, 503, "the cluster's event log did not answer in time; poll again from the same lastEventId", CloseUnavailable)
	default:
		// Not due yet: its deadline stands in the heap.
	}
}

// endFetchingPoll refuses a fetching poll with status and reason. Its
// read, if still under way, ends unread.
func (l *loop) endFetchingPoll(slot int32, status int, reason string, after CloseReason) {
	c := l.conns.at(slot)
	c.longPoll = nil
	l.releasePerIP(slot)
	c.state = stateReading // as far as respond is concerned
	c.rbuf = nil
	l.logRefusal(slot, status, reason)
	l.appendRefusal(nil, status, reason, "")
	l.respond(slot, l.out, after)
}

// finishFetchingPoll sends l.body and l.gapsJSON as a fetching poll's
// answer, then handles the requests pipelined behind the poll.
func (l *loop) finishFetchingPoll(slot int32, lastID uint64) {
	c := l.conns.at(slot)
	origin := c.longPoll.origin
	c.longPoll = nil
	l.releasePerIP(slot)
	l.sendPollAnswerThenPipelined(slot, origin, lastID)
}

// pollFetched answers a fetching poll whose read is done, and reports
// whether it did (false: the read is still under way).
func (l *loop) pollFetched(slot int32) bool {
	c := l.conns.at(slot)
	lp := c.longPoll
	f := lp.fetch
	if !f.Done() {
		return false
	}
	lp.fetch = nil
	if f.Err != nil {
		l.log.Info("answering a long-poll 503: its events could not be read from the cluster's stream", zap.Error(f.Err))
		l.endFetchingPoll(slot, 503, "the cluster's event log could not be read now; poll again from the same lastEventId", CloseUnavailable)
		return true
	}
	below := l.cursor.NextID()
	hub := l.srv.cfg.Hub
	l.gapsJSON = l.gapsJSON[:0]
	// bound: every event of the poll's channels up to it is in the answer
	// or covered by one of its gaps.
	bound := below - 1
	for k, r := range f.Ranges {
		rc := &lp.chans[lp.fetchChans[k]]
		if loss := f.Loss[k]; loss.Mark > rc.after {
			if len(l.gapsJSON) > 0 {
				l.gapsJSON = append(l.gapsJSON, ',')
			}
			l.gapsJSON = appendGapJSON(l.gapsJSON, rc.name, rc.after, loss.First, GapEvicted)
			l.stats.gaps[GapEvicted].Add(1)
			rc.after = max(rc.after, min(loss.Mark, loss.First-1))
		}
		rc.through = max(min(r.UpTo, f.Covered), rc.after)
		bound = min(bound, rc.through)
	}
	for _, ev := range f.Events {
		for _, i := range lp.fetchChans {
			if rc := &lp.chans[i]; rc.name == ev.Channel && ev.ID > rc.after {
				rc.queue = append(rc.queue, ev)
				break
			}
		}
	}
	for i := range lp.chans {
		if rc := &lp.chans[i]; rc.upTo == 0 {
			rc.next = nil
			if rc.after < bound {
				res := hub.HistoryAfter(rc.name, rc.after, bound+1)
				rc.next = res.Next
				if res.Evicted > rc.after {
					bound = rc.after // memory lost some since the poll came: the next poll reads the log
				}
			}
		}
	}
	l.body = append(l.body[:0], `{"events":[`...)
	lastID := bound
	for events := 0; ; events++ {
		var best *replayChan
		var ev *pubsub.Event
		for i := range lp.chans {
			rc := &lp.chans[i]
			next := rc.next
			if rc.upTo != 0 {
				next = nil
				if len(rc.queue) > 0 {
					next = rc.queue[0]
				}
			}
			if next != nil && next.ID <= bound && (ev == nil || next.ID < ev.ID) {
				best, ev = rc, next
			}
		}
		if best == nil {
			break
		}
		if events == longPollMaxEvents || len(l.body) >= longPollMaxBytes {
			lastID = ev.ID - 1 // every smaller id is in the answer or a gap
			break
		}
		l.appendLongPollEvent(ev)
		if best.upTo != 0 {
			best.queue = best.queue[1:]
		} else {
			best.after = ev.ID
			best.next = hub.HistoryAfter(best.name, best.after, bound+1).Next
		}
	}
	l.finishFetchingPoll(slot, lastID)
	return true
}
