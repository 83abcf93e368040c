package ingest

import (
	"fmt"
	"strconv"
	"time"
)

// Publisher is where an accepted publish goes. By default it is the hub
// (Hub.Publish numbers the event); in cluster mode (package
// pubsub/cluster) it is the shared event log, which numbers the event and
// acknowledges it before the id is returned. An error that wraps
// pubsub.ErrUnavailable is answered 503 (line protocol: -ERR) with its
// text.
//
// key is the publisher's idempotency key, or empty:
//
//   - HTTP: the request header "Idempotency-Key: KEY".
//   - Line protocol: an optional last word "key=KEY" after the byte count:
//     PUB <channel> [<event>] <bytes> key=<KEY>. A byte count never starts
//     with "key=", so the extension cannot be misread.
//
// A key is 1 to 128 printable ASCII bytes without spaces. The hub
// ignores it (a local publish is never in doubt); the cluster maps it to
// JetStream's de-duplication, so a retry after an unknown outcome returns
// the first publish's id.
type Publisher interface {
	Publish(channel, name, data, key []byte) (uint64, error)
}

// AsyncPublisher is a Publisher that can keep several publishes of one
// connection in flight (the cluster's: each waits for the log's
// acknowledgement). On the line protocol a connection then sends each PUB
// as it is read and answers them, in order, when it has read what the
// publisher has sent (before a read that may block), before any other
// reply, and when more than maxInflight wait: so a pipelining publisher
// gets the log's throughput, not one round trip per event. PublishAsync
// returns the Publish errors found before sending; wait returns the
// outcome. HTTP publishes stay one at a time.
type AsyncPublisher interface {
	Publisher
	PublishAsync(channel, name, data, key []byte) (wait func() (uint64, error), err error)
}

// maxInflight bounds the publishes one connection keeps in flight.
const maxInflight = 1024

// inflight is a sent publish waiting for its outcome. Owned by the
// connection's serving goroutine.
type inflight struct {
	wait  func() (uint64, error)
	start time.Time
}

// maxKey bounds an idempotency key.
const maxKey = 128

// checkKey checks the command's idempotency key, if any.
func checkKey(key []byte) error {
	if len(key) > maxKey {
		return fmt.Errorf("idempotency key of %d bytes, the limit is %d", len(key), maxKey)
	}
	for _, b := range key {
		if b <= ' ' || b > '~' {
			return fmt.Errorf("idempotency key %q: expected printable ASCII without spaces", key)
		}
	}
	return nil
}

// sendLine publishes a line-protocol command through an AsyncPublisher:
// sent now, answered by settle. It reports false when there is none (the
// caller publishes the usual way).
func (s *Server) sendLine(c *conn, data []byte) (bool, error) {
	ap, ok := s.cfg.Publisher.(AsyncPublisher)
	if !ok {
		return false, nil
	}
	err := s.checkRights(c, c.chan_)
	if err == nil {
		err = checkKey(c.key)
	}
	var wait func() (uint64, error)
	if err == nil {
		wait, err = ap.PublishAsync(c.chan_, c.event, data, c.key)
	}
	if err != nil {
		s.refused.Add(1)
		return true, s.lineError(c, err.Error(), false) // settles the earlier ones first
	}
	c.inflight = append(c.inflight, inflight{wait, time.Now()})
	if len(c.inflight) >= maxInflight {
		return true, s.settle(c)
	}
	return true, nil
}

// settle waits for the connection's publishes in flight, in order, and
// queues their replies. Called before any other reply is queued and
// before a read that may block.
func (s *Server) settle(c *conn) error {
	for i, p := range c.inflight {
		c.inflight[i] = inflight{}
		id, err := p.wait()
		if err != nil {
			s.refused.Add(1)
			s.noteRefusal(err.Error())
			s.countRefusal(c, 0, err.Error())
			c.batch = append(c.batch, "-ERR "...)
			c.batch = append(c.batch, err.Error()...)
		} else {
			s.published.Add(1)
			s.counts.observe(protoOf(c), time.Since(p.start))
			c.batch = append(c.batch, "+OK "...)
			c.batch = strconv.AppendUint(c.batch, id, 10)
		}
		c.batch = append(c.batch, "\r\n"...)
	}
	c.inflight = c.inflight[:0]
	if len(c.batch) >= batchBytes {
		return c.push()
	}
	return nil
}

// send hands a checked publish to the configured Publisher, or the hub.
func (s *Server) send(c *conn, data []byte) (uint64, error) {
	if err := checkKey(c.key); err != nil {
		return 0, err
	}
	if s.cfg.Publisher != nil {
		return s.cfg.Publisher.Publish(c.chan_, c.event, data, c.key)
	}
	return s.hub.Publish(c.chan_, c.event, data)
}
