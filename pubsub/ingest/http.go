package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/ssedge/ssedge/httpmin"
	"github.com/ssedge/ssedge/pubsub"
)

// discardLimit is the largest refused body the server reads and drops to
// keep a keep-alive connection usable; a larger one closes it.
const discardLimit = 64 << 20

// serveHTTP handles one HTTP request from a publisher.
func (s *Server) serveHTTP(c *conn) error {
	buf, err := peekUpTo(c.r, httpmin.MaxHeaderBytes+1)
	if err != nil {
		return err
	}
	head := 0
	status, reason := 0, ""
	for {
		n, perr := httpmin.Parse(buf, &c.req)
		if perr == nil {
			head = n
			break
		}
		if errors.Is(perr, httpmin.ErrBadTarget) {
			// A target the parser refuses (a bad %-escape, a character
			// outside RFC 3986) leaves the framing intact: refuse it but
			// keep the connection when the rest of the head is sound.
			n, more := s.parseAround(buf, &c.req)
			if n > 0 {
				head, status, reason = n, 400, perr.Error()
				break
			}
			if more && len(buf) <= httpmin.MaxHeaderBytes {
				perr = httpmin.ErrNeedMore
			}
		}
		if perr != httpmin.ErrNeedMore {
			s.refused.Add(1)
			return s.replyError(c, httpmin.StatusOf(perr), perr.Error(), false, "")
		}
		if buf, err = waitMore(c.r, len(buf), httpmin.MaxHeaderBytes+1); err != nil {
			return err
		}
	}
	req := &c.req
	keep := req.KeepAlive
	if req.Chunked {
		s.refused.Add(1)
		return s.replyError(c, 411, "chunked request bodies are not supported: send the event with a Content-Length", false, "")
	}
	size := int(max(req.ContentLength, 0))
	allow := ""
	if status == 0 {
		status, reason, allow = s.route(c, req)
	}
	if status == 0 && size > s.hub.MaxEventBytes() {
		status, reason = 413, fmt.Sprintf("%v: %d bytes, the limit is %d", pubsub.ErrEventTooLarge, size, s.hub.MaxEventBytes())
	}
	expect := false
	if e := req.Header("Expect"); e != nil {
		if !strings.EqualFold(string(e), "100-continue") {
			s.refused.Add(1)
			return s.replyError(c, 417, fmt.Sprintf("unsupported expectation %q: only 100-continue is understood", e), false, "")
		}
		expect = true
	}
	if _, err := c.r.Discard(head); err != nil {
		return err
	}
	if status != 0 {
		s.refused.Add(1)
		if expect || size > discardLimit {
			// The client has not sent (or we will not read) the body.
			return s.replyError(c, status, reason, false, allow)
		}
		if _, err := c.r.Discard(size); err != nil {
			return err
		}
		return s.replyError(c, status, reason, keep, allow)
	}
	if expect && size > 0 {
		c.reply([]byte("HTTP/1.1 100 Continue\r\n\r\n"))
	}
	data, err := c.payload(size)
	if err != nil {
		return err
	}
	c.key = append(c.key[:0], req.Header("Idempotency-Key")...)
	id, perr := s.publish(c, data)
	if perr != nil {
		return s.replyError(c, publishStatus(perr), perr.Error(), keep, "")
	}
	var idb [20]byte
	body := append(strconv.AppendUint(idb[:0], id, 10), '\n')
	c.out = append(c.out[:0], "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
	c.out = strconv.AppendInt(c.out, int64(len(body)), 10)
	if !keep {
		c.out = append(c.out, "\r\nConnection: close"...)
	}
	c.out = append(c.out, "\r\n\r\n"...)
	c.out = append(c.out, body...)
	if err := c.reply(c.out); err != nil {
		return err
	}
	if !keep {
		return errHangUp
	}
	return nil
}

// parseAround parses a head whose request target the parser refused, with
// the target replaced by "/", and returns the head's length in buf, or 0
// when the head is unsound apart from its target, or (0, true) when it has
// not all arrived. req then holds the head's framing (Content-Length,
// keep-alive, Expect). Only refused heads come here, so the copy is no
// burden.
func (s *Server) parseAround(buf []byte, req *httpmin.Request) (n int, more bool) {
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		return 0, true
	}
	line := buf[:bytes.IndexByte(buf, '\n')+1]
	sp1 := bytes.IndexByte(line, ' ')
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp1 < 0 || sp2 <= sp1 {
		return 0, false
	}
	scratch := make([]byte, 0, end+4)
	scratch = append(scratch, line[:sp1+1]...)
	scratch = append(scratch, '/')
	scratch = append(scratch, buf[sp2:end+4]...)
	if _, err := httpmin.Parse(scratch, req); err != nil {
		return 0, false
	}
	return end + 4, false
}

// route checks the method, path and query of a publish and decodes its
// channel and event name into c. It returns a refusal status and reason,
// or 0, and for 405 the Allow header's value.
func (s *Server) route(c *conn, req *httpmin.Request) (int, string, string) {
	if string(req.Path) != "/publish" {
		return 404, fmt.Sprintf("no such endpoint %q: publish with POST /publish?channel=NAME", req.Path), ""
	}
	if req.Method != httpmin.MethodPOST {
		return 405, fmt.Sprintf("method %q not allowed on /publish: use POST", req.MethodName), "POST"
	}
	c.chan_, c.event = c.chan_[:0], c.event[:0]
	channels := 0
	for q := req.RawQuery; len(q) > 0; {
		var k, v []byte
		var err error
		k, v, q = httpmin.NextParam(q)
		switch string(k) {
		case "channel":
			channels++
			c.chan_, err = httpmin.Unescape(c.chan_[:0], v)
		case "event":
			c.event, err = httpmin.Unescape(c.event[:0], v)
		}
		if err != nil {
			return 400, fmt.Sprintf("query parameter %s=%q: %v", k, v, err), ""
		}
	}
	switch {
	case channels == 0:
		return 400, pubsub.ErrNoChannel.Error() + ": publish with POST /publish?channel=NAME", ""
	case channels > 1:
		return 400, "one channel per publish: give channel= once", ""
	}
	return 0, "", ""
}

// replyError queues an error response; without keep the connection then
// closes.
func (s *Server) replyError(c *conn, status int, reason string, keep bool, allow string) error {
	s.noteRefusal(reason)
	s.countRefusal(c, status, reason)
	c.out = httpmin.AppendError(c.out[:0], status, reason, keep, allow)
	if err := c.reply(c.out); err != nil {
		return err
	}
	if !keep {
		return errHangUp
	}
	return nil
}

// publishStatus maps a Publish error to an HTTP status.
func publishStatus(err error) int {
	switch {
	case errors.Is(err, pubsub.ErrEventTooLarge):
		return 413
	case errors.Is(err, pubsub.ErrClosed), errors.Is(err, pubsub.ErrUnavailable):
		return 503
	case errors.Is(err, ErrNotAllowed):
		return 403
	}
	return 400
}
