package httpmin

import (
	"errors"
	"testing"
)

func TestNextParam(t *testing.T) {
	tests := []struct {
		q                string
		key, value, rest string
	}{
		{"", "", "", ""},
		{"channel=a", "channel", "a", ""},
		{"channel=a&channel=b", "channel", "a", "channel=b"},
		{"flag&x=1", "flag", "", "x=1"},
		{"&x=1", "", "", "x=1"},
		{"x=&y", "x", "", "y"},
		{"x=a=b&", "x", "a=b", ""},
		{"k%20=v+1", "k%20", "v+1", ""},
	}
	for _, tc := range tests {
		k, v, rest := NextParam([]byte(tc.q))
		if string(k) != tc.key || string(v) != tc.value || string(rest) != tc.rest {
			t.Errorf("NextParam(%q) = %q, %q, %q; want %q, %q, %q", tc.q, k, v, rest, tc.key, tc.value, tc.rest)
		}
	}
}

func TestNextParamLoop(t *testing.T) {
	var keys, values []string
	for q := []byte("channel=a&&lastEventId=7&channel=b%2Fc"); len(q) > 0; {
		var k, v []byte
		k, v, q = NextParam(q)
		if len(k) == 0 {
			continue
		}
		keys, values = append(keys, string(k)), append(values, string(v))
	}
	if got := len(keys); got != 3 || keys[2] != "channel" || values[2] != "b%2Fc" || values[1] != "7" {
		t.Errorf("loop gave %q = %q", keys, values)
	}
}

func TestUnescape(t *testing.T) {
	tests := []struct {
		in   string
		want string
		err  error
	}{
		{"", "", nil},
		{"plain", "plain", nil},
		{"a+b", "a b", nil},
		{"%41%62%2f%2F", "Ab//", nil},
		{"caf%C3%A9", "café", nil},
		{"%00", "\x00", nil},
		{"%2B+", "+ ", nil},
		{"%", "", ErrBadEscape},
		{"a%4", "", ErrBadEscape},
		{"%zz", "", ErrBadEscape},
		{"%4g", "", ErrBadEscape},
	}
	for _, tc := range tests {
		got, err := Unescape([]byte("pre:"), []byte(tc.in))
		want := "pre:" + tc.want
		if !errors.Is(err, tc.err) || string(got) != want {
			t.Errorf("Unescape(%q) = %q, %v; want %q, %v", tc.in, got, err, want, tc.err)
		}
	}
	if got := StatusOf(ErrBadEscape); got != 400 {
		t.Errorf("StatusOf(ErrBadEscape) = %d, want 400", got)
	}
}
