package main

import (
	"bytes"
	"errors"
	"fmt"
)

// maxResponseHead bounds the status line and headers of a subscription.
const maxResponseHead = 16 << 10

var (
	errHeadTooLarge = errors.New("ssedge-load: response head larger than 16 KiB")
	errStreamEnded  = errors.New("ssedge-load: server ended the event stream")
	errBadChunk     = errors.New("ssedge-load: malformed chunked encoding")
)

// responseHead is what the load generator needs from a subscription's
// response head.
type responseHead struct {
	chunked bool // Transfer-Encoding: chunked (net/http does this; ssedge need not)
}

// parseResponseHead checks a complete head (through the blank line): the
// status must be 200 and Content-Type text/event-stream.
func parseResponseHead(head []byte) (responseHead, error) {
	var h responseHead
	lines := bytes.Split(bytes.TrimRight(head, "\r\n"), []byte("\r\n"))
	status := lines[0]
	if !bytes.HasPrefix(status, []byte("HTTP/1.")) || len(status) < 12 {
		return h, fmt.Errorf("ssedge-load: status line %q: want HTTP/1.x", clip(status))
	}
	if string(status[9:12]) != "200" {
		return h, fmt.Errorf("ssedge-load: status %q: want 200", clip(status))
	}
	sawType := false
	for _, line := range lines[1:] {
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			return h, fmt.Errorf("ssedge-load: header line %q: want NAME: VALUE", clip(line))
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Type")):
			media, _, _ := bytes.Cut(value, []byte{';'})
			if !bytes.EqualFold(bytes.TrimSpace(media), []byte("text/event-stream")) {
				return h, fmt.Errorf("ssedge-load: Content-Type %q: want text/event-stream", clip(value))
			}
			sawType = true
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			if !bytes.EqualFold(value, []byte("chunked")) {
				return h, fmt.Errorf("ssedge-load: Transfer-Encoding %q: want chunked or none", clip(value))
			}
			h.chunked = true
		}
	}
	if !sawType {
		return h, errors.New("ssedge-load: no Content-Type: want text/event-stream")
	}
	return h, nil
}

func clip(b []byte) []byte {
	if len(b) > 80 {
		return b[:80]
	}
	return b
}

// chunkedDecoder strips HTTP/1.1 chunked framing incrementally.
type chunkedDecoder struct {
	state  uint8
	size   uint64 // bytes left in the current chunk, or the size being read
	digits int
}

const (
	chunkSize     = iota // reading hex digits
	chunkExt             // skipping a chunk extension up to CR
	chunkSizeLF          // after the size line's CR
	chunkData            // inside a chunk
	chunkDataCR          // after a chunk's data
	chunkDataLF          // after the CR that ends a chunk
	chunkTrailers        // after the last chunk; the stream is over
)

// feed decodes b and hands each run of payload bytes to body.
func (c *chunkedDecoder) feed(b []byte, body func([]byte) error) error {
	for len(b) > 0 {
		switch c.state {
		case chunkSize:
			ch := b[0]
			b = b[1:]
			switch {
			case ch >= '0' && ch <= '9', ch >= 'a' && ch <= 'f', ch >= 'A' && ch <= 'F':
				if c.digits == 15 {
					return errBadChunk
				}
				c.size = c.size<<4 | uint64(unhex(ch))
				c.digits++
			case ch == ';' && c.digits > 0:
				c.state = chunkExt
			case ch == '\r' && c.digits > 0:
				c.state = chunkSizeLF
			default:
				return errBadChunk
			}
		case chunkExt:
			i := bytes.IndexByte(b, '\r')
			if i < 0 {
				return nil
			}
			b = b[i+1:]
			c.state = chunkSizeLF
		case chunkSizeLF:
			if b[0] != '\n' {
				return errBadChunk
			}
			b = b[1:]
			if c.size == 0 {
				c.state = chunkTrailers
				return errStreamEnded
			}
			c.state = chunkData
		case chunkData:
			n := uint64(len(b))
			if n > c.size {
				n = c.size
			}
			if err := body(b[:n]); err != nil {
				return err
			}
			b = b[n:]
			if c.size -= n; c.size == 0 {
				c.state = chunkDataCR
			}
		case chunkDataCR:
			if b[0] != '\r' {
				return errBadChunk
			}
			b = b[1:]
			c.state = chunkDataLF
		case chunkDataLF:
			if b[0] != '\n' {
				return errBadChunk
			}
			b = b[1:]
			c.state, c.size, c.digits = chunkSize, 0, 0
		case chunkTrailers:
			return errStreamEnded
		}
	}
	return nil
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}
