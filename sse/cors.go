package sse

import (
	"fmt"
	"strconv"
	"strings"
)

// maxOrigin bounds the Origin values that "*" accepts and echoes. A real
// origin is a scheme, a host of at most 253 bytes and a port.
const maxOrigin = 512

// CORS is a browser-origin allow-list. It is immutable after NewCORS and safe
// for concurrent use; a nil *CORS means CORS is off.
type CORS struct {
	anyOrigin   bool                // "*" was listed
	credentials bool                // send Access-Control-Allow-Credentials: true
	exact       map[string]struct{} // canonical origins, "https://example.com"
	wildcards   []wildcard          // "https://*.example.com" entries
}

// wildcard matches origins prefix + subdomain + suffix, such as
// "https://" + "a.b" + ".example.com:8443".
type wildcard struct {
	prefix string // scheme and "://"
	suffix string // "." parent host, then ":port" when one was given
}

// NewCORS builds the allow-list from entries written as browsers send the
// Origin header:
//
//   - "https://example.com" or "http://localhost:8080": that origin only.
//   - "https://*.example.com": any subdomain, at any depth, with that scheme
//     and port; not example.com itself.
//   - "*": any origin.
//
// Schemes and hosts are lower-cased and a default port (":443" for https,
// ":80" for http) is dropped, as browsers do. A path (even "/"), query,
// fragment or user info is an error, as is "null": opaque origins (sandboxed
// frames, file: pages) cannot be told apart and must not be trusted.
//
// With credentials, the allowed origin is echoed (never "*"), alongside
// Access-Control-Allow-Credentials: true, and "*" no longer matches "null".
// An empty list returns nil: CORS off, no CORS headers at all.
func NewCORS(origins []string, credentials bool) (*CORS, error) {
	if len(origins) == 0 {
		return nil, nil
	}
	c := &CORS{credentials: credentials, exact: make(map[string]struct{})}
	for _, entry := range origins {
		if entry == "*" {
			c.anyOrigin = true
			continue
		}
		o, err := parseOrigin(entry)
		if err != nil {
			return nil, err
		}
		if !o.wild {
			c.exact[o.String()] = struct{}{}
			continue
		}
		w := wildcard{prefix: o.scheme + "://", suffix: "." + o.host}
		if o.port != "" {
			w.suffix += ":" + o.port
		}
		c.wildcards = append(c.wildcards, w)
	}
	return c, nil
}

// Allowed reports whether a request carrying this Origin header value may
// read the stream from a browser. An empty origin (a same-origin request or
// a non-browser client) is not a CORS request and is never allowed. It does
// not allocate.
func (c *CORS) Allowed(origin []byte) bool {
	if c == nil || len(origin) == 0 {
		return false
	}
	if _, ok := c.exact[string(origin)]; ok {
		return true
	}
	for _, w := range c.wildcards {
		if w.match(origin) {
			return true
		}
	}
	if c.anyOrigin {
		// Whatever "*" accepts may be echoed into a header: refuse bytes that
		// could break it, and the opaque origin when it would carry cookies.
		if len(origin) > maxOrigin || !visibleASCII(origin) {
			return false
		}
		return !c.credentials || string(origin) != "null"
	}
	return false
}

// echoesOrigin reports whether Access-Control-Allow-Origin carries the
// request's origin rather than the constant "*", so that the response
// varies with Origin.
func (c *CORS) echoesOrigin() bool {
	return c != nil && (c.credentials || !c.anyOrigin)
}

// appendHeaders appends the CORS response headers for origin. When the
// allow-origin value depends on the request, Vary: Origin is sent whether or
// not this origin is allowed, so a cache never hands one origin's answer to
// another.
func (c *CORS) appendHeaders(dst, origin []byte) []byte {
	if c == nil {
		return dst
	}
	echo := c.echoesOrigin()
	if echo {
		dst = append(dst, "Vary: Origin\r\n"...)
	}
	if !c.Allowed(origin) {
		return dst
	}
	dst = append(dst, "Access-Control-Allow-Origin: "...)
	if echo {
		dst = append(dst, origin...)
	} else {
		dst = append(dst, '*')
	}
	dst = append(dst, "\r\n"...)
	if c.credentials {
		dst = append(dst, "Access-Control-Allow-Credentials: true\r\n"...)
	}
	return dst
}

func (w *wildcard) match(origin []byte) bool {
	n := len(origin) - len(w.prefix) - len(w.suffix)
	// string(origin) in a comparison does not copy or allocate.
	if n <= 0 || string(origin[:len(w.prefix)]) != w.prefix || string(origin[len(origin)-len(w.suffix):]) != w.suffix {
		return false
	}
	return validSubdomain(origin[len(w.prefix) : len(w.prefix)+n])
}

// validSubdomain reports whether b is one or more dot-separated, non-empty
// labels of lower-case letters, digits, "-" and "_". Requiring this keeps
// "https://evil.com/.example.com"-style values from matching a wildcard.
func validSubdomain(b []byte) bool {
	prevDot := true
	for _, ch := range b {
		switch {
		case ch == '.':
			if prevDot {
				return false
			}
			prevDot = true
		case 'a' <= ch && ch <= 'z', '0' <= ch && ch <= '9', ch == '-', ch == '_':
			prevDot = false
		default:
			return false
		}
	}
	return !prevDot
}

func visibleASCII(b []byte) bool {
	for _, ch := range b {
		if ch <= ' ' || ch >= 0x7f {
			return false
		}
	}
	return true
}

// origin is one parsed allow-list entry.
type origin struct {
	scheme string // lower-case
	host   string // lower-case; for a wildcard, the parent host
	port   string // "" when absent or the scheme's default
	wild   bool   // the entry was "scheme://*.host"
}

func (o origin) String() string {
	if o.port == "" {
		return o.scheme + "://" + o.host
	}
	return o.scheme + "://" + o.host + ":" + o.port
}

// parseOrigin parses one allow-list entry other than "*".
func parseOrigin(entry string) (origin, error) {
	fail := func(why string) error {
		return fmt.Errorf(`%w %s: %s; want "scheme://host[:port]", "scheme://*.host[:port]" or "*"`,
			ErrOrigin, quoted(entry), why)
	}
	if entry == "" {
		return origin{}, fail("empty")
	}
	if strings.EqualFold(entry, "null") {
		return origin{}, fail("opaque origins (sandboxed frames, file: pages) cannot be told apart")
	}
	scheme, rest, ok := strings.Cut(entry, "://")
	if !ok || !validScheme(scheme) {
		return origin{}, fail("no scheme")
	}
	o := origin{scheme: strings.ToLower(scheme)}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		return origin{}, fail(fmt.Sprintf("an origin has no path, query or fragment (try %q)", o.scheme+"://"+rest[:i]))
	}
	if strings.Contains(rest, "@") {
		return origin{}, fail("an origin has no user info")
	}
	rest, o.wild = strings.CutPrefix(rest, "*.")
	if strings.Contains(rest, "*") {
		return origin{}, fail(`a wildcard is a whole first label, as in "https://*.example.com"`)
	}
	rest = strings.ToLower(rest)
	var port string
	var hasPort bool
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if o.wild || end < 0 || !validIPv6(rest[1:end]) {
			return origin{}, fail("bad IPv6 host")
		}
		o.host = rest[:end+1]
		if after := rest[end+1:]; after != "" {
			if port, hasPort = strings.CutPrefix(after, ":"); !hasPort {
				return origin{}, fail("bad IPv6 host")
			}
		}
	} else {
		o.host, port, hasPort = strings.Cut(rest, ":")
		if !validSubdomain([]byte(o.host)) {
			return origin{}, fail("bad host (write internationalized names in punycode, xn--...)")
		}
	}
	if o.wild && !strings.Contains(o.host, ".") && o.host != "localhost" {
		return origin{}, fail("a wildcard over a single label would match every site under it")
	}
	if hasPort {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] < '1' || port[0] > '9' {
			return origin{}, fail("port must be 1 to 65535 without sign or leading zeros")
		}
		if !(o.scheme == "https" && n == 443) && !(o.scheme == "http" && n == 80) {
			o.port = port
		}
	}
	return o, nil
}

// validScheme checks RFC 3986's ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
func validScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		ch := s[i]
		alpha := 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z'
		other := '0' <= ch && ch <= '9' || ch == '+' || ch == '-' || ch == '.'
		if !alpha && (i == 0 || !other) {
			return false
		}
	}
	return s != ""
}

func validIPv6(s string) bool {
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !('0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'f' || ch == ':' || ch == '.') {
			return false
		}
	}
	return strings.Contains(s, ":")
}
