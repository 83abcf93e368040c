package main

import (
	"fmt"
	"reflect"
	"testing"
)

type gotEvent struct{ ID, Type, Data string }

func parseAll(t *testing.T, pieces ...string) []gotEvent {
	t.Helper()
	var p sseParser
	var got []gotEvent
	for _, piece := range pieces {
		err := p.feed([]byte(piece), func(ev *sseEvent) {
			got = append(got, gotEvent{string(ev.ID), string(ev.Type), string(ev.Data)})
		})
		if err != nil {
			t.Fatalf("feed(%q): %v", piece, err)
		}
	}
	return got
}

func TestSSEParser(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []gotEvent
	}{
		{"single", "id: 1\ndata: hello\n\n", []gotEvent{{"1", "", "hello"}}},
		{"named", "id: 7\nevent: tick\ndata: x\n\n", []gotEvent{{"7", "tick", "x"}}},
		{"multiline data", "data: a\ndata: b\ndata:\n\n", []gotEvent{{"", "", "a\nb\n"}}},
		{"no space after colon", "id:3\ndata:v\n\n", []gotEvent{{"3", "", "v"}}},
		{"only first space stripped", "data:  two\n\n", []gotEvent{{"", "", " two"}}},
		{"CRLF", "id: 1\r\ndata: a\r\n\r\n", []gotEvent{{"1", "", "a"}}},
		{"bare CR", "id: 1\rdata: a\r\r", []gotEvent{{"1", "", "a"}}},
		{"comments and heartbeats ignored", ":\n\n: hi\ndata: x\n\n:\n\n", []gotEvent{{"", "", "x"}}},
		{"no data no dispatch", "id: 5\nevent: e\n\n", nil},
		{"id persists, type resets", "id: 1\nevent: e\ndata: a\n\ndata: b\n\n", []gotEvent{{"1", "e", "a"}, {"1", "", "b"}}},
		{"id with NUL ignored", "id: 1\n\nid: 2\x003\ndata: a\n\n", []gotEvent{{"1", "", "a"}}},
		{"field without colon", "data\n\n", []gotEvent{{"", "", ""}}},
		{"retry and unknown ignored", "retry: 10\nfoo: bar\ndata: a\n\n", []gotEvent{{"", "", "a"}}},
		{"incomplete event not dispatched", "id: 1\ndata: a\n", nil},
		{"two events", "id: 1\ndata: a\n\nid: 2\ndata: b\n\n", []gotEvent{{"1", "", "a"}, {"2", "", "b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseAll(t, tt.input); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("whole: got %q, want %q", got, tt.want)
			}
			// Every split into two pieces, and one byte at a time, must
			// give the same events: reads end anywhere, CRLF included.
			for i := 0; i <= len(tt.input); i++ {
				if got := parseAll(t, tt.input[:i], tt.input[i:]); !reflect.DeepEqual(got, tt.want) {
					t.Errorf("split at %d: got %q, want %q", i, got, tt.want)
				}
			}
			var bytewise []string
			for i := range len(tt.input) {
				bytewise = append(bytewise, tt.input[i:i+1])
			}
			if got := parseAll(t, bytewise...); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("bytewise: got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSSEParserLineLimit(t *testing.T) {
	var p sseParser
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = 'x'
	}
	var err error
	for i := 0; i < 20 && err == nil; i++ {
		err = p.feed(chunk, func(*sseEvent) {})
	}
	if err != errSSELineTooLong {
		t.Fatalf("got %v, want %v", err, errSSELineTooLong)
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	for _, size := range []int{0, 10, 100, 4096} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			body := appendPayload(nil, 42, 7, 1790000000123456789, size)
			if size > 60 && len(body) != size {
				t.Errorf("len %d, want %d", len(body), size)
			}
			run, seq, sent, ok := parsePayload(body)
			if !ok || run != 42 || seq != 7 || sent != 1790000000123456789 {
				t.Errorf("parsePayload(%q) = %d %d %d %v", body, run, seq, sent, ok)
			}
		})
	}
	for _, bad := range []string{"", "run=1", "run=1 seq=x t=2", "seq=1 run=1 t=2", "run=1 seq=1 t=", "hello"} {
		if _, _, _, ok := parsePayload([]byte(bad)); ok {
			t.Errorf("parsePayload(%q) ok, want refusal", bad)
		}
	}
}
