package sse

import "strconv"

// PreflightMaxAge is how long, in seconds, a browser may cache a preflight
// answer. Browsers clamp it (Chromium to 2 hours, Firefox to 24).
const PreflightMaxAge = 86400

// streamHead opens every subscriber response. The body is close-delimited
// (no Content-Length, no chunked framing: frames go to the socket as
// formatted), which HTTP/1.1 allows only when the server ends the body by
// closing, so it says Connection: close. That also tells nginx (with
// proxy_http_version 1.1) not to return the upstream connection to its
// keepalive pool. X-Accel-Buffering: no turns off nginx's response buffering
// for this response even where proxy_buffering is on.
const streamHead = "HTTP/1.1 200 OK\r\n" +
	"Content-Type: text/event-stream\r\n" +
	"Cache-Control: no-cache\r\n" +
	"X-Accel-Buffering: no\r\n" +
	"Connection: close\r\n"

// preflightAllow closes the head of an allowed preflight.
var preflightAllow = "Access-Control-Allow-Methods: GET\r\n" +
	"Access-Control-Allow-Headers: Last-Event-ID, Cache-Control, Authorization\r\n" +
	"Access-Control-Max-Age: " + strconv.Itoa(PreflightMaxAge) + "\r\n"

// AppendStreamHead appends the response head of an event stream: the fixed
// headers above, then the CORS headers for origin (see CORS), then the
// blank line. The events follow. It does not allocate when dst has room.
func AppendStreamHead(dst []byte, cors *CORS, origin []byte) []byte {
	dst = append(dst, streamHead...)
	dst = cors.appendHeaders(dst, origin)
	return append(dst, "\r\n"...)
}

// AppendPreflight appends the whole answer to an OPTIONS request carrying
// this Origin header value (empty when absent):
//
//   - origin allowed: 204 with the CORS headers, Access-Control-Allow-Methods
//     GET, Access-Control-Allow-Headers naming Last-Event-ID, Cache-Control
//     and Authorization, and Access-Control-Max-Age.
//   - origin refused, or CORS off: 403, text/plain, with the reason.
//   - no origin: not a preflight; 204 with Allow: GET, OPTIONS.
//
// Every answer has an empty or length-delimited body, so the connection may
// stay open: keepAlive false adds Connection: close (the caller then closes).
// The status line is HTTP/1.1, where persistence is the default, so pass
// keepAlive true only for HTTP/1.1 requests that did not ask to close.
func AppendPreflight(dst []byte, cors *CORS, origin []byte, keepAlive bool) []byte {
	switch {
	case len(origin) == 0:
		dst = append(dst, "HTTP/1.1 204 No Content\r\nAllow: GET, OPTIONS\r\n"...)
		if cors.echoesOrigin() {
			dst = append(dst, "Vary: Origin\r\n"...)
		}
	case cors.Allowed(origin):
		dst = append(dst, "HTTP/1.1 204 No Content\r\n"...)
		dst = cors.appendHeaders(dst, origin)
		dst = append(dst, preflightAllow...)
	default:
		return appendRefusal(dst, cors, origin, keepAlive)
	}
	if !keepAlive {
		dst = append(dst, "Connection: close\r\n"...)
	}
	return append(dst, "\r\n"...)
}

// appendRefusal appends the 403 answer to a preflight from an origin that is
// not allowed.
func appendRefusal(dst []byte, cors *CORS, origin []byte, keepAlive bool) []byte {
	why := " is not in the CORS allow-list\n"
	if cors == nil {
		why = " may not read this server's streams: CORS is off\n"
	}
	if len(origin) > maxOrigin {
		origin = origin[:maxOrigin]
	}
	var buf [2*maxOrigin + 64]byte
	body := append(buf[:0], "origin "...)
	body = strconv.AppendQuote(body, string(origin))
	body = append(body, why...)

	dst = append(dst, "HTTP/1.1 403 Forbidden\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n"+
		"X-Content-Type-Options: nosniff\r\n"...)
	if cors.echoesOrigin() {
		dst = append(dst, "Vary: Origin\r\n"...)
	}
	if !keepAlive {
		dst = append(dst, "Connection: close\r\n"...)
	}
	dst = append(dst, "Content-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\r\n\r\n"...)
	return append(dst, body...)
}

// AppendCORSHeaders appends the CORS response headers for origin (none when
// CORS is off or origin is not allowed; Vary: Origin whenever the answer
// depends on it), for responses other than the stream head and preflight.
func AppendCORSHeaders(dst []byte, cors *CORS, origin []byte) []byte {
	return cors.appendHeaders(dst, origin)
}
