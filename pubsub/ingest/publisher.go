package ingest

import (
	"fmt"
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

// maxKey bounds an idempotency key.
const maxKey = 128

// send hands a checked publish to the configured Publisher, or the hub.
func (s *Server) send(c *conn, data []byte) (uint64, error) {
	if len(c.key) > 0 {
		if len(c.key) > maxKey {
			return 0, fmt.Errorf("idempotency key of %d bytes, the limit is %d", len(c.key), maxKey)
		}
		for _, b := range c.key {
			if b <= ' ' || b > '~' {
				return 0, fmt.Errorf("idempotency key %q: expected printable ASCII without spaces", c.key)
			}
		}
	}
	if s.cfg.Publisher != nil {
		return s.cfg.Publisher.Publish(c.chan_, c.event, data, c.key)
	}
	return s.hub.Publish(c.chan_, c.event, data)
}
