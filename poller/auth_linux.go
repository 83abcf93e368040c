package poller

import (
	"bytes"
	"fmt"
	"time"

	"github.com/ssedge/ssedge/httpmin"
	"github.com/ssedge/ssedge/sse"
)

// authorize checks a request for private channels (Config.Auth): it needs
// a token — the token query parameter (EventSource cannot set headers),
// the Config.TokenCookie cookie, or Authorization: Bearer — that is valid
// now and allows every private channel asked for. It returns 0, or the
// status (401: no, bad or expired token; 403: a channel the token does
// not allow) and a reason that never quotes the token. A granted stream is
// closed when the token expires (see expire).
func (l *loop) authorize(slot int32, r *httpmin.Request) (int, string) {
	v := l.cfg.Auth
	if v == nil {
		return 0, ""
	}
	c := l.conns.at(slot)
	c.grant = nil
	private := false
	start := 0
	for _, end := range l.nameEnd {
		if l.private(l.names[start:end]) {
			private = true
			break
		}
		start = end
	}
	if !private {
		l.keepGrant(slot, r)
		return 0, ""
	}
	grant, err := v.Verify(l.token(r), time.Now())
	if err != nil {
		return 401, err.Error()
	}
	start = 0
	for _, end := range l.nameEnd {
		name := l.names[start:end]
		if l.private(name) && !grant.Allows(name) {
			return 403, fmt.Sprintf("the token does not allow private channel %q", name)
		}
		start = end
	}
	c.grant = grant
	c.deadline = grant.Expires().Sub(l.start).Milliseconds()
	l.deadlines.push(deadline{connRef{slot, c.gen}, c.deadline})
	return 0, ""
}

// keepGrant keeps the grant of a valid token sent with a request for
// public channels only, so that a reload that makes one of them private
// does not revoke a stream its token allows (revokeDisallowed). A bad
// token is no reason to refuse public channels: it is just not kept.
func (l *loop) keepGrant(slot int32, r *httpmin.Request) {
	if t := l.token(r); t != nil {
		if grant, err := l.cfg.Auth.Verify(t, time.Now()); err == nil {
			l.conns.at(slot).grant = grant
		}
	}
}

// token finds the request's token: query parameter, cookie, or bearer.
func (l *loop) token(r *httpmin.Request) []byte {
	if len(l.tokenQuery) > 0 {
		return l.tokenQuery
	}
	if t := cookie(r.Header("Cookie"), l.cfg.TokenCookie); t != nil {
		return t
	}
	if a := r.Header("Authorization"); len(a) > 7 && bytes.EqualFold(a[:7], []byte("Bearer ")) {
		return bytes.TrimSpace(a[7:])
	}
	return nil
}

// cookie returns the value of cookie name in a Cookie header, or nil.
func cookie(header []byte, name string) []byte {
	for len(header) > 0 {
		var pair []byte
		pair, header, _ = bytes.Cut(header, []byte{';'})
		k, v, ok := bytes.Cut(bytes.TrimSpace(pair), []byte{'='})
		if ok && string(k) == name {
			return bytes.Trim(v, `"`)
		}
	}
	return nil
}

// expiredFrame tells a client why its stream ends: its token expired. The
// application fetches a new token and reconnects (with Last-Event-ID, so
// nothing is lost).
var expiredFrame = []byte("event: " + sse.ExpiredEvent + "\ndata: {\"reason\":\"token expired\"}\n\n")

// expire ends a stream whose token has expired.
func (l *loop) expire(slot int32) {
	if !l.enqueue(slot, expiredFrame) {
		return
	}
	l.flush(slot)
	c := l.conns.at(slot)
	if c.state != stateStreaming {
		return
	}
	if c.out.len() == 0 {
		l.linger(slot, CloseTokenExpired)
		return
	}
	l.awaitDrain(slot, CloseTokenExpired)
}
