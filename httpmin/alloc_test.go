//go:build !race

package httpmin

import "testing"

func TestParseAllocs(t *testing.T) {
	buf := []byte("GET /events?channel=a&channel=b HTTP/1.1\r\nHost: example.com\r\n" +
		"Last-Event-ID: 17\r\nOrigin: https://example.com\r\nConnection: keep-alive, Upgrade\r\n" +
		"Cookie: s=1\r\n\r\n")
	post := []byte("POST /publish?channel=a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
	noHost := []byte("GET / HTTP/1.1\r\n\r\n")
	var r Request
	dst := make([]byte, 0, 64)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := Parse(buf, &r); err != nil {
			t.Fatal(err)
		}
		_ = r.Header("cookie")
		if _, err := Parse(post, &r); err != nil {
			t.Fatal(err)
		}
		for q := r.RawQuery; len(q) > 0; {
			var k, v []byte
			k, v, q = NextParam(q)
			dst, _ = Unescape(append(dst[:0], k...), v)
		}
		if _, err := Parse(buf[:20], &r); err != ErrNeedMore {
			t.Fatal(err)
		}
		if _, err := Parse(noHost, &r); err != ErrMissingHost {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Parse, Header, NextParam and Unescape allocate %v times per run, want 0", allocs)
	}
}
