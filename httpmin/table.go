package httpmin

// Byte classes, one lookup per byte on the hot path.
var (
	isToken  [256]bool // RFC 9110 tchar: method and header names
	isTarget [256]bool // RFC 3986 pchar, '/', '?', '%', and what browsers leave unescaped in queries
	isValue  [256]bool // field-vchar, SP, HTAB and obs-text: header values
	isHost   [256]bool // RFC 3986 reg-name, IP-literal brackets, ':' port
	hexValue [256]int8 // value of a hex digit, -1 for other bytes
	lower    [256]byte // ASCII lower case, other bytes unchanged
)

func init() {
	for c := 0; c < 256; c++ {
		b := byte(c)
		alnum := 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9'
		isToken[c] = alnum || contains("!#$%&'*+-.^_`|~", b)
		unreserved := alnum || contains("-._~", b)
		subDelim := contains("!$&'()*+,;=", b)
		// Browsers send | { } [ ] ^ \ and ` raw in a query (the WHATWG URL
		// query percent-encode set omits them), so refusing them would
		// refuse real EventSource URLs; they are still checked afterwards
		// by whoever interprets the value.
		isTarget[c] = unreserved || subDelim || contains(":@/?%", b) || contains("|{}[]^\\`", b)
		isValue[c] = 0x21 <= b && b <= 0x7e || b == ' ' || b == '\t' || b >= 0x80
		isHost[c] = unreserved || subDelim || contains(":[]%", b)
		hexValue[c] = -1
		lower[c] = b
		if 'A' <= b && b <= 'Z' {
			lower[c] = b + 'a' - 'A'
		}
	}
	for c := byte('0'); c <= '9'; c++ {
		hexValue[c] = int8(c - '0')
	}
	for c := byte('a'); c <= 'f'; c++ {
		hexValue[c] = int8(c - 'a' + 10)
		hexValue[c-'a'+'A'] = int8(c - 'a' + 10)
	}
}

func contains(set string, b byte) bool {
	for i := 0; i < len(set); i++ {
		if set[i] == b {
			return true
		}
	}
	return false
}

// equalFold reports whether b and s are equal, ignoring ASCII case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if lower[b[i]] != lower[s[i]] {
			return false
		}
	}
	return true
}

// trimOWS drops leading and trailing SP and HTAB (RFC 9110 §5.6.3).
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
