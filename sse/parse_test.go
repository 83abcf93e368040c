package sse

import (
	"strings"

	"github.com/ssedge/ssedge/internal/ssetest"
)

// parsedEvent is what an EventSource would dispatch: lastEventId, the event
// type ("" for the default "message") and data.
type parsedEvent struct {
	id, name, data string
}

// parseStream runs the WHATWG event stream interpretation (ssetest's
// parser) over a whole stream and returns the dispatched events and the
// last reconnection time set by "retry:" (-1 if none). A last line without
// its line ending, and an event without its closing blank line, are
// discarded as at end of stream.
func parseStream(stream []byte) (events []parsedEvent, retry int) {
	retry = -1
	frames, err := ssetest.Parse(stream)
	if err != nil {
		panic(err) // only a line over 16 MiB, which no test here writes
	}
	for _, f := range frames {
		if f.Retry >= 0 {
			retry = f.Retry
		}
		if f.Dispatched {
			events = append(events, parsedEvent{id: f.LastEventID, name: f.Event, data: f.Data})
		}
	}
	return events, retry
}

// normalizeLines turns "\r\n" and lone "\r" into "\n", as EventSource does.
func normalizeLines(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}
