package sse

import (
	"bytes"
	"strconv"
)

// Heartbeat is the shared heartbeat frame: an empty comment line and the
// blank line that closes the block. EventSource ignores it; it exists to
// keep proxies and NAT tables from timing out an idle stream and to surface
// dead peers to the writer. It is read-only and shared by every connection;
// its capacity equals its length, so an append by mistake copies rather
// than writes into it.
var Heartbeat = []byte(":\n\n")[:3:3]

// AppendEvent appends one complete event frame to dst and returns the
// extended buffer:
//
//	id: <id>\n
//	event: <name>\n        (only when name is non-empty)
//	data: <line>\n         (once per line of data, at least once)
//	\n
//
// Lines of data end at "\r\n", a lone "\r" or a lone "\n", as an
// EventSource splits them, and each becomes its own "data: " line, so the
// browser's MessageEvent.data is data with every line ending turned into
// "\n". A trailing line ending therefore survives ("a\n" is sent as
// "data: a\ndata: \n"), and empty data is sent as one "data: \n", which the
// browser dispatches as an event whose data is "".
//
// name must have passed ValidEventName; AppendEvent does not check it, and a
// name holding CR or LF would forge fields. It does not allocate when dst
// has EventLen(id, name, data) bytes of spare capacity.
func AppendEvent(dst []byte, id uint64, name, data []byte) []byte {
	dst = append(dst, "id: "...)
	dst = strconv.AppendUint(dst, id, 10)
	dst = append(dst, '\n')
	if len(name) > 0 {
		dst = append(dst, "event: "...)
		dst = append(dst, name...)
		dst = append(dst, '\n')
	}
	for {
		line, rest, more := cutLine(data)
		dst = append(dst, "data: "...)
		dst = append(dst, line...)
		dst = append(dst, '\n')
		if !more {
			break
		}
		data = rest
	}
	return append(dst, '\n')
}

// EventLen returns exactly len(AppendEvent(nil, id, name, data)), so a
// caller can size the shared frame with one allocation.
func EventLen(id uint64, name, data []byte) int {
	n := len("id: ") + uintLen(id) + len("\n")
	if len(name) > 0 {
		n += len("event: ") + len(name) + len("\n")
	}
	for {
		line, rest, more := cutLine(data)
		n += len("data: ") + len(line) + len("\n")
		if !more {
			break
		}
		data = rest
	}
	return n + len("\n")
}

// AppendRetry appends "retry: <ms>\n\n", which sets the browser's reconnect
// delay. The blank line makes the frame self-contained; it dispatches
// nothing because no data precedes it. A negative ms is sent as 0.
func AppendRetry(dst []byte, ms int) []byte {
	dst = append(dst, "retry: "...)
	dst = strconv.AppendUint(dst, uint64(max(ms, 0)), 10)
	return append(dst, "\n\n"...)
}

// cutLine splits b at its first line ending ("\r\n", "\r" or "\n"),
// returning the line without its ending, what follows, and whether an
// ending was found.
func cutLine(b []byte) (line, rest []byte, more bool) {
	seg := b
	lf := bytes.IndexByte(b, '\n')
	if lf >= 0 {
		seg = b[:lf]
	}
	if cr := bytes.IndexByte(seg, '\r'); cr >= 0 {
		if cr+1 < len(b) && b[cr+1] == '\n' {
			return b[:cr], b[cr+2:], true
		}
		return b[:cr], b[cr+1:], true
	}
	if lf >= 0 {
		return b[:lf], b[lf+1:], true
	}
	return b, nil, false
}

// uintLen is the number of decimal digits in v.
func uintLen(v uint64) int {
	n := 1
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}
