package main

import (
	"bytes"
	"strconv"
)

// An event's data identifies the run and the event and carries its send
// time, padded with 'x' to the requested size:
//
//	run=8512093 seq=3 t=1790000000000000000 xxxxxxxx...
//
// The run number keeps events of an earlier run on the same server (the
// compare script reuses one) from counting as this run's.

// appendPayload appends the data of event seq of run, sent at sentNs
// (unix nanoseconds), padded to size bytes when size is larger.
func appendPayload(dst []byte, run uint64, seq int, sentNs int64, size int) []byte {
	start := len(dst)
	dst = append(dst, "run="...)
	dst = strconv.AppendUint(dst, run, 10)
	dst = append(dst, " seq="...)
	dst = strconv.AppendInt(dst, int64(seq), 10)
	dst = append(dst, " t="...)
	dst = strconv.AppendInt(dst, sentNs, 10)
	if len(dst)-start < size {
		dst = append(dst, ' ')
		for len(dst)-start < size {
			dst = append(dst, 'x')
		}
	}
	return dst
}

// parsePayload is appendPayload's inverse. It does not allocate.
func parsePayload(data []byte) (run uint64, seq int, sentNs int64, ok bool) {
	var v uint64
	if v, data, ok = payloadField(data, "run="); !ok {
		return
	}
	run = v
	if v, data, ok = payloadField(data, "seq="); !ok {
		return
	}
	seq = int(v)
	if v, _, ok = payloadField(data, "t="); !ok {
		return
	}
	return run, seq, int64(v), true
}

// payloadField parses `name` followed by a decimal number ending at a
// space or the end of data, and returns the rest after the space.
func payloadField(data []byte, name string) (v uint64, rest []byte, ok bool) {
	if !bytes.HasPrefix(data, []byte(name)) {
		return 0, nil, false
	}
	data = data[len(name):]
	n := 0
	for n < len(data) && data[n] >= '0' && data[n] <= '9' {
		if v > (1<<63)/10 {
			return 0, nil, false
		}
		v = v*10 + uint64(data[n]-'0')
		n++
	}
	if n == 0 || (n < len(data) && data[n] != ' ') {
		return 0, nil, false
	}
	if n < len(data) {
		n++
	}
	return v, data[n:], true
}
