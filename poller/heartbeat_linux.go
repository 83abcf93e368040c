package poller

import "golang.org/x/sys/unix"

// The heartbeat wheel. Every open connection of a loop is on one of
// wheelSize lists (buckets), linked through the connection table itself
// (conn.hbNext, hbPrev, hbBucket: no allocation, no memory beyond those
// fields). A heartbeat interval is wheelSteps steps; step k runs at loop
// ms k*step and visits bucket k mod wheelSize, which holds the connections
// due at that step: last written at or before k*step - Heartbeat. A visit
// sends the shared heartbeat frame to a silent stream and puts it one
// interval ahead; a stream written since (by an event) is not sent
// anything and moves to the step its last write makes it due at. Writes
// never touch the wheel; the next visit notices them. So each connection
// is visited about once per interval, busy or idle, and a step costs only
// the connections of its bucket — not, as a sweep would, every
// connection of the loop.
//
// A stream is never sent a heartbeat before it has been silent for
// Heartbeat, and it is visited at most one step after that: silent for at
// most (1 + 1/wheelSteps) x Heartbeat (plus however late the loop's turn
// is). A due time is at most wheelSteps+1 steps ahead of the step being
// run, so wheelSize = 2*wheelSteps buckets never hold two intervals'
// connections in one list.
const (
	wheelSteps = 16
	wheelSize  = 2 * wheelSteps
)

// wheel is a loop's heartbeat wheel. Owned by the loop goroutine.
type wheel struct {
	head [wheelSize]int32 // first slot of each bucket; -1 when empty
	step int64            // ms per step: Heartbeat / wheelSteps, rounded up
	next int64            // the next step to run; it runs at next*step
}

func (w *wheel) init(stepMs int64) {
	for i := range w.head {
		w.head[i] = -1
	}
	w.step = stepMs
}

// at is the loop ms at which the next step runs.
func (w *wheel) at() int64 { return w.next * w.step }

// wheelStepMs is the step for the heartbeat in force.
func (l *loop) wheelStepMs() int64 {
	return max((l.heartbeatMs()+wheelSteps-1)/wheelSteps, 1)
}

// startWheel sets the wheel up when the loop starts. Connections an
// Import put in the table before Start join it here, as do their backlogs
// in the gauges.
func (l *loop) startWheel() {
	l.wheel.init(l.wheelStepMs())
	l.wheel.next = l.now/l.wheel.step + 1
	for slot := range l.conns.len() {
		c := l.conns.at(slot)
		if c.state == stateFree || c.hbBucket != 0 {
			continue
		}
		l.wheelAdd(slot)
		if c.out.bytes > 0 {
			l.backlogged++
			l.backlogBytes += int64(c.out.bytes)
		}
	}
}

// wheelAdd puts a new connection on the wheel, due an interval after its
// last write.
func (l *loop) wheelAdd(slot int32) {
	if l.wheel.step == 0 { // a Driver's loop: no wheel runs
		return
	}
	l.link(slot, l.dueStep(l.conns.at(slot)))
}

// dueStep is the first step, not before the next one to run, at which
// c will have been silent for the heartbeat interval.
func (l *loop) dueStep(c *conn) int64 {
	due := l.now - int64(uint32(l.now)-c.wroteAt) + l.heartbeatMs()
	return max((due+l.wheel.step-1)/l.wheel.step, l.wheel.next)
}

// link pushes slot onto the bucket of step k.
func (l *loop) link(slot int32, k int64) {
	b := int32(k & (wheelSize - 1))
	c := l.conns.at(slot)
	c.hbBucket, c.hbPrev, c.hbNext = uint8(b+1), -1, l.wheel.head[b]
	if c.hbNext >= 0 {
		l.conns.at(c.hbNext).hbPrev = slot
	}
	l.wheel.head[b] = slot
}

// wheelRemove takes a closing connection off the wheel.
func (l *loop) wheelRemove(slot int32) {
	c := l.conns.at(slot)
	if c.hbBucket == 0 {
		return
	}
	if c.hbPrev >= 0 {
		l.conns.at(c.hbPrev).hbNext = c.hbNext
	} else {
		l.wheel.head[c.hbBucket-1] = c.hbNext
	}
	if c.hbNext >= 0 {
		l.conns.at(c.hbNext).hbPrev = c.hbPrev
	}
	c.hbBucket = 0
}

// runWheel runs the steps that are due. A loop that fell more than a
// whole wheel behind runs each bucket once.
func (l *loop) runWheel() {
	if l.now < l.wheel.at() {
		return
	}
	last := l.now / l.wheel.step
	l.wheel.next = max(l.wheel.next, last-wheelSize+1)
	var sent uint64
	for ; l.wheel.next <= last; l.wheel.next++ {
		sent += l.wheelStep(l.wheel.next)
	}
	l.stats.heartbeats.Add(sent)
}

// wheelStep visits the bucket of step k (see the top of this file) and
// returns the heartbeats it sent.
func (l *loop) wheelStep(k int64) uint64 {
	b := k & (wheelSize - 1)
	s := l.wheel.head[b]
	l.wheel.head[b] = -1 // detach the list: what is linked back goes in afresh
	hb := uint32(l.heartbeatMs())
	now := uint32(l.now)
	var sent uint64
	for s >= 0 {
		c := l.conns.at(s)
		slot := s
		s = c.hbNext
		c.hbBucket = 0
		switch {
		case now-c.wroteAt < hb:
			l.link(slot, l.dueStep(c)) // written since: due an interval after that write
		case c.state != stateStreaming:
			// Reading a request, a parked long-poll, an answer on its way:
			// no heartbeat, but it may become a stream; look again in an
			// interval.
			l.link(slot, k+wheelSteps)
		case c.out.len() > 0:
			// Not silent: waiting for the client to read. Look again at the
			// next step, so it is not left silent long once it drains.
			l.link(slot, k+1)
		case l.ring != nil:
			// Queued on the ring, off the wheel until its result is
			// handled (finishHeartbeats links it back).
			if !l.ring.room(1) {
				sent += l.finishHeartbeats()
			}
			f := l.hbFrame
			iov := [1]unix.Iovec{{Base: &f[0], Len: uint64(len(f))}}
			l.ring.queueSend(c.fd, iov[:], uringSend{slot: slot, head: -1, total: len(f)})
		default:
			if !l.send(slot, l.hbFrame) {
				continue // closed; close found it off the wheel
			}
			sent++
			l.link(slot, l.dueStep(c))
		}
	}
	if l.ring != nil {
		sent += l.finishHeartbeats()
	}
	return sent
}

// finishHeartbeats submits the heartbeats a step queued on the ring,
// waits for all of them, then handles each result as send handles a
// send(2)'s (sent), in the order queued, and puts each stream still open
// back on the wheel an interval ahead. It returns the heartbeats sent.
func (l *loop) finishHeartbeats() uint64 {
	u := l.ring
	if len(u.sends) == 0 {
		return 0
	}
	u.submit()
	var sent uint64
	for i := range u.sends {
		s := &u.sends[i]
		c := l.conns.at(s.slot)
		if !s.done {
			s.n, s.errno = l.write(c.fd, l.hbFrame)
		} else if s.n < s.total && (s.errno == 0 || s.errno == unix.EAGAIN) {
			uringShort.Add(1)
		}
		if !l.sent(s.slot, l.hbFrame, s.n, s.errno) {
			continue // closed; close found it off the wheel
		}
		sent++
		l.link(s.slot, l.dueStep(c))
	}
	u.reset()
	return sent
}

// rewheel puts every connection at the next step after the heartbeat
// changed (Reload): the buckets were laid out for the old step. The next
// step then sends what is due and files the rest by the new interval.
func (l *loop) rewheel() {
	step := l.wheelStepMs()
	if step == l.wheel.step {
		return
	}
	l.wheel.step = step
	l.wheel.next = l.now/step + 1
	k := l.wheel.next
	for b := range l.wheel.head {
		if int64(b) == k&(wheelSize-1) {
			continue
		}
		for s := l.wheel.head[b]; s >= 0; {
			c := l.conns.at(s)
			next := c.hbNext
			l.link(s, k)
			s = next
		}
		l.wheel.head[b] = -1
	}
}
