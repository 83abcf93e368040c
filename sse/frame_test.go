package sse

import (
	"bytes"
	"math"
	"strconv"
	"testing"
)

func TestAppendEvent(t *testing.T) {
	tests := []struct {
		desc string
		id   uint64
		name string
		data string
		want string
	}{
		{"single line", 1, "", "hello", "id: 1\ndata: hello\n\n"},
		{"LF lines", 2, "", "a\nb\nc", "id: 2\ndata: a\ndata: b\ndata: c\n\n"},
		{"CRLF lines", 3, "", "a\r\nb", "id: 3\ndata: a\ndata: b\n\n"},
		{"lone CR", 4, "", "a\rb", "id: 4\ndata: a\ndata: b\n\n"},
		{"mixed endings", 5, "", "a\r\nb\rc\nd", "id: 5\ndata: a\ndata: b\ndata: c\ndata: d\n\n"},
		{"CR CR LF", 6, "", "a\r\r\nb", "id: 6\ndata: a\ndata: \ndata: b\n\n"},
		{"LF CR", 7, "", "a\n\rb", "id: 7\ndata: a\ndata: \ndata: b\n\n"},
		{"trailing LF", 8, "", "a\n", "id: 8\ndata: a\ndata: \n\n"},
		{"trailing CRLF", 9, "", "a\r\n", "id: 9\ndata: a\ndata: \n\n"},
		{"trailing CR", 10, "", "a\r", "id: 10\ndata: a\ndata: \n\n"},
		{"only LF", 11, "", "\n", "id: 11\ndata: \ndata: \n\n"},
		{"blank line inside", 12, "", "a\n\nb", "id: 12\ndata: a\ndata: \ndata: b\n\n"},
		{"empty data", 13, "", "", "id: 13\ndata: \n\n"},
		{"leading space kept", 14, "", " a", "id: 14\ndata:  a\n\n"},
		{"colon in data", 15, "", "k: v", "id: 15\ndata: k: v\n\n"},
		{"named event", 16, "price", `{"p":1}`, "id: 16\nevent: price\ndata: {\"p\":1}\n\n"},
		{"named empty data", 17, "ping", "", "id: 17\nevent: ping\ndata: \n\n"},
		{"zero id", 0, "", "x", "id: 0\ndata: x\n\n"},
		{"2^53-1 id", 1<<53 - 1, "", "x", "id: 9007199254740991\ndata: x\n\n"},
		{"max id", math.MaxUint64, "", "x", "id: 18446744073709551615\ndata: x\n\n"},
		{"UTF-8", 18, "été", "naïve\n☃", "id: 18\nevent: été\ndata: naïve\ndata: ☃\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			prefix := []byte("keep")
			got := AppendEvent(prefix, tt.id, []byte(tt.name), []byte(tt.data))
			if string(got) != "keep"+tt.want {
				t.Fatalf("AppendEvent(%d, %q, %q) = %q, want %q", tt.id, tt.name, tt.data, got[4:], tt.want)
			}
			if n := EventLen(tt.id, []byte(tt.name), []byte(tt.data)); n != len(tt.want) {
				t.Errorf("EventLen = %d, want %d", n, len(tt.want))
			}
			checkRoundTrip(t, tt.id, []byte(tt.name), []byte(tt.data), got[4:])
		})
	}
}

// checkRoundTrip parses frame as EventSource would and checks it yields
// exactly the event that was formatted.
func checkRoundTrip(t *testing.T, id uint64, name, data, frame []byte) {
	t.Helper()
	events, _ := parseStream(frame)
	want := parsedEvent{id: strconv.FormatUint(id, 10), name: string(name), data: normalizeLines(string(data))}
	if len(events) != 1 || events[0] != want {
		t.Fatalf("parse(%q) = %+v, want [%+v]", frame, events, want)
	}
}

func TestAppendRetry(t *testing.T) {
	tests := []struct {
		ms   int
		want string
	}{
		{3000, "retry: 3000\n\n"},
		{0, "retry: 0\n\n"},
		{-5, "retry: 0\n\n"},
	}
	for _, tt := range tests {
		got := AppendRetry(nil, tt.ms)
		if string(got) != tt.want {
			t.Errorf("AppendRetry(%d) = %q, want %q", tt.ms, got, tt.want)
		}
		events, retry := parseStream(got)
		if len(events) != 0 || retry != max(tt.ms, 0) {
			t.Errorf("parse(%q) = %v events, retry %d; want none, %d", got, len(events), retry, max(tt.ms, 0))
		}
	}
}

func TestComment(t *testing.T) {
	tests := []struct {
		text string
		want string
	}{
		{"", ":\n\n"},
		{"hello", ": hello\n\n"},
		{"a\nb", ": a\n: b\n\n"},
		{"a\r\nb\rc", ": a\n: b\n: c\n\n"},
		{"a\n\nb", ": a\n:\n: b\n\n"},
		{"a\n", ": a\n:\n\n"},
	}
	for _, tt := range tests {
		got := appendComment(nil, []byte(tt.text))
		if string(got) != tt.want {
			t.Errorf("appendComment(%q) = %q, want %q", tt.text, got, tt.want)
		}
		// A comment between two events must not disturb either.
		stream := AppendEvent(nil, 1, nil, []byte("x"))
		stream = append(stream, got...)
		stream = AppendEvent(stream, 2, nil, []byte("y"))
		if events, _ := parseStream(stream); len(events) != 2 || events[1].data != "y" {
			t.Errorf("comment %q disturbs the stream: parsed %+v", tt.text, events)
		}
	}
}

func TestHeartbeat(t *testing.T) {
	if string(Heartbeat) != ":\n\n" || cap(Heartbeat) != len(Heartbeat) {
		t.Fatalf("Heartbeat = %q (cap %d), want %q with cap == len", Heartbeat, cap(Heartbeat), ":\n\n")
	}
	if events, _ := parseStream(Heartbeat); len(events) != 0 {
		t.Fatalf("Heartbeat dispatched %+v", events)
	}
}

// TestStream parses a whole stream as a subscriber receives it.
func TestStream(t *testing.T) {
	var s []byte
	s = AppendRetry(s, 2500)
	s = AppendEvent(s, 41, nil, []byte("one"))
	s = append(s, Heartbeat...)
	s = AppendEvent(s, 42, []byte(GapEvent), []byte(`{"channel":"a","from":1,"to":40}`))
	s = appendComment(s, []byte("note"))
	s = AppendEvent(s, 43, nil, []byte("three\r\n"))
	events, retry := parseStream(s)
	want := []parsedEvent{
		{"41", "", "one"},
		{"42", GapEvent, `{"channel":"a","from":1,"to":40}`},
		{"43", "", "three\n"},
	}
	if retry != 2500 || len(events) != len(want) {
		t.Fatalf("parse = %+v, retry %d; want %+v, retry 2500", events, retry, want)
	}
	for i := range want {
		if events[i] != want[i] {
			t.Errorf("event %d = %+v, want %+v", i, events[i], want[i])
		}
	}
}

func FuzzRoundTrip(f *testing.F) {
	f.Add(uint64(1), []byte("price"), []byte("a\r\nb\rc\nd\n"), []byte("hb"))
	f.Add(uint64(0), []byte(""), []byte(""), []byte(""))
	f.Add(uint64(math.MaxUint64), []byte(" x"), []byte("\r\r\n\n\r"), []byte("a\nb"))
	f.Add(uint64(7), []byte("ssedge.gap"), []byte(": not a comment\nid: 9\nevent: x\n\n"), []byte("\r"))
	f.Fuzz(func(t *testing.T, id uint64, name, data, comment []byte) {
		if ValidEventName(name) != nil {
			name = nil
		}
		frame := AppendEvent(nil, id, name, data)
		if n := EventLen(id, name, data); n != len(frame) {
			t.Fatalf("EventLen(%d, %q, %q) = %d, frame is %d bytes", id, name, data, n, len(frame))
		}
		checkRoundTrip(t, id, name, data, frame)

		// The same event amid the other frames still parses alone.
		var s []byte
		s = append(s, Heartbeat...)
		s = appendComment(s, comment)
		s = AppendRetry(s, len(comment))
		s = append(s, frame...)
		s = appendComment(s, data)
		events, retry := parseStream(s)
		want := parsedEvent{id: strconv.FormatUint(id, 10), name: string(name), data: normalizeLines(string(data))}
		if len(events) != 1 || events[0] != want || retry != len(comment) {
			t.Fatalf("parse(%q) = %+v, retry %d; want [%+v], retry %d", s, events, retry, want, len(comment))
		}
		if bytes.Count(frame, []byte("\n\n")) != 1 || !bytes.HasSuffix(frame, []byte("\n\n")) {
			t.Fatalf("frame %q must end with its only blank line", frame)
		}
	})
}

func BenchmarkAppendEvent(b *testing.B) {
	cases := []struct {
		desc string
		name string
		data []byte
	}{
		{"small", "", []byte(`{"user":42,"status":"online"}`)},
		{"named", "price", []byte(`{"sym":"ACME","p":101.25}`)},
		{"8lines", "", bytes.Repeat([]byte("a line of event text\n"), 8)},
		{"4KiB", "", bytes.Repeat([]byte("x"), 4096)},
		{"4KiB-CRLF", "", bytes.Repeat([]byte("0123456789abcd\r\n"), 256)},
	}
	for _, c := range cases {
		b.Run(c.desc, func(b *testing.B) {
			name := []byte(c.name)
			id := uint64(1) << 52
			dst := make([]byte, 0, EventLen(id, name, c.data)+64)
			b.SetBytes(int64(len(c.data)))
			b.ReportAllocs()
			for b.Loop() {
				dst = AppendEvent(dst[:0], id, name, c.data)
			}
		})
	}
}

// BenchmarkFormatShared is the per-event publish cost: size the frame, make
// it, fill it.
func BenchmarkFormatShared(b *testing.B) {
	data := []byte(`{"user":42,"status":"online"}`)
	name := []byte("presence")
	b.ReportAllocs()
	for b.Loop() {
		id := uint64(1) << 52
		frame := make([]byte, 0, EventLen(id, name, data))
		_ = AppendEvent(frame, id, name, data)
	}
}
