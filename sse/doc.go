// Package sse formats what ssedge writes to subscribers: Server-Sent Events
// frames, the response head of an event stream, CORS preflight answers, and
// the checks on the event and channel names that end up in them.
//
// # Frames
//
// An event is formatted once, when it is published, by AppendEvent:
//
//	id: 1718000000000001
//	event: price
//	data: first line
//	data: second line
//
// (the frame ends with the blank line). The id is always present and
// decimal; "event:" appears only for named events; there is one "data: "
// line per line of data and always at least one, so that EventSource
// dispatches even an event with empty data (as ""). Data lines end where
// the browser's parser ends them — at "\r\n", a lone "\r" or a lone "\n" —
// so MessageEvent.data is the published data with each line ending turned
// into "\n"; a trailing line ending survives as a last, empty "data: " line.
// Every field is written with one space after the colon: the browser strips
// exactly one, so a line that itself starts with a space comes through
// intact. EventLen gives a frame's exact size for a single allocation.
//
// A formatted frame is immutable. It is shared, read-only, by every
// subscriber of its channel and by the history that replays it: writers
// hand it to writev as is, and nothing may append to, slice-and-write or
// reuse its bytes after it is published.
//
// AppendRetry writes a "retry:" block, which ends with a blank line and so
// dispatches nothing. Heartbeat is the shared heartbeat frame, ":\n\n" (an
// empty comment and a blank line, 3 bytes), sent to idle streams so that
// proxies keep them open and dead peers are found.
//
// # Response head
//
// AppendStreamHead writes
//
//	HTTP/1.1 200 OK
//	Content-Type: text/event-stream
//	Cache-Control: no-cache
//	X-Accel-Buffering: no
//	Connection: close
//
// then the CORS headers, then the blank line. The body has neither
// Content-Length nor chunked framing: frames go to the socket exactly as
// they are shared, and the body ends when the server closes the connection,
// which is what Connection: close announces (and what lets nginx with
// proxy_http_version 1.1 stream it without pooling the connection).
// X-Accel-Buffering: no stops nginx from buffering the stream.
//
// # CORS
//
// A CORS allow-list (NewCORS) holds exact origins ("https://example.com"),
// wildcard subdomains ("https://*.example.com" matches a.example.com and
// a.b.example.com, not example.com, and never evilexample.com) and "*". A
// nil *CORS means CORS is off: no CORS headers are sent and every preflight
// is refused. For an allowed origin the stream head and the preflight answer
// carry Access-Control-Allow-Origin: "*" for a "*" list without
// credentials, otherwise the origin itself, then
// Access-Control-Allow-Credentials: true when credentials are on. Whenever
// the value can echo the origin, Vary: Origin is sent on every response,
// allowed or not. A refused origin still gets its stream (the browser, not
// the server, withholds it from the page); its preflight gets a 403 with the
// reason. An allowed preflight (AppendPreflight) gets a 204 allowing GET
// with the Last-Event-ID, Cache-Control and Authorization request headers,
// cacheable for PreflightMaxAge seconds. "*" accepts only origins of
// printable ASCII up to 512 bytes, and with credentials never "null".
//
// # Limits
//
//   - Event names (ValidEventName): 1 to MaxEventName (256) bytes of UTF-8
//     without CR, LF or NUL.
//   - Channel names (ValidChannelName): 1 to MaxChannelName (128) bytes of
//     A-Z, a-z, 0-9 and "-._~:@/" — characters that need no escaping in a
//     URL query, JSON or a log line. "+" is refused because form decoding
//     turns it into a space.
//
// # Allocation and concurrency
//
// AppendEvent, AppendStreamHead and (*CORS).Allowed do not allocate when dst
// has room; this is tested. A *CORS is immutable once built and safe for
// concurrent use by every loop. The functions keep no state.
package sse
