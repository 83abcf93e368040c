package main

import (
	"bytes"
	"strconv"
)

// heartbeatFrame is the comment frame every subscriber shares.
var heartbeatFrame = []byte(":\n\n")

// appendFrame appends one SSE event to dst: an id line, an event line when
// event is not empty, one data line per line of data (CRLF and LF both end
// a line), and the blank line that dispatches it.
func appendFrame(dst []byte, id uint64, event string, data []byte) []byte {
	dst = append(dst, "id: "...)
	dst = strconv.AppendUint(dst, id, 10)
	dst = append(dst, '\n')
	if event != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, event...)
		dst = append(dst, '\n')
	}
	for {
		line, rest, more := bytes.Cut(data, []byte{'\n'})
		line = bytes.TrimSuffix(line, []byte{'\r'})
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
