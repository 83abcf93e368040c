package httpmin

import "bytes"

// NextParam splits the first key=value pair off a raw query. Key and value
// are still escaped (see Unescape); a pair without '=' has an empty value,
// and empty pairs ("a=1&&b=2") come back with an empty key for the caller
// to skip. Loop until rest is empty:
//
//	for q := r.RawQuery; len(q) > 0; {
//		var k, v []byte
//		k, v, q = httpmin.NextParam(q)
//		...
//	}
func NextParam(q []byte) (key, value, rest []byte) {
	pair := q
	if i := bytes.IndexByte(q, '&'); i >= 0 {
		pair, rest = q[:i], q[i+1:]
	}
	key = pair
	if i := bytes.IndexByte(pair, '='); i >= 0 {
		key, value = pair[:i], pair[i+1:]
	}
	return key, value, rest
}

// Unescape appends s to dst with %XX escapes decoded and '+' turned into a
// space (application/x-www-form-urlencoded, what browsers send in queries).
// A '%' not followed by two hex digits returns dst unchanged and
// ErrBadEscape. It allocates only when dst lacks room.
func Unescape(dst, s []byte) ([]byte, error) {
	n := len(dst)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			dst = append(dst, ' ')
		case '%':
			if i+2 >= len(s) || hexValue[s[i+1]] < 0 || hexValue[s[i+2]] < 0 {
				return dst[:n], ErrBadEscape
			}
			dst = append(dst, byte(hexValue[s[i+1]]<<4|hexValue[s[i+2]]))
			i += 2
		default:
			dst = append(dst, c)
		}
	}
	return dst, nil
}
