package poller

import (
	"fmt"
	"strconv"
	"time"

	"github.com/ssedge/ssedge/httpmin"
	"github.com/ssedge/ssedge/pubsub"
	"github.com/ssedge/ssedge/sse"
)

// Long-poll answer bounds: a client with more to catch up polls again
// from the answer's lastEventId.
const (
	longPollMaxEvents = 1000
	longPollMaxBytes  = 1 << 20
)

// longPoll is a parked long-poll's own state; it exists only while the
// connection is parked (stateLongPoll).
type longPoll struct {
	origin []byte // the request's Origin, for the CORS headers of the answer
	// ahead is the client's lastEventId when it is at or past this loop's
	// ring position (a loop behind the one that served the client before):
	// events up to it are not answered again. 0: the loop is not behind.
	ahead uint64
	// since, when not 0, is when a client whose id is ahead of this loop
	// asked, and Hub.Future could not yet tell whether that id exists
	// (cluster mode): at the poll's deadline it is asked again, and a
	// future id is then answered with future gaps.
	since int64
	// fetch, when not nil, is the read from the durable log this poll
	// waits for (cluster mode, pollupstream_linux.go): chans are the
	// poll's channels, fetchChans those the fetch reads. The poll is then
	// on no channel; the loop answers it once the fetch is done.
	// expires is the token's expiry (loop ms, 0: none) and giveUpAt when
	// the loop stops waiting for the fetch: the fetching poll's deadline
	// is the earlier.
	fetch      *pubsub.UpstreamFetch
	chans      []replayChan
	fetchChans []int
	expires    int64
	giveUpAt   int64
}

// longPoll answers GET /poll: the retained events after lastEventId at once,
// or, when there are none, parks the connection on its channels (no
// goroutine: it sits in the loop's topics like a subscriber) until an
// event arrives or the timeout passes.
func (l *loop) longPoll(slot int32, r *httpmin.Request) {
	last, resume, ok := l.parseSubscription(slot, r)
	if !ok {
		return
	}
	timeout, msg := l.longPollTimeout()
	if msg != "" {
		l.refuseFrom(slot, r, 400, msg, "")
		return
	}
	after := CloseDone
	if r.KeepAlive {
		after = CloseNone
	}
	below := l.cursor.NextID()
	chans := make([]replayChan, len(l.nameEnd))
	start := 0
	for i, end := range l.nameEnd {
		chans[i] = replayChan{name: string(l.names[start:end]), after: below - 1}
		if resume {
			chans[i].after = last
		}
		start = end
	}
	l.body = append(l.body[:0], `{"events":[`...)
	future, since := false, int64(0)
	if resume && last >= below {
		now := time.Now().UnixNano()
		var known bool
		if future, known = l.srv.cfg.Hub.Future(last, now); !known {
			since = now // park; asked again at the deadline
		}
	}
	n, gaps, lastID, fromLog := l.collectHistory(chans, future, below)
	if fromLog {
		l.parkFetchingPoll(slot, r, chans, after)
		return
	}
	if resume && !future {
		lastID = max(lastID, last) // a lagging loop must not send the client back
	}
	// With nothing to answer yet, park — even for timeout=0: the events
	// this loop has still to read from the ring (published before this
	// request, perhaps) are delivered later in this same turn, and the
	// deadline answers the poll right after.
	if n > 0 || gaps > 0 {
		l.releasePerIP(slot) // answered: no longer a waiting poll
		l.sendLongPollAnswer(slot, r.Origin, after, lastID)
		return
	}
	c := l.conns.at(slot)
	c.state, c.after = stateLongPoll, after
	c.longPoll = &longPoll{since: since}
	if resume && last >= below {
		// This loop lags the id the client has: events up to it must not
		// be answered again (answerLongPoll skips them).
		c.longPoll.ahead = last
	}
	if len(r.Origin) > 0 {
		c.longPoll.origin = append([]byte(nil), r.Origin...)
	}
	c.subs = make([]subRef, 0, len(chans))
	for i := range chans {
		l.join(slot, []byte(chans[i].name))
	}
	pollEnd := l.now + int64(timeout/time.Millisecond)
	if c.deadline == 0 || pollEnd < c.deadline { // a token's expiry (authorize) may come first
		c.deadline = pollEnd
	}
	l.deadlines.push(deadline{connRef{slot, c.gen}, c.deadline})
	l.stats.longPollsParked.Add(1)
}

// longPollTimeout reads the timeout parameter, in seconds: default
// Config.PollTimeout, clamped to Config.PollMaxTimeout.
func (l *loop) longPollTimeout() (time.Duration, string) {
	if len(l.timeoutQuery) == 0 {
		return min(l.cfg.PollTimeout, l.cfg.PollMaxTimeout), ""
	}
	s, err := strconv.ParseFloat(string(l.timeoutQuery), 64)
	if err != nil || s < 0 || s != s {
		return 0, fmt.Sprintf("timeout %q: expected seconds, such as 25", l.timeoutQuery)
	}
	return min(time.Duration(s*float64(time.Second)), l.cfg.PollMaxTimeout), ""
}

// collectHistory appends to l.body the retained events of chans below
// below, merged in id order (at most longPollMaxEvents / longPollMaxBytes), and
// the gaps to l.gapsJSON. future marks a client id above every id. lastID
// is where the client polls from next: below-1 when everything was
// included, else the last id included (every smaller one of these
// channels is in the answer, as the merge goes in id order).
//
// fromLog: some channel's events after its position fell out of memory
// and are read from the durable log instead (cluster mode); nothing is
// collected then, the caller parks the poll for that read.
func (l *loop) collectHistory(chans []replayChan, future bool, below uint64) (events, gaps int, lastID uint64, fromLog bool) {
	hub := l.srv.cfg.Hub
	l.gapsJSON = l.gapsJSON[:0]
	for i := range chans {
		rc := &chans[i]
		if future {
			if len(l.gapsJSON) > 0 {
				l.gapsJSON = append(l.gapsJSON, ',')
			}
			l.gapsJSON = appendGapJSON(l.gapsJSON, rc.name, rc.after, below, GapFuture)
			rc.after = below - 1
			l.stats.gaps[GapFuture].Add(1)
			gaps++
			continue
		}
		if gap, asked, first, reason := l.lookAhead(rc, below); gap {
			if len(l.gapsJSON) > 0 {
				l.gapsJSON = append(l.gapsJSON, ',')
			}
			l.gapsJSON = appendGapJSON(l.gapsJSON, rc.name, asked, first, reason)
			l.stats.gaps[reason].Add(1)
			gaps++
		}
	}
	for i := range chans {
		if chans[i].upTo != 0 {
			return 0, gaps, 0, true
		}
	}
	lastID = below - 1
	for {
		var best *replayChan
		for i := range chans {
			if rc := &chans[i]; rc.next != nil && (best == nil || rc.next.ID < best.next.ID) {
				best = rc
			}
		}
		if best == nil {
			break
		}
		if events == longPollMaxEvents || len(l.body) >= longPollMaxBytes {
			// Every smaller id of these channels is in the answer or
			// covered by one of its gaps.
			lastID = best.next.ID - 1
			break
		}
		l.appendLongPollEvent(best.next)
		events++
		best.after = best.next.ID
		best.next = hub.HistoryAfter(best.name, best.after, below).Next
	}
	return events, gaps, lastID, false
}

func (l *loop) appendLongPollEvent(ev *pubsub.Event) {
	if len(l.body) > len(`{"events":[`) {
		l.body = append(l.body, ',')
	}
	l.body = sse.AppendEventJSON(l.body, ev.Frame, ev.Channel)
}

// sendLongPollAnswer completes l.body and sends it as the 200 answer.
func (l *loop) sendLongPollAnswer(slot int32, origin []byte, after CloseReason, lastID uint64) {
	l.body = append(l.body, `],"gaps":[`...)
	l.body = append(l.body, l.gapsJSON...)
	l.body = append(l.body, `],"lastEventId":`...)
	l.body = strconv.AppendUint(l.body, lastID, 10)
	l.body = append(l.body, "}\n"...)
	l.out = append(l.out[:0], "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-cache\r\nContent-Length: "...)
	l.out = strconv.AppendInt(l.out, int64(len(l.body)), 10)
	l.out = append(l.out, "\r\n"...)
	l.out = sse.AppendCORSHeaders(l.out, l.cfg.CORS, origin)
	if after != CloseNone {
		l.out = append(l.out, "Connection: close\r\n"...)
	}
	l.out = append(l.out, "\r\n"...)
	l.out = append(l.out, l.body...)
	l.stats.longPollsAnswered.Add(1)
	l.respond(slot, l.out, after)
}

// answerLongPoll answers a parked poll with this batch's events for it
// (or none, at its deadline), then leaves its channels.
func (l *loop) answerLongPoll(slot int32, head int32) {
	c := l.conns.at(slot)
	lp := c.longPoll
	if lp.fetch != nil {
		l.fetchingPollDeadline(slot)
		return
	}
	lastID := l.cursor.NextID() - 1
	if lp.ahead != 0 {
		for head >= 0 && l.batch[l.refs[head].ev].ID <= lp.ahead {
			head = l.refs[head].next
		}
		if head < 0 && l.now < c.deadline {
			return // only events the client already has: keep waiting
		}
		lastID = max(lastID, lp.ahead)
	}
	l.gapsJSON = l.gapsJSON[:0]
	if head < 0 && lp.since != 0 {
		// The deadline of a poll whose id could not be told from a future
		// one when it came: a look at the log has ended since; a future id
		// gets its gaps now, like a resume's.
		if future, known := l.srv.cfg.Hub.Future(lp.ahead, lp.since); known && future {
			below := l.cursor.NextID()
			for i, s := range c.subs {
				if i > 0 {
					l.gapsJSON = append(l.gapsJSON, ',')
				}
				l.gapsJSON = appendGapJSON(l.gapsJSON, s.t.name, lp.ahead, below, GapFuture)
				l.stats.gaps[GapFuture].Add(1)
			}
			lastID = below - 1
		}
	}
	c.longPoll = nil
	l.leave(slot)
	l.releasePerIP(slot)
	l.body = append(l.body[:0], `{"events":[`...)
	for r := head; r >= 0; r = l.refs[r].next {
		ev := l.batch[l.refs[r].ev]
		l.appendLongPollEvent(ev)
		lastID = ev.ID
	}
	l.sendPollAnswerThenPipelined(slot, lp.origin, lastID)
}

// sendPollAnswerThenPipelined sends a poll's answer (its body in l.body),
// then handles the requests pipelined behind the poll (held in rbuf):
// at once if the answer went out whole, after it otherwise.
func (l *loop) sendPollAnswerThenPipelined(slot int32, origin []byte, lastID uint64) {
	c := l.conns.at(slot)
	after := c.after
	c.state = stateReading // as far as respond is concerned
	held := c.rbuf
	c.rbuf = nil
	l.sendLongPollAnswer(slot, origin, after, lastID)
	if c.state == stateReading && held != nil {
		l.process(slot, held) // requests pipelined behind the poll
	} else if c.state == stateResponding && held != nil {
		c.rbuf = held // responseFlushed processes them
	}
}
