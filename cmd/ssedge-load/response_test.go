package main

import (
	"errors"
	"strings"
	"testing"
)

func TestParseResponseHead(t *testing.T) {
	tests := []struct {
		name, head string
		chunked    bool
		wantErr    string
	}{
		{"ssedge style", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n", false, ""},
		{"net/http style", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n", true, ""},
		{"charset", "HTTP/1.1 200 OK\r\ncontent-type: Text/Event-Stream; charset=utf-8\r\n\r\n", false, ""},
		{"404", "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\r\n", false, "want 200"},
		{"wrong type", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", false, "want text/event-stream"},
		{"no type", "HTTP/1.1 200 OK\r\n\r\n", false, "no Content-Type"},
		{"gzip", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: gzip\r\n\r\n", false, "want chunked"},
		{"not http", "SSH-2.0-OpenSSH\r\n\r\n", false, "want HTTP/1.x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := parseResponseHead([]byte(tt.head))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.chunked != tt.chunked {
				t.Errorf("chunked = %v, want %v", h.chunked, tt.chunked)
			}
		})
	}
}

func TestChunkedDecoder(t *testing.T) {
	tests := []struct {
		name, input, want string
		wantErr           error
	}{
		{"two chunks", "5\r\nhello\r\n1;ext=1\r\n!\r\n", "hello!", nil},
		{"upper hex", "A\r\n0123456789\r\n", "0123456789", nil},
		{"end of stream", "3\r\nabc\r\n0\r\n\r\n", "abc", errStreamEnded},
		{"bad size", "zz\r\n", "", errBadChunk},
		{"missing CRLF after data", "3\r\nabcX", "abc", errBadChunk},
		{"oversized", "1000000000000000\r\n", "", errBadChunk},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, step := range []int{len(tt.input), 1, 2, 3} {
				var c chunkedDecoder
				var got strings.Builder
				var err error
				for in := tt.input; len(in) > 0 && err == nil; {
					n := min(step, len(in))
					err = c.feed([]byte(in[:n]), func(b []byte) error { got.Write(b); return nil })
					in = in[n:]
				}
				if !errors.Is(err, tt.wantErr) || got.String() != tt.want {
					t.Errorf("step %d: got %q, %v; want %q, %v", step, got.String(), err, tt.want, tt.wantErr)
				}
			}
		})
	}
}
