package poller

import (
	"time"

	"go.uber.org/zap"

	"github.com/ssedge/ssedge/sse"
)

// Why a stream is revoked, in the ssedge.revoked event's "reason".
const (
	revokedNoToken  = "the channel is private now and the stream has no valid token"
	revokedNotGrant = "the channel is private now and the stream's token does not allow it"
	revokedExpired  = "the channel is private now and the stream's token has expired"
)

// revokeDisallowed re-checks every stream of the loop against the rules
// just taken: a stream on a channel that is now private, whose token (kept
// from its request, conn.grant) does not allow that channel, gets
// ssedge.revoked and is closed (CloseRevoked). A stream that a token does
// allow now runs until the token expires, like any private stream. Other
// streams are not touched. Parked long-polls are left to their deadline:
// their next poll is checked under the new rules.
func (l *loop) revokeDisallowed() {
	if l.cfg.Auth == nil {
		return
	}
	now := time.Now()
	revoked := 0
	for slot := range l.conns.len() {
		c := l.conns.at(slot)
		if c.state != stateStreaming {
			continue
		}
		name, why := l.disallowed(slot, now)
		if name == "" {
			continue
		}
		l.revoke(slot, name, why)
		revoked++
	}
	if revoked > 0 {
		l.log.Info("streams revoked by the new channel rules", zap.Int("streams", revoked))
	}
}

// disallowed returns the first channel of stream slot that the rules in
// force no longer allow it, and why; "" when all are allowed. For a
// channel that became private and is allowed, the token's expiry becomes
// the stream's deadline.
func (l *loop) disallowed(slot int32, now time.Time) (string, string) {
	c := l.conns.at(slot)
	check := func(name string) string {
		if !l.private([]byte(name)) {
			return ""
		}
		switch {
		case c.grant == nil:
			return revokedNoToken
		case !c.grant.Allows([]byte(name)):
			return revokedNotGrant
		case !now.Before(c.grant.Expires()):
			return revokedExpired
		}
		if at := c.grant.Expires().Sub(l.start).Milliseconds(); c.deadline == 0 || at < c.deadline {
			c.deadline = at
			l.deadlines.push(deadline{connRef{slot, c.gen}, at})
		}
		return ""
	}
	for _, s := range c.subs {
		if why := check(s.t.name); why != "" {
			return s.t.name, why
		}
	}
	if c.replay != nil {
		for _, rc := range c.replay.chans {
			if why := check(rc.name); why != "" {
				return rc.name, why
			}
		}
	}
	return "", ""
}

// revoke tells a stream why it ends (ssedge.revoked, naming the channel)
// and closes it once that is sent.
func (l *loop) revoke(slot int32, channel, why string) {
	f := []byte("event: " + sse.RevokedEvent + "\ndata: {\"channel\":")
	f = sse.AppendJSONString(f, channel)
	f = append(f, `,"reason":`...)
	f = sse.AppendJSONString(f, why)
	f = append(f, "}\n\n"...)
	if !l.enqueue(slot, f) {
		return // doomed as a slow consumer: closed at the end of the turn
	}
	l.flush(slot)
	c := l.conns.at(slot)
	if c.state != stateStreaming {
		return
	}
	if c.out.len() == 0 {
		l.linger(slot, CloseRevoked)
		return
	}
	l.awaitDrain(slot, CloseRevoked)
}
