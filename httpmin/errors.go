package httpmin

import (
	"errors"
	"strconv"
)

// statusError is a refusal that carries the HTTP status to answer with.
// Parse returns only the package-level values below, never new ones, so it
// does not allocate and callers can branch with errors.Is.
type statusError struct {
	status int
	text   string
}

func (e *statusError) Error() string { return e.text }

func refusal(status int, text string) error {
	return &statusError{status: status, text: "httpmin: " + text}
}

// ErrNeedMore means the buffer holds a valid but unfinished request head:
// read more bytes and call Parse again. It is not a refusal; StatusOf gives 0.
var ErrNeedMore = errors.New("httpmin: incomplete request head, need more bytes")

// Refusals of the request line (400 unless noted).
var (
	ErrBadRequestLine      = refusal(400, `malformed request line, want "METHOD /target HTTP/1.1" CRLF with single spaces`)
	ErrUnknownMethod       = refusal(501, "method is not a standard HTTP method")
	ErrBadTarget           = refusal(400, `request target must be origin-form ("/path?query", or "*" for OPTIONS) with RFC 3986 characters and valid %-escapes`)
	ErrBadVersion          = refusal(400, `malformed HTTP version, want "HTTP/1.0" or "HTTP/1.1"`)
	ErrVersionNotSupported = refusal(505, "HTTP version not supported, want HTTP/1.0 or HTTP/1.1")
	ErrRequestLineTooLong  = refusal(414, "request line longer than "+strconv.Itoa(MaxRequestLine)+" bytes")
)

// Refusals of header lines (400 unless noted).
var (
	ErrBadHeader        = refusal(400, `malformed header line, want "Name: value" CRLF with a token name`)
	ErrSpaceBeforeColon = refusal(400, "whitespace between header name and colon")
	ErrObsFold          = refusal(400, "header line starts with whitespace (obsolete line folding is not accepted)")
	ErrBareLF           = refusal(400, "line ends in a bare LF, want CRLF")
	ErrBareCR           = refusal(400, "bare CR not followed by LF")
	ErrControlChar      = refusal(400, "control character (NUL, DEL or other) in header value")
	ErrTooManyHeaders   = refusal(431, "more than "+strconv.Itoa(MaxHeaders)+" header lines")
	ErrHeadTooLarge     = refusal(431, "header too large: request head longer than "+strconv.Itoa(MaxHeaderBytes)+" bytes")
)

// Refusals of header semantics (400 unless noted).
var (
	ErrMissingHost                 = refusal(400, "HTTP/1.1 request without Host header")
	ErrDuplicateHost               = refusal(400, "more than one Host header")
	ErrBadHost                     = refusal(400, "Host header is not host[:port]")
	ErrBadContentLength            = refusal(400, "Content-Length is not decimal digits with a value at most 2^53")
	ErrDuplicateContentLength      = refusal(400, "more than one Content-Length header")
	ErrLengthAndChunked            = refusal(400, "both Transfer-Encoding and Content-Length (request smuggling guard)")
	ErrChunkedHTTP10               = refusal(400, "Transfer-Encoding on an HTTP/1.0 request")
	ErrUnsupportedTransferEncoding = refusal(501, `Transfer-Encoding other than a single "chunked"`)
	ErrDuplicateLastEventID        = refusal(400, "more than one Last-Event-ID header")
	ErrDuplicateOrigin             = refusal(400, "more than one Origin header")
)

// ErrBadEscape is the refusal of a query with a malformed %-escape
// (Unescape, ForEachParam).
var ErrBadEscape = refusal(400, "malformed %-escape in query, want %XX with two hex digits")

// StatusOf returns the HTTP status to answer err with: 0 for nil and
// ErrNeedMore, the refusal's status for this package's errors (also when
// wrapped), and 400 for any other error.
func StatusOf(err error) int {
	if err == nil || errors.Is(err, ErrNeedMore) {
		return 0
	}
	var se *statusError
	if errors.As(err, &se) {
		return se.status
	}
	return 400
}
