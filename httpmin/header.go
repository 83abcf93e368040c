package httpmin

import "bytes"

// seenHeaders records which framing and singleton headers a request has
// carried so far.
type seenHeaders uint8

const (
	seenHost seenHeaders = 1 << iota
	seenContentLength
	seenTransferEncoding
	seenLastEventID
	seenOrigin
	seenClose     // a Connection header named "close"
	seenKeepAlive // a Connection header named "keep-alive"
)

// headShort is the result of running out of bytes inside the header lines,
// whose scan is bounded by end: either more bytes may finish the head, or
// it has already reached MaxHeaderBytes without its final CRLF.
func headShort(end int) error {
	if end >= MaxHeaderBytes {
		return ErrHeadTooLarge
	}
	return ErrNeedMore
}

// parseHeaders parses header lines from buf[i:] up to and including the
// blank line that ends the head, and returns the length of the head.
func parseHeaders(buf []byte, i int, r *Request) (int, error) {
	end := min(len(buf), MaxHeaderBytes)
	for {
		if i >= end {
			return 0, headShort(end)
		}
		switch buf[i] {
		case '\r':
			if i+1 >= end {
				return 0, headShort(end)
			}
			if buf[i+1] != '\n' {
				return 0, ErrBareCR
			}
			return i + 2, finishHead(r)
		case '\n':
			return 0, ErrBareLF
		case ' ', '\t':
			return 0, ErrObsFold
		}
		if r.NumHeaders == MaxHeaders {
			return 0, ErrTooManyHeaders
		}

		nameStart := i
		for i < end && isToken[buf[i]] {
			i++
		}
		if i >= end {
			return 0, headShort(end)
		}
		switch {
		case buf[i] == ' ' || buf[i] == '\t':
			return 0, ErrSpaceBeforeColon
		case buf[i] != ':' || i == nameStart:
			return 0, ErrBadHeader
		}
		name := buf[nameStart:i]

		i++
		valueStart := i
		for i < end && isValue[buf[i]] {
			i++
		}
		if i >= end {
			return 0, headShort(end)
		}
		switch {
		case buf[i] == '\n':
			return 0, ErrBareLF
		case buf[i] != '\r':
			return 0, ErrControlChar
		case i+1 >= end:
			return 0, headShort(end)
		case buf[i+1] != '\n':
			return 0, ErrBareCR
		}
		value := trimOWS(buf[valueStart:i])
		i += 2

		r.Headers[r.NumHeaders] = Header{Name: name, Value: value}
		r.NumHeaders++
		if err := r.noteHeader(name, value); err != nil {
			return 0, err
		}
	}
}

// noteHeader fills the named fields of r from one header line and refuses
// duplicates and framing conflicts as soon as they appear.
func (r *Request) noteHeader(name, value []byte) error {
	switch len(name) {
	case len("host"):
		if equalFold(name, "host") {
			return r.noteHost(value)
		}
	case len("origin"):
		if equalFold(name, "origin") {
			if r.seen&seenOrigin != 0 {
				return ErrDuplicateOrigin
			}
			r.seen |= seenOrigin
			r.Origin = value
		}
	case len("connection"):
		if equalFold(name, "connection") {
			r.noteConnection(value)
		}
	case len("last-event-id"):
		if equalFold(name, "last-event-id") {
			if r.seen&seenLastEventID != 0 {
				return ErrDuplicateLastEventID
			}
			r.seen |= seenLastEventID
			r.LastEventID = value
		}
	case len("content-length"):
		if equalFold(name, "content-length") {
			return r.noteContentLength(value)
		}
	case len("transfer-encoding"):
		if equalFold(name, "transfer-encoding") {
			return r.noteTransferEncoding(value)
		}
	}
	return nil
}

func (r *Request) noteHost(value []byte) error {
	if r.seen&seenHost != 0 {
		return ErrDuplicateHost
	}
	for _, c := range value {
		if !isHost[c] {
			return ErrBadHost
		}
	}
	r.seen |= seenHost
	r.Host = value
	return nil
}

// noteContentLength accepts exactly one Content-Length of decimal digits.
// Repeats are refused even with equal values: nothing legitimate sends them
// and a proxy that merged them differently would desynchronize.
func (r *Request) noteContentLength(value []byte) error {
	switch {
	case r.seen&seenContentLength != 0:
		return ErrDuplicateContentLength
	case r.seen&seenTransferEncoding != 0:
		return ErrLengthAndChunked
	case len(value) == 0:
		return ErrBadContentLength
	}
	var n int64
	for _, c := range value {
		if c < '0' || c > '9' {
			return ErrBadContentLength
		}
		n = n*10 + int64(c-'0') // n <= MaxContentLength here, so no overflow
		if n > MaxContentLength {
			return ErrBadContentLength
		}
	}
	r.seen |= seenContentLength
	r.ContentLength = n
	return nil
}

// noteTransferEncoding accepts one Transfer-Encoding of exactly "chunked"
// (any case) on HTTP/1.1 without Content-Length (RFC 9112 §6.1, §6.3).
func (r *Request) noteTransferEncoding(value []byte) error {
	switch {
	case r.Minor == 0:
		return ErrChunkedHTTP10
	case r.seen&seenContentLength != 0:
		return ErrLengthAndChunked
	case r.seen&seenTransferEncoding != 0 || !equalFold(value, "chunked"):
		return ErrUnsupportedTransferEncoding
	}
	r.seen |= seenTransferEncoding
	r.Chunked = true
	return nil
}

// noteConnection records the "close" and "keep-alive" options in a
// comma-separated Connection list; other options are ignored.
func (r *Request) noteConnection(value []byte) {
	for len(value) > 0 {
		opt := value
		value = nil
		if i := bytes.IndexByte(opt, ','); i >= 0 {
			opt, value = opt[:i], opt[i+1:]
		}
		opt = trimOWS(opt)
		switch {
		case equalFold(opt, "close"):
			r.seen |= seenClose
		case equalFold(opt, "keep-alive"):
			r.seen |= seenKeepAlive
		}
	}
}

// finishHead applies the checks that need the whole head.
func finishHead(r *Request) error {
	if r.Minor == 1 && r.seen&seenHost == 0 {
		return ErrMissingHost
	}
	// RFC 9112 §9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only with
	// "keep-alive". "close" wins when a client sends both.
	r.KeepAlive = r.seen&seenClose == 0 && (r.Minor == 1 || r.seen&seenKeepAlive != 0)
	return nil
}
