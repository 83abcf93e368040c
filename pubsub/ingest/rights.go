package ingest

import (
	"errors"
	"fmt"
)

// ErrNotAllowed is wrapped by the refusal of a publish that a channel's
// publish rights do not allow (HTTP 403, -ERR on the line protocol).
var ErrNotAllowed = errors.New("publish not allowed")

// PublishRights says whether the publisher with uid and primary gid (its
// SO_PEERCRED) may publish to channel: the configuration's per-channel
// publish-allow-uid / publish-allow-gid. It is called for every publish
// while set, from the publisher's goroutine, and must not block.
type PublishRights func(channel []byte, uid, gid uint32) bool

// SetPublishRights puts per-channel publish rights in force (nil: none;
// the socket-wide Config.AllowUIDs and AllowGIDs still apply). A reload
// swaps the function; publishes already checked are not undone.
func (s *Server) SetPublishRights(f PublishRights) {
	if f == nil {
		s.rights.Store(nil)
		return
	}
	s.rights.Store(&f)
}

// peer is a publisher's credentials, read once per connection.
type peer struct {
	read     bool
	uid, gid uint32
	err      error
}

// checkRights applies the per-channel rights to a publish on channel by
// c's peer. The refusal keeps the connection: the framing is intact.
func (s *Server) checkRights(c *conn, channel []byte) error {
	f := s.rights.Load()
	if f == nil {
		return nil
	}
	if !c.cred.read {
		c.cred.uid, c.cred.gid, c.cred.err = peerCred(c.nc)
		c.cred.read = true
	}
	if c.cred.err != nil {
		return fmt.Errorf("%w: channel %q has publish rights and the publisher cannot be identified (SO_PEERCRED: %v)", ErrNotAllowed, channel, c.cred.err)
	}
	if !(*f)(channel, c.cred.uid, c.cred.gid) {
		return fmt.Errorf("%w: publisher uid %d (gid %d) may not publish to channel %q: see its publish-allow-uid and publish-allow-gid", ErrNotAllowed, c.cred.uid, c.cred.gid, channel)
	}
	return nil
}
