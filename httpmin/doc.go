// Package httpmin parses the heads of the few HTTP/1.x requests ssedge
// serves: subscriptions (GET /events, GET /poll, HEAD, OPTIONS preflight)
// on the epoll loops, and publishes (POST /publish with a Content-Length
// body, keep-alive and pipelining) on the publisher socket.
//
// # What it parses
//
// [Parse] reads one request head — request line, header lines, blank line —
// from the start of a buffer and fills a [Request]. It does not read bodies:
// the body, if any, starts at buf[n:] and is [Request.ContentLength] bytes
// long; the caller reads it. Parsing is incremental in the simplest way: when
// the buffer holds a valid but unfinished head, Parse returns [ErrNeedMore]
// and the caller calls again with the longer buffer, parsing from the start.
// A head that can only be completed by breaking a limit is refused as soon as
// the limit is passed, so a slowloris client cannot make the caller buffer
// more than the limits below.
//
// # Limits
//
//   - [MaxRequestLine] (8192 bytes): the request line, CRLF included.
//     Longer: 414 ([ErrRequestLineTooLong]).
//   - [MaxHeaderBytes] (16384 bytes): the whole head, request line and the
//     final blank line included. Longer: 431 ([ErrHeadTooLarge]).
//   - [MaxHeaders] (64): header lines per request. More: 431
//     ([ErrTooManyHeaders]).
//   - [MaxContentLength] (2^53): the largest Content-Length accepted.
//
// # What it refuses
//
// It is strict on purpose: it refuses what it does not understand rather
// than guess, because a guess that differs from nginx's is a request
// smuggling hole. Every refusal is a sentinel error; [StatusOf] gives the
// status to answer with and [AppendError] writes the response.
//
//   - 400: a request line that is not exactly "METHOD SP target SP
//     HTTP/x.y CRLF" with single spaces; a target that is not origin-form
//     ("/path?query", or "*" for OPTIONS), that holds bytes outside RFC 3986
//     (spaces, '#', '"', '<', '>', controls, raw bytes >= 0x80) or a
//     malformed %-escape — clients must percent-encode such bytes. The
//     exception is | { } [ ] ^ \ and `, which browsers leave unescaped in
//     queries (WHATWG URL) and which are therefore accepted; a line that ends in
//     a bare LF (CRLF is required everywhere, unlike net/http) or holds a
//     bare CR; obs-fold (a header line starting with SP or HTAB);
//     whitespace between a header name and its colon; a header name that is
//     not a token; NUL, DEL or other control bytes in a value; HTTP/1.1
//     without Host; more than one Host, Content-Length, Origin or
//     Last-Event-ID header; a Host that is not host[:port] characters; a
//     Content-Length that is not all digits or is above MaxContentLength;
//     Transfer-Encoding together with Content-Length, or on HTTP/1.0.
//   - 414, 431: the limits above.
//   - 501: a method token that is not a standard method (RFC 9110 §9.1), and
//     a Transfer-Encoding other than the single coding "chunked".
//   - 505: a well-formed version other than HTTP/1.0 and HTTP/1.1.
//
// Standard methods ssedge does not serve (PUT, DELETE, PATCH, CONNECT,
// TRACE) parse as [MethodOther]; the caller answers 405 with an Allow
// header. Empty lines before the request line (RFC 9112 §2.2 "SHOULD
// ignore") are refused with 400 like any other malformed request line.
//
// # Allocation and aliasing
//
// Parse, [Request.Header], [NextParam] and [Unescape] (given a dst with room)
// do not allocate. The byte-slice fields of a Request alias the buffer passed
// to Parse: they are valid until the caller reuses or frees that buffer, and
// a caller that keeps a value longer (a channel name, a Last-Event-ID) must
// copy it.
//
// # Concurrency
//
// Parse is a pure function of its buffer; it may run on any number of
// goroutines at once, each with its own Request. A Request is not safe for
// concurrent use: it belongs to whoever passed it to Parse, normally the
// loop goroutine that owns the connection.
package httpmin

// Limits. They bound what a client can make the server buffer before the
// request is refused; see the package comment for the status of each.
const (
	MaxRequestLine   = 8192    // bytes in the request line, CRLF included
	MaxHeaderBytes   = 16384   // bytes in the whole head, final CRLF included
	MaxHeaders       = 64      // header lines per request
	MaxContentLength = 1 << 53 // largest Content-Length; callers apply their own, smaller body limit (413)
)
