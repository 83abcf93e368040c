package poller

import (
	"go.uber.org/zap"

	"github.com/ssedge/ssedge/pubsub"
)

// Resumes from the durable log (cluster mode). A replay channel whose
// events after its position fell out of this node's memory (lookAhead
// sets its upTo: the memory's eviction mark) reads them from the log
// instead of getting a gap. The loop never waits for the log: it starts
// one fetch per replay (Hub.FetchUpstream, on the fetcher's goroutine, at
// most half the backlog bounds per fetch), keeps serving everything else,
// and picks the result up on a later turn (settleUpstream, from
// replayStep; futureChecks bounds the loop's sleep to futureRecheckMs
// meanwhile). The fetched events go into the channel's queue and are
// merged by id with the other channels; when the queue drains, the
// channel's position moves to what the fetch covered, and once that
// reaches upTo the channel goes back to memory (which holds every event
// above its mark) and then joins live with the others — no hole, no
// duplicate at either seam. The log says what it no longer holds itself:
// that is the only gap (reason evicted), sent before the events. A fetch
// that fails (the broker is away), or that has not finished after
// upstreamGiveUpMs (runReplays gives up on it), closes the stream
// (CloseUnavailable): the client reconnects and resumes from its last id,
// nothing skipped.

// settleUpstream takes a finished fetch (its gaps go out first, its events
// into their channels' queues), moves channels whose queue drained on,
// and starts the next fetch for those that still need the log. It reports
// false when the connection is no longer streaming.
func (l *loop) settleUpstream(slot int32, below uint64) bool {
	c := l.conns.at(slot)
	rp := c.replay
	if f := rp.fetch; f != nil && f.Done() {
		rp.fetch = nil
		if f.Err != nil {
			l.log.Info("closing a resuming stream: its events could not be read from the cluster's stream; the client reconnects",
				zap.Error(f.Err))
			l.close(slot, CloseUnavailable)
			return false
		}
		for k, r := range f.Ranges {
			rc := &rp.chans[rp.fetchChans[k]]
			if loss := f.Loss[k]; loss.Mark > rc.after {
				l.sendGap(slot, rc.name, rc.after, loss.First, GapEvicted)
				rc.after = max(rc.after, min(loss.Mark, loss.First-1))
			}
			rc.through = max(min(r.UpTo, f.Covered), rc.after)
		}
		for _, ev := range f.Events {
			for _, i := range rp.fetchChans {
				if rc := &rp.chans[i]; rc.name == ev.Channel && ev.ID > rc.after {
					rc.queue = append(rc.queue, ev)
					break
				}
			}
		}
		if c.state != stateStreaming {
			return false
		}
	}
	var ranges []pubsub.UpstreamRange
	var idx []int
	for i := range rp.chans {
		rc := &rp.chans[i]
		if rc.upTo == 0 || len(rc.queue) > 0 {
			continue
		}
		if rc.through != 0 {
			rc.after, rc.through = max(rc.after, rc.through), 0
		}
		if rc.after >= rc.upTo {
			rc.upTo = 0
			rc.queue = nil
			l.look(slot, rc, below) // memory from here on; it may send it to the log again
			if rc.upTo == 0 {
				continue
			}
		}
		if rp.fetch == nil {
			ranges = append(ranges, pubsub.UpstreamRange{Channel: rc.name, After: rc.after, UpTo: rc.upTo})
			idx = append(idx, i)
		}
	}
	if len(ranges) > 0 {
		frames, bytes := l.replayChunk()
		rp.fetchChans = idx
		rp.fetch = l.srv.cfg.Hub.FetchUpstream(ranges, frames, bytes)
		rp.giveUpAt = l.now + l.srv.upstreamGiveUpMs.Load()
		l.stats.upstreamFetches.Add(1)
		l.log.Debug("resume reads from the cluster's stream", zap.Int("channels", len(ranges)), zap.Uint64("after", ranges[0].After))
	}
	return c.state == stateStreaming
}
