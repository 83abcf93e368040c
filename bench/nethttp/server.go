package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxPublishBody bounds one event's data.
const maxPublishBody = 1 << 20

type server struct {
	hub          *hub
	queue        int
	writeTimeout time.Duration
}

// serveEvents is the subscriber handler: one goroutine per connection,
// blocked on its frame channel between events.
func (s *server) serveEvents(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/events" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "method not allowed: want GET", http.StatusMethodNotAllowed)
		return
	}
	channels := r.URL.Query()["channel"]
	if len(channels) == 0 {
		http.Error(w, "missing channel: want /events?channel=NAME", http.StatusBadRequest)
		return
	}
	rc := http.NewResponseController(w)
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}

	sub := newSubscriber(s.queue)
	s.hub.subscribe(sub, channels)
	defer s.hub.unsubscribe(sub, channels)

	ctx := r.Context()
	for {
		select {
		case frame := <-sub.frames:
			if err := s.write(w, rc, sub, frame); err != nil {
				return
			}
		case <-sub.dropped:
			return
		case <-ctx.Done():
			return
		}
	}
}

// write sends frame and everything queued behind it, then flushes once.
func (s *server) write(w http.ResponseWriter, rc *http.ResponseController, sub *subscriber, frame []byte) error {
	if s.writeTimeout > 0 {
		if err := rc.SetWriteDeadline(time.Now().Add(s.writeTimeout)); err != nil {
			return err
		}
	}
	if _, err := w.Write(frame); err != nil {
		return err
	}
	for {
		select {
		case frame := <-sub.frames:
			if _, err := w.Write(frame); err != nil {
				return err
			}
		default:
			return rc.Flush()
		}
	}
}

// servePublish is the publisher handler on the unix socket.
func (s *server) servePublish(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/publish" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed: want POST", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	channel, event := q.Get("channel"), q.Get("event")
	if channel == "" {
		http.Error(w, "missing channel: want /publish?channel=NAME", http.StatusBadRequest)
		return
	}
	if strings.ContainsAny(event, "\r\n") {
		http.Error(w, fmt.Sprintf("bad event type %q: must not contain CR or LF", event), http.StatusBadRequest)
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPublishBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			http.Error(w, fmt.Sprintf("body too large: at most %d bytes", maxPublishBody), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	id, _ := s.hub.publish(channel, event, data)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, strconv.FormatUint(id, 10)+"\n")
}
