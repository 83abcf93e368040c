package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"github.com/ssedge/ssedge/pubsub"
)

// maxLine bounds a line-protocol command line (not its payload).
const maxLine = 1024

// serveLine handles one line-protocol command (see docs/protocol.md):
//
//	PUB <channel> [<event>] <bytes>\r\n<payload>\r\n   ->  +OK <id>\r\n | -ERR <reason>\r\n
//	PING\r\n                                           ->  +PONG\r\n
//
// A bare \n is accepted wherever \r\n is. A command that keeps its framing
// (its byte count is readable and its payload ends with a line end: a bad
// or missing channel, a bad event name, too many words, a too-large
// payload, an unknown verb) gets -ERR and the connection goes on; one
// whose framing is lost (no byte count, a payload not followed by a line
// end, an over-long line) gets -ERR and is closed.
func (s *Server) serveLine(c *conn) error {
	buf, err := peekUpTo(c.r, maxLine+1)
	if err != nil {
		return err
	}
	end := -1
	for {
		if end = bytes.IndexByte(buf[:min(len(buf), maxLine+1)], '\n'); end >= 0 {
			break
		}
		if len(buf) > maxLine {
			return s.lineError(c, fmt.Sprintf("command line longer than %d bytes", maxLine), true)
		}
		if buf, err = waitMore(c.r, len(buf), maxLine+1); err != nil {
			return err
		}
	}
	line := bytes.TrimSuffix(buf[:end], []byte{'\r'})
	verb, args, _ := bytes.Cut(line, []byte{' '})
	switch string(verb) {
	case "PING":
		c.r.Discard(end + 1)
		return c.reply([]byte("+PONG\r\n"))
	case "PUB":
	default:
		reason := fmt.Sprintf("unknown command %q: expected PUB or PING", verb)
		c.r.Discard(end + 1)
		s.refused.Add(1)
		return s.lineError(c, reason, false)
	}
	f := bytes.Fields(args)
	if len(f) == 0 {
		reason := fmt.Sprintf("malformed PUB %q: expected PUB <channel> [<event>] <bytes>", args)
		c.r.Discard(end + 1)
		s.refused.Add(1)
		return s.lineError(c, reason, true)
	}
	c.key = c.key[:0]
	emptyKey := false
	if k, ok := bytes.CutPrefix(f[len(f)-1], []byte("key=")); ok && len(f) > 1 {
		c.key = append(c.key, k...) // the idempotency key extension (publisher.go)
		emptyKey = len(k) == 0
		f = f[:len(f)-1]
	}
	count := f[len(f)-1]
	size, perr := strconv.Atoi(string(count))
	if perr != nil || size < 0 {
		reason := fmt.Sprintf("PUB byte count %q is not a non-negative integer", count)
		c.r.Discard(end + 1)
		s.refused.Add(1)
		return s.lineError(c, reason, true)
	}
	// The byte count is known: from here on the framing holds, so a refusal
	// reads past the payload and keeps the connection.
	refusal := ""
	switch {
	case len(f) == 1:
		refusal = fmt.Sprintf("%v: PUB %q: expected PUB <channel> [<event>] <bytes>", pubsub.ErrNoChannel, args)
	case len(f) > 3:
		refusal = fmt.Sprintf("malformed PUB %q: expected PUB <channel> [<event>] <bytes> (names have no spaces)", args)
	case emptyKey:
		refusal = fmt.Sprintf("empty idempotency key in PUB %q: expected key=KEY, 1 to %d printable bytes", args, maxKey)
	case size > s.hub.MaxEventBytes():
		refusal = fmt.Sprintf("%v: %d bytes, the limit is %d", pubsub.ErrEventTooLarge, size, s.hub.MaxEventBytes())
	}
	c.chan_ = append(c.chan_[:0], f[0]...)
	c.event = c.event[:0]
	if len(f) == 3 {
		c.event = append(c.event, f[1]...)
	}
	if _, err := c.r.Discard(end + 1); err != nil {
		return err
	}
	if refusal != "" {
		s.refused.Add(1)
		if size > discardLimit {
			return s.lineError(c, refusal, true)
		}
		if _, err := c.r.Discard(size); err != nil {
			return err
		}
		if err := s.skipLineEnd(c); err != nil {
			return s.framingLost(c, err, "")
		}
		return s.lineError(c, refusal, false)
	}
	// The whole command, line end included, must be in before anything is
	// published: a publisher cut off mid-command gets no id, so nothing may
	// go out that it would retry.
	data, err := c.payload(size)
	if err != nil {
		return err
	}
	if err := s.skipLineEnd(c); err != nil {
		s.refused.Add(1)
		return s.framingLost(c, err, "; nothing was published")
	}
	if async, err := s.sendLine(c, data); async {
		return err
	}
	id, perr := s.publish(c, data)
	if perr != nil {
		return s.lineError(c, perr.Error(), false)
	}
	c.out = append(c.out[:0], "+OK "...)
	c.out = strconv.AppendUint(c.out, id, 10)
	c.out = append(c.out, "\r\n"...)
	return c.reply(c.out)
}

// errLineEnd is the framing error of a payload not followed by a line end.
type errLineEnd []byte

func (e errLineEnd) Error() string {
	return fmt.Sprintf("payload not followed by \\r\\n (got %q): check the PUB byte count", []byte(e))
}

// skipLineEnd consumes the \r\n or \n that ends a payload. A read error
// (the publisher went away) is returned as it is; a wrong byte is an
// errLineEnd.
func (s *Server) skipLineEnd(c *conn) error {
	b, err := c.r.Peek(1)
	if err != nil {
		return err
	}
	if b[0] == '\n' {
		c.r.Discard(1)
		return nil
	}
	if b[0] == '\r' {
		if b, err = c.r.Peek(2); err != nil {
			return err
		}
		if b[1] == '\n' {
			c.r.Discard(2)
			return nil
		}
	}
	return errLineEnd(append([]byte(nil), b[:min(len(b), 2)]...))
}

// framingLost answers a payload without its line end with -ERR and
// closes; a read error (the publisher went away) just closes.
func (s *Server) framingLost(c *conn, err error, note string) error {
	var le errLineEnd
	if !errors.As(err, &le) {
		return err
	}
	return s.lineError(c, le.Error()+note, true)
}

// lineError replies -ERR reason; with hangUp the connection then closes.
func (s *Server) lineError(c *conn, reason string, hangUp bool) error {
	s.noteRefusal(reason)
	s.countRefusal(c, 0, reason)
	c.out = append(c.out[:0], "-ERR "...)
	c.out = append(c.out, bytes.ReplaceAll([]byte(reason), []byte("\n"), []byte(" "))...)
	c.out = append(c.out, "\r\n"...)
	if err := c.reply(c.out); err != nil {
		return err
	}
	if hangUp {
		return errHangUp
	}
	return nil
}
