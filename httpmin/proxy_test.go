package httpmin

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
)

func proxyV2(cmd, fam byte, body []byte) []byte {
	b := append([]byte(nil), proxyV2Sig...)
	b = append(b, 0x20|cmd, fam, 0, 0)
	binary.BigEndian.PutUint16(b[14:], uint16(len(body)))
	return append(b, body...)
}

func TestParseProxy(t *testing.T) {
	v4 := proxyV2(1, 0x11, []byte{203, 0, 113, 7, 10, 0, 0, 1, 0x30, 0x39, 0x1f, 0x90})
	v6body := make([]byte, 36)
	copy(v6body, netip.MustParseAddr("2001:db8::9").AsSlice())
	binary.BigEndian.PutUint16(v6body[32:], 443)
	cases := []struct {
		name string
		in   string
		n    int
		src  string
		err  error
	}{
		{"v1 tcp4", "PROXY TCP4 198.51.100.22 10.0.0.1 35646 80\r\nGET /", 44, "198.51.100.22:35646", nil},
		{"v1 tcp6", "PROXY TCP6 2001:db8::1 ::1 4000 443\r\n", 37, "[2001:db8::1]:4000", nil},
		{"v1 unknown", "PROXY UNKNOWN\r\nGET", 15, "invalid AddrPort", nil},
		{"v1 partial", "PROXY TCP4 198.51", 0, "invalid AddrPort", ErrNeedMore},
		{"v1 family mismatch", "PROXY TCP4 2001:db8::1 ::1 1 2\r\n", 0, "invalid AddrPort", ErrBadProxy},
		{"v1 bad port", "PROXY TCP4 1.2.3.4 5.6.7.8 99999 80\r\n", 0, "invalid AddrPort", ErrBadProxy},
		{"v1 extra field", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", 0, "invalid AddrPort", ErrBadProxy},
		{"v1 too long", "PROXY TCP4 " + string(make([]byte, 120)), 0, "invalid AddrPort", ErrBadProxy},
		{"no header", "GET /events HTTP/1.1\r\n", 0, "invalid AddrPort", ErrNoProxyHeader},
		{"v2 tcp4", string(v4) + "GET", 28, "203.0.113.7:12345", nil},
		{"v2 tcp6", string(proxyV2(1, 0x21, v6body)), 52, "[2001:db8::9]:443", nil},
		{"v2 local", string(proxyV2(0, 0x00, nil)), 16, "invalid AddrPort", nil},
		{"v2 partial", string(v4[:20]), 0, "invalid AddrPort", ErrNeedMore},
		{"v2 short body", string(proxyV2(1, 0x11, []byte{1, 2, 3})), 0, "invalid AddrPort", ErrBadProxy},
		{"v2 bad version", string(append(append([]byte(nil), proxyV2Sig...), 0x31, 0x11, 0, 0)), 0, "invalid AddrPort", ErrBadProxy},
		{"v2 bad signature", "\r\n\r\n\x00\r\nQUIX\n", 0, "invalid AddrPort", ErrNoProxyHeader},
	}
	for _, c := range cases {
		n, src, err := ParseProxy([]byte(c.in))
		if n != c.n || src.String() != c.src || !errors.Is(err, c.err) && (err != nil || c.err != nil) {
			t.Errorf("%s: ParseProxy = %d, %v, %v; want %d, %s, %v", c.name, n, src, err, c.n, c.src, c.err)
		}
		// Every proper prefix of a good header asks for more.
		if c.err == nil {
			for k := 0; k < c.n; k++ {
				if _, _, err := ParseProxy([]byte(c.in[:k])); err != ErrNeedMore {
					t.Errorf("%s: prefix %d: %v, want ErrNeedMore", c.name, k, err)
					break
				}
			}
		}
	}
}

func FuzzParseProxy(f *testing.F) {
	f.Add([]byte("PROXY TCP4 198.51.100.22 10.0.0.1 35646 80\r\n"))
	f.Add(proxyV2(1, 0x11, []byte{203, 0, 113, 7, 10, 0, 0, 1, 0x30, 0x39, 0x1f, 0x90}))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, _, err := ParseProxy(b)
		if n < 0 || n > len(b) || (err != nil && n != 0) {
			t.Fatalf("n=%d err=%v for %q", n, err, b)
		}
	})
}
