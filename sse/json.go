package sse

import (
	"bytes"
	"strconv"
	"unicode/utf8"
)

// AppendEventJSON appends the event in frame (as AppendEvent formats it)
// as a JSON object {"id":N,"channel":"...","event":"...","data":"..."} for
// the long-poll answer. data is the frame's data lines joined by "\n" —
// what an EventSource would hand the page; "event" is omitted for unnamed
// events. Invalid UTF-8 becomes U+FFFD so the document stays valid JSON.
func AppendEventJSON(dst, frame []byte, channel string) []byte {
	var id, name []byte
	dst = append(dst, '{')
	dataStart := -1
	for len(frame) > 0 {
		line, rest, _ := bytes.Cut(frame, []byte{'\n'})
		frame = rest
		field, value, _ := bytes.Cut(line, []byte{':'})
		value = bytes.TrimPrefix(value, []byte{' '})
		switch string(field) {
		case "id":
			id = value
		case "event":
			name = value
		case "data":
			if dataStart < 0 {
				dst = append(dst, `"id":`...)
				dst = append(dst, id...)
				dst = append(dst, `,"channel":`...)
				dst = AppendJSONString(dst, channel)
				if name != nil {
					dst = append(dst, `,"event":`...)
					dst = AppendJSONString(dst, string(name))
				}
				dst = append(dst, `,"data":"`...)
				dataStart = len(dst)
			} else {
				dst = append(dst, `\n`...)
			}
			dst = appendJSONBody(dst, value)
		}
	}
	if dataStart < 0 {
		dst = append(dst, `"id":`...)
		dst = append(dst, id...)
		dst = append(dst, `,"data":"`...)
	}
	return append(dst, `"}`...)
}

// AppendJSONString appends s as a quoted JSON string.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendJSONBody(dst, []byte(s))
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

func appendJSONBody(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, `\n`...)
			case c == '\r':
				dst = append(dst, `\r`...)
			case c == '\t':
				dst = append(dst, `\t`...)
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				// < > & escaped too, so the JSON is safe inside HTML.
				dst = append(dst, `\u00`...)
				dst = append(dst, hexDigits[c>>4], hexDigits[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, `\u202`...)
			dst = strconv.AppendInt(dst, int64(r&0xf), 16)
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return dst
}
