//go:build !race

package sse

import "testing"

func TestNoAllocs(t *testing.T) {
	cors := mustCORS(t, []string{"https://example.com", "https://*.example.net", "*"}, true)
	name := []byte("price")
	data := []byte("line one\r\nline two\rline three\n")
	channel := []byte("user:42")
	origins := [][]byte{
		[]byte("https://example.com"),
		[]byte("https://a.b.example.net"),
		[]byte("https://other.test"),
		[]byte("null"),
	}
	dst := make([]byte, 0, 4096)
	tests := []struct {
		desc string
		fn   func()
	}{
		{"AppendEvent", func() { dst = AppendEvent(dst[:0], 1<<52, name, data) }},
		{"EventLen", func() { _ = EventLen(1<<52, name, data) }},
		{"AppendRetry", func() { dst = AppendRetry(dst[:0], 3000) }},
		{"AppendStreamHead allowed", func() { dst = AppendStreamHead(dst[:0], cors, origins[1]) }},
		{"AppendStreamHead refused", func() { dst = AppendStreamHead(dst[:0], cors, origins[3]) }},
		{"AppendStreamHead CORS off", func() { dst = AppendStreamHead(dst[:0], nil, origins[2]) }},
		{"AppendPreflight allowed", func() { dst = AppendPreflight(dst[:0], cors, origins[0], true) }},
		{"Allowed exact", func() { cors.Allowed(origins[0]) }},
		{"Allowed wildcard", func() { cors.Allowed(origins[1]) }},
		{"Allowed star", func() { cors.Allowed(origins[2]) }},
		{"Allowed nil", func() { (*CORS)(nil).Allowed(origins[2]) }},
		{"ValidEventName", func() { _ = ValidEventName(name) }},
		{"ValidChannelName", func() { _ = ValidChannelName(channel) }},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(100, tt.fn); n != 0 {
			t.Errorf("%s: %v allocations, want 0", tt.desc, n)
		}
	}
}
