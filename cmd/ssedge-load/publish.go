package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"
)

// publishTimeout bounds the wait for any one answer and any one write.
const publishTimeout = 30 * time.Second

// publisher posts events the way a busy application does: HTTP/1.1 on one
// keep-alive connection, pipelined. Each request is written when its time
// comes, without waiting for the answers to earlier ones, so a server that
// answers slowly falls behind (its subscribers see the delay, and the
// answers arrive late) instead of slowing the publisher down to its pace.
// One connection keeps the server's order the publisher's: HTTP/1.1
// answers come back in request order, and the ids with them.
//
// send is called from one goroutine and answer from one other.
type publisher struct {
	conn   net.Conn
	br     *bufio.Reader // read by answer
	wbuf   []byte        // written by send
	head   string        // request line and headers up to Content-Length's value
	target string        // for errors
	dial   func() (net.Conn, error)
}

func newPublisher(socket, publishURL, channel, event string) (*publisher, error) {
	network, addr, base := "unix", socket, "http://unix/publish"
	if socket == "" {
		base = publishURL
	}
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("ssedge-load: --publish-url %q: want http://HOST:PORT/PATH", publishURL)
	}
	if socket == "" {
		network, addr = "tcp", u.Host
		if u.Port() == "" {
			addr = net.JoinHostPort(u.Hostname(), "80")
		}
	}
	q := u.Query()
	q.Set("channel", channel)
	if event != "" {
		q.Set("event", event)
	}
	u.RawQuery = q.Encode()
	dial := func() (net.Conn, error) { return net.DialTimeout(network, addr, publishTimeout) }
	conn, err := dial()
	if err != nil {
		return nil, fmt.Errorf("ssedge-load: publish: %w", err)
	}
	return &publisher{
		conn:   conn,
		br:     bufio.NewReader(conn),
		head:   "POST " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUser-Agent: ssedge-load\r\nContent-Type: text/plain\r\nContent-Length: ",
		target: network + ":" + addr,
		dial:   dial,
	}, nil
}

// redial replaces the connection with a new one to the same place (the
// server closed it: a binary upgrade hands publishing to a new process,
// which serves the same socket).
func (p *publisher) redial() error {
	conn, err := p.dial()
	if err != nil {
		return fmt.Errorf("ssedge-load: publish: dialing again: %w", err)
	}
	p.conn.Close()
	p.conn, p.br = conn, bufio.NewReader(conn)
	return nil
}

// closedByServer reports whether err says the server closed the
// connection before it took the request: a write into a closed socket,
// or no byte of an answer before the end.
func closedByServer(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// send writes one publish request; a later answer call reads its answer.
func (p *publisher) send(data []byte) error {
	p.wbuf = append(p.wbuf[:0], p.head...)
	p.wbuf = strconv.AppendInt(p.wbuf, int64(len(data)), 10)
	p.wbuf = append(p.wbuf, "\r\n\r\n"...)
	p.wbuf = append(p.wbuf, data...)
	p.conn.SetWriteDeadline(time.Now().Add(publishTimeout))
	if _, err := p.conn.Write(p.wbuf); err != nil {
		return fmt.Errorf("ssedge-load: publish to %s: %w", p.target, err)
	}
	return nil
}

// answer reads the next answer and returns the id the server gave that
// event. more says whether requests are still to come, which a server that
// closes the connection cannot take.
func (p *publisher) answer(more bool) (uint64, error) {
	p.conn.SetReadDeadline(time.Now().Add(publishTimeout))
	resp, err := http.ReadResponse(p.br, nil)
	if err != nil {
		return 0, fmt.Errorf("ssedge-load: publish to %s: reading the answer: %w", p.target, err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body) // the next answer starts after it
	}
	resp.Body.Close()
	if err != nil {
		return 0, fmt.Errorf("ssedge-load: publish to %s: reading the answer: %w", p.target, err)
	}
	if resp.StatusCode/100 != 2 { // Nchan answers 201 or 202
		return 0, fmt.Errorf("ssedge-load: publish: status %q, body %q: want 2xx and an id", resp.Status, clip(body))
	}
	if resp.Close && more {
		return 0, fmt.Errorf("ssedge-load: publish to %s: the server closes the connection after an answer: want keep-alive", p.target)
	}
	return publishedID(body)
}

func (p *publisher) close() { p.conn.Close() }
