package sse

import (
	"encoding/json"
	"testing"
)

func TestAppendEventJSON(t *testing.T) {
	cases := []struct {
		name, data string
	}{
		{"", "plain"},
		{"greet", "two\nlines"},
		{"q", `quote " back \ tab	<b>&`},
		{"", ""},
		{"u", "snow ☃ \u2028 sep"},
		{"bad", "x\xffy"},
		{"", "trailing\n"},
	}
	for _, c := range cases {
		frame := AppendEvent(nil, 42, []byte(c.name), []byte(c.data))
		out := AppendEventJSON(nil, frame, "news")
		var got struct {
			ID      uint64  `json:"id"`
			Channel string  `json:"channel"`
			Event   *string `json:"event"`
			Data    string  `json:"data"`
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%q: invalid JSON %s: %v", c.data, out, err)
		}
		want := c.data
		if c.name == "bad" {
			want = "x\ufffdy"
		}
		if got.ID != 42 || got.Channel != "news" || got.Data != want {
			t.Errorf("%q: got %+v from %s", c.data, got, out)
		}
		if (got.Event == nil) != (c.name == "") || (got.Event != nil && *got.Event != c.name) {
			t.Errorf("%q: event %v", c.data, got.Event)
		}
	}
}
