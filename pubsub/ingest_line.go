package pubsub

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/cloudwego/netpoll"
)

// maxLine bounds a line-protocol command line (not its payload).
const maxLine = 1024

// serveLine handles one line-protocol command (see docs/publish.md):
//
//	PUB <channel> [<event>] <bytes>\r\n<payload>\r\n   ->  +OK <id>\r\n | -ERR <reason>\r\n
//	PING\r\n                                           ->  +PONG\r\n
//
// A bare \n is accepted wherever \r\n is. A command that keeps its framing
// (a bad channel, a too-large payload, an unknown verb) gets -ERR and the
// connection goes on; one whose framing is lost (no byte count, a payload
// not followed by a line end, an over-long line) gets -ERR and is closed.
func (in *Ingest) serveLine(ic *ingestConn, r netpoll.Reader, w netpoll.Writer) error {
	buf, err := peekUpTo(r, maxLine+1)
	if err != nil {
		return err
	}
	end := -1
	for {
		if end = bytes.IndexByte(buf[:min(len(buf), maxLine+1)], '\n'); end >= 0 {
			break
		}
		if len(buf) > maxLine {
			return in.lineError(ic, w, fmt.Sprintf("command line longer than %d bytes", maxLine), true)
		}
		if buf, err = waitMore(r, w, len(buf), maxLine+1); err != nil {
			return err
		}
	}
	line := bytes.TrimSuffix(buf[:end], []byte{'\r'})
	verb, args, _ := bytes.Cut(line, []byte{' '})
	switch string(verb) {
	case "PING":
		r.Skip(end + 1)
		_, err := w.WriteString("+PONG\r\n")
		return err
	case "PUB":
	default:
		r.Skip(end + 1)
		in.refused.Add(1)
		return in.lineError(ic, w, fmt.Sprintf("unknown command %q: expected PUB or PING", verb), false)
	}
	f := bytes.Fields(args)
	if len(f) < 2 || len(f) > 3 {
		r.Skip(end + 1)
		in.refused.Add(1)
		return in.lineError(ic, w, fmt.Sprintf("malformed PUB %q: expected PUB <channel> [<event>] <bytes>", args), true)
	}
	size, perr := strconv.Atoi(string(f[len(f)-1]))
	if perr != nil || size < 0 {
		r.Skip(end + 1)
		in.refused.Add(1)
		return in.lineError(ic, w, fmt.Sprintf("PUB byte count %q is not a non-negative integer", f[len(f)-1]), true)
	}
	ic.chan_ = append(ic.chan_[:0], f[0]...)
	ic.event = ic.event[:0]
	if len(f) == 3 {
		ic.event = append(ic.event, f[1]...)
	}
	if err := r.Skip(end + 1); err != nil {
		return err
	}
	if size > in.hub.maxData {
		in.refused.Add(1)
		if size > discardLimit {
			return in.lineError(ic, w, fmt.Sprintf("%v: %d bytes, the limit is %d", ErrEventTooLarge, size, in.hub.maxData), true)
		}
		if err := discard(r, w, size); err != nil {
			return err
		}
		if err := skipLineEnd(r, w); err != nil {
			return in.lineError(ic, w, err.Error(), true)
		}
		return in.lineError(ic, w, fmt.Sprintf("%v: %d bytes, the limit is %d", ErrEventTooLarge, size, in.hub.maxData), false)
	}
	// The whole command, line end included, must be in before anything is
	// published: a publisher cut off mid-command gets no id, so nothing may
	// go out that it would retry.
	data, err := need(r, w, size+1)
	if err != nil {
		return err
	}
	tail := 0 // the line end's length
	switch data[size] {
	case '\n':
		tail = 1
	case '\r':
		if data, err = need(r, w, size+2); err != nil {
			return err
		}
		if data[size+1] == '\n' {
			tail = 2
		}
	}
	if tail == 0 {
		in.refused.Add(1)
		return in.lineError(ic, w, fmt.Sprintf("payload not followed by \\r\\n (got %q): check the PUB byte count; nothing was published", data[size:min(len(data), size+2)]), true)
	}
	id, perr := in.publish(ic.chan_, ic.event, data[:size])
	if err := r.Skip(size + tail); err != nil {
		return err
	}
	if perr != nil {
		return in.lineError(ic, w, perr.Error(), false)
	}
	return in.lineOK(ic, w, id)
}

// skipLineEnd consumes the \r\n or \n that ends a payload.
func skipLineEnd(r netpoll.Reader, w netpoll.Writer) error {
	b, err := need(r, w, 1)
	if err != nil {
		return err
	}
	if b[0] == '\n' {
		return r.Skip(1)
	}
	if b[0] == '\r' {
		if b, err = need(r, w, 2); err != nil {
			return err
		}
		if b[1] == '\n' {
			return r.Skip(2)
		}
	}
	return fmt.Errorf("payload not followed by \\r\\n (got %q): check the PUB byte count", b[:min(len(b), 2)])
}

func (in *Ingest) lineOK(ic *ingestConn, w netpoll.Writer, id uint64) error {
	ic.out = append(ic.out[:0], "+OK "...)
	ic.out = strconv.AppendUint(ic.out, id, 10)
	ic.out = append(ic.out, "\r\n"...)
	return reply(w, ic.out)
}

// lineError replies -ERR reason; with hangUp the connection then closes.
func (in *Ingest) lineError(ic *ingestConn, w netpoll.Writer, reason string, hangUp bool) error {
	in.noteRefusal(reason)
	ic.out = append(ic.out[:0], "-ERR "...)
	ic.out = append(ic.out, bytes.ReplaceAll([]byte(reason), []byte("\n"), []byte(" "))...)
	ic.out = append(ic.out, "\r\n"...)
	if err := reply(w, ic.out); err != nil {
		return err
	}
	if hangUp {
		return errHangUp
	}
	return nil
}
