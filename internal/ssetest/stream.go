package ssetest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// DefaultTimeout bounds connecting and reading the response head when a
// Request sets no Timeout, and each read of the Must helpers.
const DefaultTimeout = 10 * time.Second

// Request is one subscriber request.
type Request struct {
	Network string        // "tcp" (the default) or "unix"
	Addr    string        // host:port, or the socket's path
	Target  string        // the request target, such as /events?channel=a
	Header  []string      // extra header lines, "Name: value"
	Host    string        // the Host header; "test" when empty
	Local   string        // the local IP to connect from (TCP); any when empty
	Timeout time.Duration // for connecting and the response head; DefaultTimeout when zero
}

// Stream is one subscriber connection after its response head.
type Stream struct {
	Conn   net.Conn
	Head   string      // the response head as received, status line to blank line
	Status int         // the status code
	Header http.Header // the response headers
	// Body reads the response body: the raw bytes after the head, or
	// the decoded chunks when the answer is chunked (through a proxy).
	// Next reads through it byte by byte and so leaves what follows a
	// frame in it, for a test that reads the wire itself.
	Body *bufio.Reader

	p Parser
}

// Open sends r and reads the response head, whatever its status.
func Open(r Request) (*Stream, error) {
	if r.Network == "" {
		r.Network = "tcp"
	}
	if r.Host == "" {
		r.Host = "test"
	}
	if r.Timeout == 0 {
		r.Timeout = DefaultTimeout
	}
	d := net.Dialer{Timeout: r.Timeout}
	if r.Local != "" {
		ip := net.ParseIP(r.Local)
		if ip == nil || r.Network != "tcp" {
			return nil, fmt.Errorf("ssetest: local address %q: expected an IP address, over tcp", r.Local)
		}
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	c, err := d.Dial(r.Network, r.Addr)
	if err != nil {
		return nil, err
	}
	var req strings.Builder
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\n", r.Target, r.Host)
	for _, h := range r.Header {
		req.WriteString(h + "\r\n")
	}
	req.WriteString("\r\n")
	c.SetDeadline(time.Now().Add(r.Timeout))
	if _, err := io.WriteString(c, req.String()); err != nil {
		c.Close()
		return nil, fmt.Errorf("ssetest: sending GET %s: %w", r.Target, err)
	}
	s := &Stream{Conn: c}
	if err := s.readHead(bufio.NewReader(c)); err != nil {
		c.Close()
		return nil, fmt.Errorf("ssetest: GET %s: %w", r.Target, err)
	}
	c.SetDeadline(time.Time{})
	return s, nil
}

func (s *Stream) readHead(br *bufio.Reader) error {
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return fmt.Errorf("reading the response head: %w (so far %q)", err, s.Head+line)
		}
		s.Head += line
		if line == "\r\n" || line == "\n" {
			break
		}
	}
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(s.Head)), nil)
	if err != nil {
		return fmt.Errorf("response head %q: %w", s.Head, err)
	}
	s.Status, s.Header = resp.StatusCode, resp.Header
	s.Body = br
	if slices.Contains(resp.TransferEncoding, "chunked") {
		s.Body = bufio.NewReader(httputil.NewChunkedReader(br))
	}
	return nil
}

// Subscribe is Open that expects an event stream: any answer other than
// 200 text/event-stream is an error that quotes it.
func Subscribe(r Request) (*Stream, error) {
	s, err := Open(r)
	if err != nil {
		return nil, err
	}
	if s.Status != 200 || s.Header.Get("Content-Type") != "text/event-stream" {
		s.Conn.SetReadDeadline(time.Now().Add(time.Second))
		body, _ := io.ReadAll(io.LimitReader(s.Body, 1024))
		s.Conn.Close()
		return nil, fmt.Errorf("ssetest: GET %s: not an event stream: %q %q", r.Target, s.Head, body)
	}
	return s, nil
}

// MustSubscribe is Subscribe that fails the test on an error and closes
// the stream when the test ends.
func MustSubscribe(t testing.TB, r Request) *Stream {
	t.Helper()
	s, err := Subscribe(r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Conn.Close() })
	return s
}

// Next reads the next frame, an event or a control block, within d.
func (s *Stream) Next(d time.Duration) (Frame, error) {
	return s.NextBy(time.Now().Add(d))
}

// NextBy is Next with an absolute deadline.
func (s *Stream) NextBy(deadline time.Time) (Frame, error) {
	s.Conn.SetReadDeadline(deadline)
	wait := time.Until(deadline).Round(time.Millisecond)
	for {
		c, err := s.Body.ReadByte()
		if err != nil {
			return Frame{}, s.readError(err, wait)
		}
		f, ok, err := s.p.Push(c)
		if err != nil {
			return Frame{}, err
		}
		if ok {
			return f, nil
		}
	}
}

// NextEvent reads frames until a dispatched event, all within d; control
// blocks (heartbeats, retry advice) are skipped.
func (s *Stream) NextEvent(d time.Duration) (Frame, error) {
	return s.NextEventBy(time.Now().Add(d))
}

// NextEventBy is NextEvent with an absolute deadline.
func (s *Stream) NextEventBy(deadline time.Time) (Frame, error) {
	for {
		f, err := s.NextBy(deadline)
		if err != nil || f.Dispatched {
			return f, err
		}
	}
}

// MustEvent is NextEvent within DefaultTimeout that fails the test on an
// error.
func (s *Stream) MustEvent(t testing.TB) Frame {
	t.Helper()
	f, err := s.NextEvent(DefaultTimeout)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// Close closes the connection.
func (s *Stream) Close() error { return s.Conn.Close() }

// readError says why a read ended: the deadline, the end of the stream,
// or the error itself; the cause stays testable with errors.Is.
func (s *Stream) readError(err error, wait time.Duration) error {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("ssetest: no complete frame within %v (partial frame %q): %w", wait, s.p.Partial(), err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("ssetest: the stream ended (partial frame %q): %w", s.p.Partial(), err)
	}
	return fmt.Errorf("ssetest: reading the stream (partial frame %q): %w", s.p.Partial(), err)
}
