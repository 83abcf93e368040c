package httpmin

// Method is the request method, reduced to what ssedge routes on.
type Method uint8

const (
	methodNone    Method = iota // zero value: no request parsed
	MethodGET                   // GET
	MethodHEAD                  // HEAD
	MethodPOST                  // POST
	MethodOPTIONS               // OPTIONS
	MethodOther                 // PUT, DELETE, PATCH, CONNECT, TRACE: standard, not served; answer 405
)

func (m Method) String() string {
	switch m {
	case MethodGET:
		return "GET"
	case MethodHEAD:
		return "HEAD"
	case MethodPOST:
		return "POST"
	case MethodOPTIONS:
		return "OPTIONS"
	case MethodOther:
		return "other"
	}
	return ""
}

// Request is one parsed request head. Its byte slices alias the buffer given
// to Parse. Not safe for concurrent use.
type Request struct {
	Method     Method
	MethodName []byte // the method token as sent, e.g. "PUT" for MethodOther
	Target     []byte // raw origin-form target, or "*" for OPTIONS
	Path       []byte // Target up to '?', still escaped
	RawQuery   []byte // Target after '?', still escaped; empty when there is none
	Minor      int    // 0 for HTTP/1.0, 1 for HTTP/1.1

	Host          []byte // Host value; nil when absent (HTTP/1.0 only)
	ContentLength int64  // -1 when absent
	Chunked       bool   // Transfer-Encoding: chunked (never with ContentLength)
	KeepAlive     bool   // the connection may carry another request after this one
	LastEventID   []byte // Last-Event-ID value; nil when absent
	Origin        []byte // Origin value; nil when absent

	// Headers holds every header line in arrival order, the named ones
	// above included, values trimmed of surrounding whitespace.
	Headers    [MaxHeaders]Header
	NumHeaders int

	seen seenHeaders // singleton headers met so far, for duplicate checks
}

// Header is one header line; Name is as sent (any case).
type Header struct{ Name, Value []byte }

// Header returns the value of the first header called name, compared without
// regard to ASCII case, or nil when there is none.
func (r *Request) Header(name string) []byte {
	for i := 0; i < r.NumHeaders && i < MaxHeaders; i++ {
		if equalFold(r.Headers[i].Name, name) {
			return r.Headers[i].Value
		}
	}
	return nil
}

// reset clears r for a new parse. Only the headers in use are cleared, so
// the old buffer is not kept alive and the 3 KiB array is not rewritten.
func (r *Request) reset() {
	clear(r.Headers[:min(max(r.NumHeaders, 0), MaxHeaders)])
	r.Method, r.MethodName, r.Target, r.Path, r.RawQuery, r.Minor = methodNone, nil, nil, nil, nil, 0
	r.Host, r.ContentLength, r.Chunked, r.KeepAlive = nil, -1, false, false
	r.LastEventID, r.Origin, r.NumHeaders, r.seen = nil, nil, 0, 0
}

// Parse parses one request head at the start of buf. See the package
// documentation for what it accepts.
//
// On success it returns the length of the head; the body, if any, starts at
// buf[n:]. If buf holds a valid but unfinished head it returns 0, ErrNeedMore.
// If the head is malformed or too large it returns 0 and a refusal for which
// StatusOf gives the status to answer with. Parse resets r first; on error r
// holds what was parsed before the failure.
func Parse(buf []byte, r *Request) (n int, err error) {
	r.reset()
	n, err = parseRequestLine(buf, r)
	if err != nil {
		return 0, err
	}
	n, err = parseHeaders(buf, n, r)
	if err != nil {
		return 0, err
	}
	return n, nil
}

// lineShort is the result of running out of bytes inside the request line,
// whose scan is bounded by end: either more bytes may finish it, or the line
// has already reached MaxRequestLine without its CRLF.
func lineShort(end int) error {
	if end >= MaxRequestLine {
		return ErrRequestLineTooLong
	}
	return ErrNeedMore
}

// parseRequestLine parses "METHOD SP target SP HTTP/1.x CRLF" and returns
// the offset of the first header line.
func parseRequestLine(buf []byte, r *Request) (int, error) {
	end := min(len(buf), MaxRequestLine)

	i := 0
	for i < end && isToken[buf[i]] {
		i++
	}
	if i == end {
		return 0, lineShort(end)
	}
	if i == 0 || buf[i] != ' ' {
		return 0, ErrBadRequestLine
	}
	r.MethodName = buf[:i]
	r.Method = methodOf(r.MethodName)
	if r.Method == methodNone {
		return 0, ErrUnknownMethod
	}

	i++
	start := i
	for i < end && isTarget[buf[i]] {
		if buf[i] == '%' {
			if err := checkEscape(buf[:end], i); err != nil {
				if err == ErrNeedMore {
					return 0, lineShort(end)
				}
				return 0, ErrBadTarget
			}
			i += 2
		}
		i++
	}
	if i >= end {
		return 0, lineShort(end)
	}
	switch buf[i] {
	case ' ':
	case '\r', '\n':
		return 0, ErrBadRequestLine
	default:
		return 0, ErrBadTarget
	}
	if err := setTarget(buf[start:i], r); err != nil {
		return 0, err
	}

	i++
	return parseVersion(buf[:end], i, r)
}

// methodOf maps a method token to its Method; methodNone for tokens that
// are not standard methods (RFC 9110 §9.1). Method names are case-sensitive.
func methodOf(name []byte) Method {
	switch string(name) {
	case "GET":
		return MethodGET
	case "HEAD":
		return MethodHEAD
	case "POST":
		return MethodPOST
	case "OPTIONS":
		return MethodOPTIONS
	case "PUT", "DELETE", "PATCH", "CONNECT", "TRACE":
		return MethodOther
	}
	return methodNone
}

// checkEscape checks the %-escape at buf[i]: ErrNeedMore when buf ends
// inside it, ErrBadEscape when a byte after '%' is not a hex digit.
func checkEscape(buf []byte, i int) error {
	for k := i + 1; k <= i+2; k++ {
		if k >= len(buf) {
			return ErrNeedMore
		}
		if hexValue[buf[k]] < 0 {
			return ErrBadEscape
		}
	}
	return nil
}

// setTarget checks that target is origin-form ("*" only for OPTIONS) and
// splits it into Path and RawQuery.
func setTarget(target []byte, r *Request) error {
	switch {
	case len(target) > 0 && target[0] == '/':
	case len(target) == 1 && target[0] == '*' && r.Method == MethodOPTIONS:
	default:
		return ErrBadTarget
	}
	r.Target, r.Path, r.RawQuery = target, target, target[len(target):]
	for i, c := range target {
		if c == '?' {
			r.Path, r.RawQuery = target[:i], target[i+1:]
			break
		}
	}
	return nil
}

// parseVersion parses "HTTP/d.d CRLF" at buf[i:], where buf ends at the
// request line limit, and returns the offset after the CRLF.
func parseVersion(buf []byte, i int, r *Request) (int, error) {
	const want = "HTTP/0.0\r\n" // '0' marks a digit
	var major, minor byte
	for k := 0; k < len(want); k++ {
		if i+k >= len(buf) {
			return 0, lineShort(len(buf))
		}
		c := buf[i+k]
		switch {
		case want[k] == '0':
			if c < '0' || c > '9' {
				return 0, ErrBadVersion
			}
			if k == 5 {
				major = c
			} else {
				minor = c
			}
		case c == want[k]:
		case c == '\n' && want[k] == '\r':
			return 0, ErrBareLF
		case want[k] == '\n':
			return 0, ErrBareCR
		default:
			return 0, ErrBadVersion
		}
	}
	if major != '1' || minor > '1' {
		return 0, ErrVersionNotSupported
	}
	r.Minor = int(minor - '0')
	return i + len(want), nil
}
