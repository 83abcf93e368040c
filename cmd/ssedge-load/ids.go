package main

import (
	"bytes"
	"fmt"
	"strconv"
)

// parseID reads an event id: ssedge's and the net/http peer's decimal ids,
// or Nchan's "TIME:N" (seconds, then a counter within the second), mapped
// to TIME<<16|N so that Nchan's ids compare in their order too.
func parseID(b []byte) (uint64, error) {
	t, n, ok := bytes.Cut(b, []byte{':'})
	if !ok {
		return strconv.ParseUint(string(b), 10, 64)
	}
	sec, err := strconv.ParseUint(string(t), 10, 47)
	if err != nil {
		return 0, err
	}
	cnt, err := strconv.ParseUint(string(n), 10, 16)
	if err != nil {
		return 0, err
	}
	return sec<<16 | cnt, nil
}

// publishedID finds the event's id in a publish answer: the whole body
// (ssedge, the net/http peer) or Nchan's "last message id: TIME:N" line.
func publishedID(body []byte) (uint64, error) {
	body = bytes.TrimSpace(body)
	if i := bytes.Index(body, []byte("last message id:")); i >= 0 {
		line, _, _ := bytes.Cut(body[i+len("last message id:"):], []byte{'\n'})
		body = bytes.TrimSpace(line)
	}
	id, err := parseID(body)
	if err != nil {
		return 0, fmt.Errorf("ssedge-load: publish: answer %q: want a decimal id (or Nchan's last message id)", clip(body))
	}
	return id, nil
}
