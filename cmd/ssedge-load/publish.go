package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// publisher posts events the way an application would: HTTP/1.1 with
// keep-alive, on the unix socket or over TCP.
type publisher struct {
	client *http.Client
	url    string // POST target, query included
}

func newPublisher(socket, publishURL, channel, event string) (*publisher, error) {
	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 1}
	base := publishURL
	if socket != "" {
		var d net.Dialer
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", socket)
		}
		base = "http://unix/publish"
	}
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" {
		return nil, fmt.Errorf("ssedge-load: --publish-url %q: want http://HOST/PATH", publishURL)
	}
	q := u.Query()
	q.Set("channel", channel)
	if event != "" {
		q.Set("event", event)
	}
	u.RawQuery = q.Encode()
	return &publisher{client: &http.Client{Transport: tr, Timeout: 30 * time.Second}, url: u.String()}, nil
}

// publish posts data and returns the id the server gave the event.
func (p *publisher) publish(data []byte) (uint64, error) {
	resp, err := p.client.Post(p.url, "text/plain", bytes.NewReader(data))
	if err != nil {
		return 0, fmt.Errorf("ssedge-load: publish: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return 0, fmt.Errorf("ssedge-load: publish: reading answer: %w", err)
	}
	if resp.StatusCode/100 != 2 { // Nchan answers 201 or 202
		return 0, fmt.Errorf("ssedge-load: publish: status %q, body %q: want 2xx and an id", resp.Status, clip(body))
	}
	return publishedID(body)
}

func (p *publisher) close() { p.client.CloseIdleConnections() }
