package ssetest

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// ev is a dispatched event as an EventSource reports it.
type ev struct{ lastID, typ, data string }

func events(t *testing.T, stream string) []ev {
	t.Helper()
	fs, err := Events([]byte(stream))
	if err != nil {
		t.Fatal(err)
	}
	var out []ev
	for _, f := range fs {
		out = append(out, ev{f.LastEventID, f.Event, f.Data})
	}
	return out
}

// The WHATWG HTML event stream interpretation (§9.2.6), rule by rule.
func TestParseWHATWG(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stream string
		want   []ev
	}{
		{"one event", "data: a\n\n", []ev{{"", "", "a"}}},
		{"no space after the colon", "data:a\n\n", []ev{{"", "", "a"}}},
		{"only one leading space is stripped", "data:  a \n\n", []ev{{"", "", " a "}}},
		{"data lines joined with LF", "data: a\ndata: b\ndata\n\n", []ev{{"", "", "a\nb\n"}}},
		{"empty data dispatches", "data\n\n", []ev{{"", "", ""}}},
		{"CRLF line ends", "id: 1\r\nevent: e\r\ndata: x\r\n\r\n", []ev{{"1", "e", "x"}}},
		{"CR line ends", "id: 1\revent: e\rdata: x\r\r", []ev{{"1", "e", "x"}}},
		{"mixed line ends", "data: a\r\ndata: b\rdata: c\n\r\n", []ev{{"", "", "a\nb\nc"}}},
		{"a BOM at the start is dropped", "\ufeffdata: a\n\n", []ev{{"", "", "a"}}},
		{"only the first BOM", "\ufeff\ufeffdata: a\n\ndata: b\n\n", []ev{{"", "", "b"}}},
		{"a BOM later is text", "data: \ufeffa\n\n", []ev{{"", "", "\ufeffa"}}},
		{"comments are ignored", ": hi\ndata: a\n:\n\n", []ev{{"", "", "a"}}},
		{"no data, no event", "event: e\nid: 3\n\ndata: a\n\n", []ev{{"3", "", "a"}}},
		{"the id persists", "id: 1\ndata: a\n\ndata: b\n\n", []ev{{"1", "", "a"}, {"1", "", "b"}}},
		{"an empty id resets it", "id: 1\ndata: a\n\nid\ndata: b\n\n", []ev{{"1", "", "a"}, {"", "", "b"}}},
		{"an id with NUL is ignored", "id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n", []ev{{"1", "", "a"}, {"1", "", "b"}}},
		{"the event type does not persist", "event: e\ndata: a\n\ndata: b\n\n", []ev{{"", "e", "a"}, {"", "", "b"}}},
		{"unknown fields are ignored", "foo: bar\ndata: a\nDATA: b\n\n", []ev{{"", "", "a"}}},
		{"a field name is the whole line without a colon", "data\ndata:\n\n", []ev{{"", "", "\n"}}},
		{"colons after the first are value", "data: a:b: c\n\n", []ev{{"", "", "a:b: c"}}},
		{"the last event without its blank line is dropped", "data: a\n\ndata: b\n", []ev{{"", "", "a"}}},
		{"a last line without its end is dropped", "data: a\n\ndata: b", []ev{{"", "", "a"}}},
		{"leading blank lines", "\n\n\r\ndata: a\n\n", []ev{{"", "", "a"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := events(t, tc.stream); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%q: got %q, want %q", tc.stream, got, tc.want)
			}
			// Byte by byte, and split at every point, it is the same.
			for i := range len(tc.stream) {
				var p Parser
				var got []ev
				for _, part := range []string{tc.stream[:i], tc.stream[i:]} {
					for _, c := range []byte(part) {
						f, ok, err := p.Push(c)
						if err != nil {
							t.Fatal(err)
						}
						if ok && f.Dispatched {
							got = append(got, ev{f.LastEventID, f.Event, f.Data})
						}
					}
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("split at %d: got %q, want %q", i, got, tc.want)
				}
			}
		})
	}
}

// retry: only ASCII digits set the reconnection time.
func TestParseRetry(t *testing.T) {
	for _, tc := range []struct {
		line string
		want int
	}{
		{"retry: 3000", 3000},
		{"retry:0", 0},
		{"retry: 1500 ", -1},
		{"retry: -1", -1},
		{"retry: 1e3", -1},
		{"retry: ", -1},
		{"retry: +5", -1},
		{"retry: ３", -1}, // a full-width digit is not an ASCII one
		{"retry", -1},
	} {
		fs, err := Parse([]byte(tc.line + "\n\n"))
		if err != nil || len(fs) != 1 {
			t.Fatalf("%q: %v %v", tc.line, fs, err)
		}
		if fs[0].Retry != tc.want || fs[0].Dispatched {
			t.Errorf("%q: retry %d dispatched %v, want %d and a control block", tc.line, fs[0].Retry, fs[0].Dispatched, tc.want)
		}
	}
}

// Control blocks are frames too: a heartbeat, retry advice, an id alone.
func TestParseControlBlocks(t *testing.T) {
	fs, err := Parse([]byte(": heartbeat\n\nretry: 500\n\nid: 7\n\nid: 8\nevent: x\ndata: d\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Frame{
		{Retry: -1, Comments: []string{" heartbeat"}, Raw: ": heartbeat\n"},
		{Retry: 500, Raw: "retry: 500\n"},
		{ID: "7", HasID: true, LastEventID: "7", Retry: -1, Raw: "id: 7\n"},
		{Dispatched: true, ID: "8", HasID: true, LastEventID: "8", Event: "x", Data: "d", Retry: -1, Raw: "id: 8\nevent: x\ndata: d\n"},
	}
	if !reflect.DeepEqual(fs, want) {
		t.Fatalf("got  %+v\nwant %+v", fs, want)
	}
	for i, c := range []bool{true, true, true, false} {
		if fs[i].Control() != c {
			t.Errorf("frame %d: Control() %v, want %v", i, fs[i].Control(), c)
		}
	}
}

func TestParseLineTooLong(t *testing.T) {
	_, err := Parse([]byte("data: " + strings.Repeat("x", maxLine)))
	if !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("a line over the bound: %v, want ErrLineTooLong", err)
	}
}
