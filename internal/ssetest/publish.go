package ssetest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Publisher publishes over the publish socket's HTTP API, on keep-alive
// connections.
type Publisher struct {
	Socket string
	client *http.Client
}

// NewPublisher is a Publisher for the unix socket at path.
func NewPublisher(path string) *Publisher {
	return &Publisher{Socket: path, client: &http.Client{Timeout: DefaultTimeout, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}}
}

// Post sends POST /publish?query with data and returns the answer's status
// and body, whatever the status.
func (p *Publisher) Post(query, data string) (status int, body string, err error) {
	resp, err := p.client.Post("http://ssedge/publish?"+query, "text/plain", strings.NewReader(data))
	if err != nil {
		return 0, "", fmt.Errorf("ssetest: publish to %s: %w", p.Socket, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// Publish publishes data on channel with event type event ("" for none)
// and returns the event's id; an answer other than 200 and an id is an
// error that quotes it.
func (p *Publisher) Publish(channel, event, data string) (uint64, error) {
	q := url.Values{"channel": {channel}}
	if event != "" {
		q.Set("event", event)
	}
	status, body, err := p.Post(q.Encode(), data)
	if err != nil {
		return 0, err
	}
	if status != 200 {
		return 0, fmt.Errorf("ssetest: publish on %q: %d %q", channel, status, body)
	}
	id, err := strconv.ParseUint(strings.TrimSpace(body), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("ssetest: publish on %q: reply %q is not an id", channel, body)
	}
	return id, nil
}

// MustPublish is Publish that fails the test on an error.
func (p *Publisher) MustPublish(t testing.TB, channel, event, data string) uint64 {
	t.Helper()
	id, err := p.Publish(channel, event, data)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Close drops the idle keep-alive connections.
func (p *Publisher) Close() { p.client.CloseIdleConnections() }

// LineCommand formats one line-protocol PUB command.
func LineCommand(channel, event, data string) string {
	if event != "" {
		channel += " " + event
	}
	return fmt.Sprintf("PUB %s %d\r\n%s\r\n", channel, len(data), data)
}

// LineExchange writes raw (line-protocol commands) to the socket at path in
// one connection and reads n reply lines, without their line ends, within
// DefaultTimeout.
func LineExchange(path, raw string, n int) ([]string, error) {
	c, err := net.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("ssetest: line protocol: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(DefaultTimeout))
	if _, err := io.WriteString(c, raw); err != nil {
		return nil, fmt.Errorf("ssetest: line protocol: %w", err)
	}
	br := bufio.NewReader(c)
	var out []string
	for len(out) < n {
		line, err := br.ReadString('\n')
		if err != nil {
			return out, fmt.Errorf("ssetest: line protocol: reply %d of %d: %w (so far %q)", len(out)+1, n, err, out)
		}
		out = append(out, strings.TrimRight(line, "\r\n"))
	}
	return out, nil
}

// PublishLine publishes one event over the line protocol and returns its
// id; a reply other than "+OK id" is an error that quotes it.
func PublishLine(path, channel, event, data string) (uint64, error) {
	r, err := LineExchange(path, LineCommand(channel, event, data), 1)
	if err != nil {
		return 0, err
	}
	rest, ok := strings.CutPrefix(r[0], "+OK ")
	id, perr := strconv.ParseUint(rest, 10, 64)
	if !ok || perr != nil {
		return 0, fmt.Errorf("ssetest: PUB %s: reply %q, want +OK and an id", channel, r[0])
	}
	return id, nil
}
