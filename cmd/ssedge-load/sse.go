package main

import (
	"bytes"
	"errors"
)

// maxSSELine bounds a line the parser will carry between reads, so a
// server that never sends a newline cannot grow client memory.
const maxSSELine = 1 << 20

var errSSELineTooLong = errors.New("ssedge-load: SSE line longer than 1 MiB")

// sseEvent is one dispatched event. Its slices are valid only during the
// callback.
type sseEvent struct {
	ID   []byte // the last event id buffer (persists across events, per the spec)
	Type []byte // empty means "message"
	Data []byte // data lines joined by LF
}

// sseParser decodes a text/event-stream incrementally, following the
// WHATWG "event stream interpretation": lines end with CRLF, LF or CR;
// "field: value" lines fill the buffers; a line starting with ':' is a
// comment; a blank line dispatches the event if it has data. It is fed
// arbitrary pieces of the body and keeps only the partial last line.
type sseParser struct {
	line    []byte // partial line carried from the previous feed
	afterCR bool   // the previous byte was CR: a leading LF is part of that line end
	id      []byte
	typ     []byte
	data    []byte
	hasData bool
	ev      sseEvent // reused for every dispatch
}

// feed parses b, calling dispatch for each complete event.
func (p *sseParser) feed(b []byte, dispatch func(*sseEvent)) error {
	if p.afterCR && len(b) > 0 && b[0] == '\n' {
		b = b[1:]
	}
	p.afterCR = false
	for len(b) > 0 {
		i := bytes.IndexAny(b, "\r\n")
		if i < 0 {
			if len(p.line)+len(b) > maxSSELine {
				return errSSELineTooLong
			}
			p.line = append(p.line, b...)
			return nil
		}
		line := b[:i]
		if len(p.line) > 0 {
			p.line = append(p.line, line...)
			line = p.line
		}
		if b[i] == '\r' {
			if i+1 == len(b) {
				p.afterCR = true
			} else if b[i+1] == '\n' {
				i++
			}
		}
		b = b[i+1:]
		p.processLine(line, dispatch)
		p.line = p.line[:0]
	}
	return nil
}

func (p *sseParser) processLine(line []byte, dispatch func(*sseEvent)) {
	if len(line) == 0 {
		if p.hasData {
			p.ev = sseEvent{ID: p.id, Type: p.typ, Data: p.data}
			dispatch(&p.ev)
		}
		p.typ, p.data, p.hasData = p.typ[:0], p.data[:0], false
		return
	}
	if line[0] == ':' {
		return
	}
	field, value, found := bytes.Cut(line, []byte{':'})
	if found && len(value) > 0 && value[0] == ' ' {
		value = value[1:]
	}
	switch string(field) {
	case "data":
		if p.hasData {
			p.data = append(p.data, '\n')
		}
		p.data = append(p.data, value...)
		p.hasData = true
	case "event":
		p.typ = append(p.typ[:0], value...)
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			p.id = append(p.id[:0], value...)
		}
	}
	// "retry" and unknown fields are ignored.
}
