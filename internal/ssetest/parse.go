package ssetest

import (
	"errors"
	"strconv"
	"strings"
)

// maxLine bounds one line the parser carries, so a server that never ends
// a line fails the test instead of growing its memory.
const maxLine = 16 << 20

// ErrLineTooLong is returned for a line longer than 16 MiB.
var ErrLineTooLong = errors.New("ssetest: SSE line longer than 16 MiB")

// Frame is one block of an event stream: the lines up to a blank line.
type Frame struct {
	// Dispatched: the block had data, so an EventSource dispatches an
	// event for it. A block that is not is a control block (comments,
	// retry advice, an id alone).
	Dispatched bool
	// ID is the block's own id field (the last valid one), HasID whether
	// it had one.
	ID    string
	HasID bool
	// LastEventID is the spec's last event ID buffer when the block ended:
	// it persists across blocks, as the event's lastEventId does.
	LastEventID string
	// Event is the event type; "" means "message".
	Event string
	// Data is the data lines joined with LF.
	Data string
	// Retry is the reconnection time the block set in ms, or -1.
	Retry int
	// Comments are the block's comment lines, without the colon.
	Comments []string
	// Raw is the block's lines as received, each ended by LF (CR and CRLF
	// line ends normalised), without the blank line.
	Raw string
}

// Control reports a block that dispatches no event: a comment (a
// heartbeat), retry advice, an id alone.
func (f Frame) Control() bool { return !f.Dispatched }

// Parser runs the WHATWG event stream interpretation over bytes pushed one
// at a time. The zero value is ready; it keeps the last event ID buffer
// across frames, as one EventSource connection does.
type Parser struct {
	pos     int  // bytes of a leading BOM seen; len(bomUTF8) once past it
	afterCR bool // the last byte was CR: an LF now is part of that line end
	line    []byte
	lastID  string

	cur     Frame
	lines   int // lines in the current block
	data    strings.Builder
	hasData bool
}

const bomUTF8 = "\xef\xbb\xbf"

// Push feeds one byte; ok reports a completed frame, f.
func (p *Parser) Push(c byte) (f Frame, ok bool, err error) {
	if p.pos < len(bomUTF8) {
		// One leading BOM is dropped; bytes held back that turn out not to
		// be one (never CR or LF) are stream text.
		if c == bomUTF8[p.pos] {
			p.pos++
			return Frame{}, false, nil
		}
		held := bomUTF8[:p.pos]
		p.pos = len(bomUTF8)
		p.line = append(p.line, held...)
	}
	if p.afterCR {
		p.afterCR = false
		if c == '\n' {
			return Frame{}, false, nil
		}
	}
	switch c {
	case '\r':
		p.afterCR = true
		return p.endLine()
	case '\n':
		return p.endLine()
	}
	if len(p.line) >= maxLine {
		return Frame{}, false, ErrLineTooLong
	}
	p.line = append(p.line, c)
	return Frame{}, false, nil
}

// Partial is what the parser holds of a frame not yet complete, for error
// messages.
func (p *Parser) Partial() string { return p.cur.Raw + string(p.line) }

func (p *Parser) endLine() (Frame, bool, error) {
	line := string(p.line)
	p.line = p.line[:0]
	if line == "" {
		if p.lines == 0 {
			return Frame{}, false, nil // a blank line with no block: nothing to report
		}
		return p.dispatch(), true, nil
	}
	if p.lines == 0 {
		p.cur = Frame{Retry: -1}
	}
	p.lines++
	p.cur.Raw += line + "\n"
	if line[0] == ':' {
		p.cur.Comments = append(p.cur.Comments, line[1:])
		return Frame{}, false, nil
	}
	field, value, _ := strings.Cut(line, ":")
	value = strings.TrimPrefix(value, " ")
	switch field {
	case "event":
		p.cur.Event = value
	case "data":
		p.data.WriteString(value)
		p.data.WriteByte('\n')
		p.hasData = true
	case "id":
		if !strings.Contains(value, "\x00") {
			p.lastID = value
			p.cur.ID, p.cur.HasID = value, true
		}
	case "retry":
		if value != "" && strings.Trim(value, "0123456789") == "" {
			if n, err := strconv.Atoi(value); err == nil {
				p.cur.Retry = n
			}
		}
	}
	return Frame{}, false, nil
}

// dispatch ends the block: per the spec, an event only if the data buffer
// is not empty, with the buffer's last LF removed; the event type and data
// buffers start empty again.
func (p *Parser) dispatch() Frame {
	f := p.cur
	f.LastEventID = p.lastID
	if p.hasData {
		f.Dispatched = true
		f.Data = strings.TrimSuffix(p.data.String(), "\n")
	} else {
		f.Event = "" // the type buffer is reset without an event
	}
	p.cur = Frame{}
	p.data.Reset()
	p.hasData = false
	p.lines = 0
	return f
}

// Parse runs a fresh Parser over a whole stream and returns its frames. A
// last line without its line end, and a block without its closing blank
// line, are discarded, as at the end of a stream.
func Parse(stream []byte) ([]Frame, error) {
	var p Parser
	var out []Frame
	for _, c := range stream {
		f, ok, err := p.Push(c)
		if err != nil {
			return out, err
		}
		if ok {
			out = append(out, f)
		}
	}
	return out, nil
}

// Events is Parse keeping only the dispatched events.
func Events(stream []byte) ([]Frame, error) {
	frames, err := Parse(stream)
	var out []Frame
	for _, f := range frames {
		if f.Dispatched {
			out = append(out, f)
		}
	}
	return out, err
}
