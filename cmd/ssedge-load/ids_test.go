package main

import "testing"

func TestIDs(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"1795436225092967", 1795436225092967, true},
		{"1795436225:0", 1795436225 << 16, true},
		{"1795436225:3", 1795436225<<16 | 3, true},
		{"queued messages: 1\r\nlast requested: -1 sec. ago\r\nactive subscribers: 5000\r\nlast message id: 1795436225:2\r\n", 1795436225<<16 | 2, true},
		{"12a", 0, false},
		{"1:99999", 0, false},
	} {
		got, err := publishedID([]byte(c.in))
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("publishedID(%q) = %d, %v; want %d ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
	a, _ := parseID([]byte("1795436225:9"))
	b, _ := parseID([]byte("1795436226:0"))
	if a >= b {
		t.Error("Nchan ids do not keep their order")
	}
}
