package poller

import "golang.org/x/sys/unix"

// deliver drains up to maxBatch events from the ring and writes each
// touched subscriber once (see the package doc).
func (l *loop) deliver() {
	l.batch = l.batch[:0]
	for len(l.batch) < maxBatch {
		ev := l.cursor.Next()
		if ev == nil {
			break
		}
		l.batch = append(l.batch, ev)
	}
	if len(l.batch) == 0 {
		return
	}
	l.cursor.Commit()
	l.refs, l.dirty = l.refs[:0], l.dirty[:0]
	var queued uint64
	for i, ev := range l.batch {
		t := l.index.lookup(ev.Channel)
		if t == nil {
			continue
		}
		for _, slot := range t.subs {
			c := l.conns.at(slot)
			if c.state != stateStreaming && c.state != stateLongPoll {
				continue
			}
			queued++
			if c.out.len() > 0 {
				l.enqueue(slot, ev.Frame)
				continue
			}
			ref := int32(len(l.refs))
			l.refs = append(l.refs, pendRef{ev: int32(i), next: -1})
			if c.pendHead < 0 {
				c.pendHead = ref
				l.dirty = append(l.dirty, slot)
			} else {
				l.refs[c.pendTail].next = ref
			}
			c.pendTail = ref
		}
	}
	if l.ring != nil {
		l.writePendingBatched()
	} else {
		for _, slot := range l.dirty {
			l.writePending(slot)
		}
	}
	l.closeDoomed()
	clear(l.batch) // drop the references so frames can be collected
	l.stats.deliveries.Add(queued)
}

// A connection's frames of one batch go out in one writev (writePending),
// at most maxBatch iovecs: this fails to compile if that could pass
// IOV_MAX.
var _ [iovMax - maxBatch]struct{}

// writePending writes the connection's frames of this batch with one
// writev and backlogs what the kernel did not take.
func (l *loop) writePending(slot int32) {
	head, ok := l.takePending(slot)
	if !ok {
		return
	}
	c := l.conns.at(slot)
	iov, total := l.pendingIov(head)
	n, errno := l.writev(c.fd, iov)
	clear(iov)
	l.pendingWritten(slot, head, total, n, errno)
}

// takePending takes a connection's frames of this batch (the head of
// their list) and reports whether they are a stream's to write: a
// parked poll is answered with them here, and a connection in any other
// state writes nothing.
func (l *loop) takePending(slot int32) (head int32, ok bool) {
	c := l.conns.at(slot)
	head = c.pendHead
	c.pendHead, c.pendTail = -1, -1
	if c.state == stateLongPoll {
		l.answerLongPoll(slot, head)
		return head, false
	}
	return head, c.state == stateStreaming
}

// pendingIov points l.iov at a connection's frames of this batch.
func (l *loop) pendingIov(head int32) ([]unix.Iovec, int) {
	total := 0
	iov := l.iov[:0]
	for r := head; r >= 0; r = l.refs[r].next {
		f := l.batch[l.refs[r].ev].Frame
		v := unix.Iovec{Base: &f[0]}
		v.SetLen(len(f))
		iov = append(iov, v)
		total += len(f)
	}
	return iov, total
}

// pendingWritten handles the result of writing a connection's frames of
// this batch (head, total bytes): n bytes taken or errno; the rest goes to
// the backlog.
func (l *loop) pendingWritten(slot, head int32, total, n int, errno unix.Errno) {
	c := l.conns.at(slot)
	l.stats.writes.Add(1)
	l.stats.bytes.Add(uint64(n)) // n is 0 on error
	if errno != 0 && errno != unix.EAGAIN {
		l.close(slot, ClosePeerReset)
		return
	}
	c.wroteAt = uint32(l.now)
	if n == total {
		return
	}
	skip := n
	for r := head; r >= 0; r = l.refs[r].next {
		f := l.batch[l.refs[r].ev].Frame
		if skip >= len(f) {
			skip -= len(f)
			continue
		}
		if !l.enqueue(slot, f[skip:]) {
			return
		}
		skip = 0
	}
}

// enqueue appends a shared frame to a subscriber's backlog, or dooms the
// subscriber when the backlog passes its bound. It reports whether the
// frame was queued.
func (l *loop) enqueue(slot int32, f []byte) bool {
	c := l.conns.at(slot)
	if c.state == stateDoomed {
		return false
	}
	l.pushOut(c, f)
	if c.out.bytes > l.cfg.MaxBacklogBytes || c.out.len() > l.cfg.MaxBacklogFrames {
		c.state = stateDoomed
		l.doomed = append(l.doomed, connRef{slot, c.gen})
		return false
	}
	return true
}

// closeDoomed closes the subscribers enqueue doomed. It runs after each
// pass that may doom (delivery, replay): closing earlier would change the
// topics being iterated.
func (l *loop) closeDoomed() {
	for _, r := range l.doomed {
		if c := l.conns.at(r.slot); c.gen == r.gen && c.state == stateDoomed {
			l.close(r.slot, CloseSlowConsumer)
		}
	}
	l.doomed = l.doomed[:0]
}

// flush writes a backlog (at most iovMax frames per turn).
func (l *loop) flush(slot int32) {
	c := l.conns.at(slot)
	iov := l.iov[:0]
	total := 0
	for i, f := range c.out.frames[c.out.head:] {
		if i == 0 {
			f = f[c.out.off:]
		}
		if len(iov) == iovMax {
			break
		}
		v := unix.Iovec{Base: &f[0]}
		v.SetLen(len(f))
		iov = append(iov, v)
		total += len(f)
	}
	n, errno := l.writev(c.fd, iov)
	clear(iov)
	l.stats.writes.Add(1)
	l.stats.bytes.Add(uint64(n)) // n is 0 on error
	if errno == unix.EAGAIN {
		return
	}
	if errno != 0 {
		l.close(slot, ClosePeerReset)
		return
	}
	c.wroteAt = uint32(l.now)
	l.consumeOut(c, n)
	switch {
	case c.out.len() > 0:
		if n == total {
			l.pushAgain(slot) // the iovec cap, not the kernel, stopped us
		}
	case c.state == stateResponding:
		l.responseFlushed(slot)
	default:
		l.releaseOut(c)
	}
}

// pushOut, consumeOut and releaseOut change a connection's backlog and
// keep the loop's backlog gauges (Stats.Backlogged, BacklogBytes) exact.
func (l *loop) pushOut(c *conn, f []byte) {
	if c.out.bytes == 0 {
		l.backlogged++
	}
	c.out.push(f)
	l.backlogBytes += int64(len(f))
}

func (l *loop) consumeOut(c *conn, n int) {
	c.out.consume(n)
	l.backlogBytes -= int64(n)
	if c.out.bytes == 0 && n > 0 {
		l.backlogged--
	}
}

func (l *loop) releaseOut(c *conn) {
	if c.out.bytes > 0 {
		l.backlogged--
		l.backlogBytes -= int64(c.out.bytes)
	}
	c.out.release()
}

// backlog is a connection's unsent bytes: references to shared frames
// (never modified) plus an offset into the first.
type backlog struct {
	frames [][]byte
	head   int // first unsent frame
	off    int // bytes of frames[head] already sent
	bytes  int // unsent bytes in all
}

func (b *backlog) len() int { return len(b.frames) - b.head }

func (b *backlog) push(f []byte) {
	if b.head > 0 && len(b.frames) == cap(b.frames) {
		n := copy(b.frames, b.frames[b.head:])
		clear(b.frames[n:])
		b.frames, b.head = b.frames[:n], 0
	}
	b.frames = append(b.frames, f)
	b.bytes += len(f)
}

// consume drops n sent bytes.
func (b *backlog) consume(n int) {
	b.bytes -= n
	for n > 0 {
		rest := len(b.frames[b.head]) - b.off
		if n < rest {
			b.off += n
			return
		}
		n -= rest
		b.frames[b.head] = nil
		b.head++
		b.off = 0
	}
	if b.head == len(b.frames) {
		b.frames, b.head = b.frames[:0], 0
	}
}

// release frees the backlog's memory; a drained subscriber holds none.
func (b *backlog) release() {
	clear(b.frames)
	*b = backlog{}
}
