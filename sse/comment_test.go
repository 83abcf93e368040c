package sse

// appendComment appends text as a comment block: one ": <line>" per line of
// text (split like AppendEvent's data, so CR and LF can never end the
// comment early), then a blank line. Empty text, and empty lines within it,
// become a bare ":". EventSource ignores comments; they are for people
// reading the stream with curl. Only tests write comments
// other than Heartbeat, so this lives here.
func appendComment(dst []byte, text []byte) []byte {
	for {
		line, rest, more := cutLine(text)
		dst = append(dst, ':')
		if len(line) > 0 {
			dst = append(dst, ' ')
			dst = append(dst, line...)
		}
		dst = append(dst, '\n')
		if !more {
			break
		}
		text = rest
	}
	return append(dst, '\n')
}
