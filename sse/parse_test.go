package sse

import (
	"strconv"
	"strings"
)

// parsedEvent is what an EventSource would dispatch: lastEventId, the event
// type ("" for the default "message") and data.
type parsedEvent struct {
	id, name, data string
}

// parseStream runs the WHATWG HTML "event stream interpretation" algorithm
// (§9.2.6) over a whole stream and returns the dispatched events and the
// last reconnection time set by "retry:" (-1 if none). A last line without
// its line ending, and an event without its closing blank line, are
// discarded as at end of stream.
func parseStream(stream []byte) (events []parsedEvent, retry int) {
	retry = -1
	var data, eventType strings.Builder
	var idBuf string // the spec's "last event ID buffer"
	s := string(stream)
	for {
		i := strings.IndexAny(s, "\r\n")
		if i < 0 {
			return events, retry
		}
		line := s[:i]
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			s = s[i+2:]
		} else {
			s = s[i+1:]
		}
		switch {
		case line == "":
			// Dispatch the event.
			lastEventID := idBuf
			if data.Len() == 0 {
				eventType.Reset()
				continue
			}
			d := strings.TrimSuffix(data.String(), "\n")
			events = append(events, parsedEvent{id: lastEventID, name: eventType.String(), data: d})
			data.Reset()
			eventType.Reset()
		case line[0] == ':':
			// Comment.
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "event":
				eventType.Reset()
				eventType.WriteString(value)
			case "data":
				data.WriteString(value)
				data.WriteByte('\n')
			case "id":
				if !strings.Contains(value, "\x00") {
					idBuf = value
				}
			case "retry":
				if value != "" && strings.Trim(value, "0123456789") == "" {
					if n, err := strconv.Atoi(value); err == nil {
						retry = n
					}
				}
			}
		}
	}
}

// normalizeLines turns "\r\n" and lone "\r" into "\n", as EventSource does.
func normalizeLines(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}
