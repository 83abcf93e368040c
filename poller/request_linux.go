package poller

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/ssedge/ssedge/httpmin"
	"github.com/ssedge/ssedge/pubsub"
	"github.com/ssedge/ssedge/sse"
)

const allowEvents = "GET, HEAD, OPTIONS"

// handle routes one parsed request.
func (l *loop) handle(slot int32, r *httpmin.Request) {
	if l.drain.phase != drainOff {
		l.refuseDraining(slot, r)
		return
	}
	if string(r.Path) == "/poll" && r.Method != httpmin.MethodOPTIONS {
		if r.Method != httpmin.MethodGET {
			l.refuseFrom(slot, r, 405, fmt.Sprintf("method %q not allowed on /poll: use GET", r.MethodName), "GET, OPTIONS")
			return
		}
		l.longPoll(slot, r)
		return
	}
	if string(r.Path) != "/events" && string(r.Path) != "/poll" {
		l.refuseFrom(slot, r, 404, fmt.Sprintf("no such endpoint %q: subscribe with GET /events?channel=NAME (or long-poll GET /poll?channel=NAME)", r.Path), "")
		return
	}
	switch r.Method {
	case httpmin.MethodGET, httpmin.MethodHEAD:
		l.subscribe(slot, r)
	case httpmin.MethodOPTIONS:
		after := CloseDone
		if r.KeepAlive && r.ContentLength <= 0 && !r.Chunked {
			after = CloseNone
		}
		l.out = sse.AppendPreflight(l.out[:0], l.cfg.CORS, r.Origin, after == CloseNone)
		l.respond(slot, l.out, after)
	default:
		l.refuseFrom(slot, r, 405, fmt.Sprintf("method %q not allowed on %s: use GET", r.MethodName, r.Path), allowEvents)
	}
}

// subscribe validates the channels of a GET /events, sends the stream head
// and joins the channels. From here on the connection keeps no read buffer.
func (l *loop) subscribe(slot int32, r *httpmin.Request) {
	last, resume, ok := l.parseSubscription(slot, r)
	if !ok {
		return
	}
	l.out = sse.AppendStreamHead(l.out[:0], l.cfg.CORS, r.Origin)
	if r.Method == httpmin.MethodHEAD {
		l.respond(slot, l.out, CloseDone)
		return
	}
	l.out = sse.AppendRetry(l.out, int(l.cfg.Retry/time.Millisecond))
	c := l.conns.at(slot)
	c.state = stateStreaming
	c.rbuf = nil
	c.subs = make([]subRef, 0, len(l.nameEnd)) // non-nil: counted as a subscriber
	c.subscriber = true
	l.stats.subscribers.Add(1)
	if resume {
		l.prepareReplay(slot, last)
	}
	if !l.send(slot, l.out) {
		return
	}
	if resume {
		l.startReplay(slot)
		return
	}
	start := 0
	for _, end := range l.nameEnd {
		l.join(slot, l.names[start:end])
		start = end
	}
}

// parseSubscription reads what /events and /poll share — no body, the
// channels, the id to resume from — into the loop's scratch (l.names,
// l.nameEnd, l.timeoutQuery). On a bad request it refuses and returns
// false.
func (l *loop) parseSubscription(slot int32, r *httpmin.Request) (last uint64, resume, ok bool) {
	// The request is in: its head deadline no longer applies (authorize
	// may set the token's expiry instead).
	l.conns.at(slot).deadline = 0
	msg := ""
	if r.ContentLength > 0 || r.Chunked {
		msg = fmt.Sprintf("a %s request must not have a body", r.Path)
	} else if msg = l.parseChannels(r.RawQuery); msg == "" {
		last, resume, msg = l.resumeFrom(r)
	}
	if msg != "" {
		l.refuseFrom(slot, r, 400, msg, "")
		return 0, false, false
	}
	if status, why := l.authorize(slot, r); status != 0 {
		l.refuseFrom(slot, r, status, why, "")
		return 0, false, false
	}
	c := l.conns.at(slot)
	l.releasePerIP(slot) // a keep-alive connection's previous request, under its own client
	c.client = l.clientOf(c.peer, r)
	if l.cfg.MaxConnsPerIP > 0 {
		if !l.srv.admitIP(c.client, l.cfg.MaxConnsPerIP) {
			l.overLimit(slot, r, 429, fmt.Sprintf("too many connections from %s: the limit is %d", c.client, l.cfg.MaxConnsPerIP))
			return 0, false, false
		}
		c.perIP = true
	}
	if !l.admitChannels(slot, r) {
		return 0, false, false
	}
	if ce := l.log.Check(zap.DebugLevel, "subscribe"); ce != nil {
		// Not the raw query: it may carry a token.
		ce.Write(zap.Stringer("client", c.client), zap.ByteString("path", r.Path), zap.Int("channels", len(l.nameEnd)))
	}
	return last, resume, true
}

// clientOf is the client a request speaks for: when peer (the socket peer,
// or what a PROXY header announced for the whole connection) is a trusted
// proxy, X-Real-IP, else the nearest untrusted hop of X-Forwarded-For; else
// peer itself — anyone else's headers are ignored. Computed per request:
// a proxy's keep-alive connection carries many clients.
func (l *loop) clientOf(peer netip.Addr, r *httpmin.Request) netip.Addr {
	mode := l.cfg.ClientIPHeader
	if !l.trusted(peer) || mode == ClientIPNone {
		return peer
	}
	if mode != ClientIPForwardedFor {
		if v := r.Header("X-Real-IP"); v != nil {
			if a, err := netip.ParseAddr(string(bytes.TrimSpace(v))); err == nil {
				return a.Unmap()
			}
		}
		if mode == ClientIPRealIP {
			return peer
		}
	}
	client := peer
	xff := r.Header("X-Forwarded-For")
	for len(xff) > 0 {
		i := bytes.LastIndexByte(xff, ',')
		hop := bytes.TrimSpace(xff[i+1:])
		xff = xff[:max(i, 0)]
		a, err := netip.ParseAddr(string(hop))
		if err != nil {
			return peer // a garbled chain: count it against the proxy that sent it
		}
		client = a.Unmap()
		if !l.trusted(client) || i < 0 {
			return client
		}
	}
	return client
}

// resumeFrom reads the id a client resumes from: the Last-Event-ID header,
// else the lastEventId query parameter (for clients that cannot set
// headers; an EventSource reconnecting sends the header, which is newer
// than the id in its URL). An empty value means no resume.
func (l *loop) resumeFrom(r *httpmin.Request) (id uint64, ok bool, msg string) {
	v := r.LastEventID
	if len(v) == 0 {
		v = l.lastQuery
	}
	if len(v) == 0 {
		return 0, false, ""
	}
	id, err := strconv.ParseUint(string(v), 10, 64)
	if err != nil || id > pubsub.MaxID {
		return 0, false, fmt.Sprintf("Last-Event-ID %q is not an ssedge event id: expected a decimal integer below 2^53", v)
	}
	return id, true, ""
}

// parseChannels decodes the channel parameters of query into l.names /
// l.nameEnd, dropping repeats. It returns a refusal reason, or "".
func (l *loop) parseChannels(query []byte) string {
	l.names, l.nameEnd, l.lastQuery, l.timeoutQuery, l.tokenQuery = l.names[:0], l.nameEnd[:0], l.lastQuery[:0], l.timeoutQuery[:0], l.tokenQuery[:0]
	for q := query; len(q) > 0; {
		var k, v []byte
		k, v, q = httpmin.NextParam(q)
		if string(k) == "token" {
			var err error
			if l.tokenQuery, err = httpmin.Unescape(l.tokenQuery[:0], v); err != nil {
				return "token parameter: bad %-escape"
			}
			continue
		}
		if string(k) == "timeout" {
			var err error
			if l.timeoutQuery, err = httpmin.Unescape(l.timeoutQuery[:0], v); err != nil {
				return fmt.Sprintf("timeout parameter %q: %v", v, err)
			}
			continue
		}
		if string(k) == "lastEventId" {
			var err error
			if l.lastQuery, err = httpmin.Unescape(l.lastQuery[:0], v); err != nil {
				return fmt.Sprintf("lastEventId parameter %q: %v", v, err)
			}
			continue
		}
		if string(k) != "channel" {
			continue
		}
		start := len(l.names)
		var err error
		l.names, err = httpmin.Unescape(l.names, v)
		if err != nil {
			return fmt.Sprintf("channel parameter %q: %v", v, err)
		}
		name := l.names[start:]
		if err := sse.ValidChannelName(name); err != nil {
			return err.Error()
		}
		if l.hasName(name, start) {
			l.names = l.names[:start]
			continue
		}
		if len(l.nameEnd) == l.cfg.MaxChannels {
			return fmt.Sprintf("too many channels: the limit is %d per connection", l.cfg.MaxChannels)
		}
		l.nameEnd = append(l.nameEnd, len(l.names))
	}
	if len(l.nameEnd) == 0 {
		return "no channel given: subscribe with /events?channel=NAME (repeat channel= for more)"
	}
	return ""
}

// hasName reports whether name is among the names decoded before offset end.
func (l *loop) hasName(name []byte, end int) bool {
	start := 0
	for _, e := range l.nameEnd {
		if e > end {
			break
		}
		if bytes.Equal(l.names[start:e], name) {
			return true
		}
		start = e
	}
	return false
}
