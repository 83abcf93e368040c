package ingest

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"sync"
	"time"
)

// MaxQueuedReplies bounds the replies one publisher connection queues in
// user space: 8 MiB, about 350,000 line-protocol replies (22 bytes with a
// clock-seeded id) or 85,000 HTTP ones. Below it the connection keeps
// reading and publishing while its writer goroutine flushes replies, so a
// publisher may pipeline a whole batch before it reads anything. At the
// bound the connection stops reading (back-pressure) until the publisher
// takes replies.
const MaxQueuedReplies = 8 << 20

const (
	// batchBytes is how many reply bytes the serving goroutine collects
	// before it hands them to the writer (it also hands them over before
	// any read that may block).
	batchBytes = 16 << 10
	// writeChunk is the most one write call sends, so that the write
	// deadline measures a stall, not the time a large batch takes.
	writeChunk = 64 << 10
	// keepBuf is the largest buffer a connection keeps once it is done
	// with it: a burst's buffers go back to the heap, not pinned by an
	// idle publisher.
	keepBuf = 64 << 10
)

// replyQueue is a connection's replies between the serving goroutine,
// which queues them in command order, and the writer goroutine
// (conn.writeReplies), which writes them. Every field is guarded by mu.
type replyQueue struct {
	mu      sync.Mutex
	cond    sync.Cond // L is &mu; broadcast on every change below
	pend    []byte    // replies the writer has not taken yet
	writing int       // bytes the writer has taken and not yet written
	done    bool      // the serving goroutine has queued its last reply
	err     error     // the write that failed; set once, by the writer; nothing is written after it
	lost    []byte    // after err: the writer's batch,
	lostAt  int       // of which this many bytes were written
	exited  chan struct{}
}

// push hands the serving goroutine's batch (c.batch) to the writer. It
// waits while MaxQueuedReplies are queued (back-pressure: the connection
// reads nothing meanwhile), and returns the writer's error once a write
// has failed.
func (c *conn) push() error {
	q := &c.q
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.err == nil && len(q.pend)+q.writing >= MaxQueuedReplies {
		q.cond.Wait()
	}
	if q.err != nil {
		return q.err
	}
	q.pend = append(q.pend, c.batch...)
	q.cond.Broadcast()
	c.batch = c.batch[:0]
	return nil
}

// finish queues the last replies and waits for the writer to write them
// all or fail. It returns the write error and how many events were
// published whose replies were not delivered.
func (c *conn) finish() (error, int) {
	var perr error
	if len(c.inflight) > 0 {
		perr = c.srv.settle(c)
	}
	if perr == nil && len(c.batch) > 0 {
		perr = c.push()
	}
	q := &c.q
	q.mu.Lock()
	q.done = true
	q.cond.Broadcast()
	q.mu.Unlock()
	<-q.exited
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err == nil {
		return nil, 0
	}
	lost := idReplies(c.proto, q.lost, q.lostAt) + idReplies(c.proto, q.pend, 0)
	if perr != nil {
		lost += idReplies(c.proto, c.batch, 0)
	}
	return q.err, lost
}

// writeReplies is the connection's writer goroutine: it writes what the
// serving goroutine queues until that is done and everything is written,
// or a write fails. A write fails when the publisher takes no reply and
// sends nothing for ReadTimeout (or is gone); the connection's reads are
// then interrupted, and nothing more is written.
func (c *conn) writeReplies() {
	q := &c.q
	defer close(q.exited)
	var buf []byte
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		for len(q.pend) == 0 && !q.done {
			q.cond.Wait()
		}
		if len(q.pend) == 0 {
			return
		}
		buf, q.pend = q.pend, buf[:0]
		q.writing = len(buf)
		q.cond.Broadcast()
		q.mu.Unlock()
		n, err := c.writeOut(buf)
		q.mu.Lock()
		q.writing = 0
		if err != nil {
			q.err, q.lost, q.lostAt = err, buf, n
			q.cond.Broadcast()
			c.interrupt()
			return
		}
		if len(q.pend) == 0 {
			// A burst is over: do not keep its buffers.
			if cap(buf) > keepBuf {
				buf = nil
			}
			if cap(q.pend) > keepBuf {
				q.pend = nil
			}
		}
		q.cond.Broadcast()
	}
}

// writeOut writes b in chunks, each with a write deadline of ReadTimeout.
// A deadline that passes is forgiven while the publisher is still
// sending (the serving goroutine read from it within ReadTimeout) or
// took part of the chunk; otherwise it ends the connection.
func (c *conn) writeOut(b []byte) (int, error) {
	timeout := c.srv.cfg.ReadTimeout
	written := 0
	for written < len(b) {
		c.nc.SetWriteDeadline(time.Now().Add(timeout))
		n, err := c.nc.Write(b[written:min(len(b), written+writeChunk)])
		written += n
		if n > 0 {
			c.q.mu.Lock()
			c.q.writing = len(b) - written
			c.q.cond.Broadcast()
			c.q.mu.Unlock()
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && (n > 0 || time.Since(time.Unix(0, c.lastRead.Load())) < timeout) {
				continue
			}
			return written, err
		}
	}
	return written, nil
}

// idReplies counts the replies in b that carry an event's id (+OK, or an
// HTTP 200) and end past the first at bytes, which were written: the
// events whose publisher never got their id. b starts at a reply.
func idReplies(proto byte, b []byte, at int) int {
	n := 0
	if proto == 'l' {
		// A line reply's only \n is its last byte (reasons have theirs
		// replaced), so the replies not wholly written start after the
		// last \n in b[:at].
		rest := b[bytes.LastIndexByte(b[:at], '\n')+1:]
		for len(rest) > 0 {
			if bytes.HasPrefix(rest, []byte("+OK ")) {
				n++
			}
			i := bytes.IndexByte(rest, '\n')
			if i < 0 {
				break
			}
			rest = rest[i+1:]
		}
		return n
	}
	// HTTP: walk the responses by their heads and Content-Length (this
	// package's own, so well formed; a 100 Continue has no body).
	for off := 0; off < len(b); {
		head := bytes.Index(b[off:], []byte("\r\n\r\n"))
		if head < 0 {
			break
		}
		size := 0
		if _, v, ok := bytes.Cut(b[off:off+head], []byte("\r\nContent-Length: ")); ok {
			v, _, _ = bytes.Cut(v, []byte("\r\n"))
			size, _ = strconv.Atoi(string(v))
		}
		end := off + head + 4 + size
		if end > at && bytes.HasPrefix(b[off:], []byte("HTTP/1.1 200 ")) {
			n++
		}
		off = end
	}
	return n
}
