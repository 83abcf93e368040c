package sse

import (
	"errors"
	"strings"
	"testing"
)

func TestValidEventName(t *testing.T) {
	tests := []struct {
		name string
		why  string // "" when valid, else a part of the message
	}{
		{"message", ""},
		{"ssedge.gap", ""},
		{"price update", ""},
		{" leading space", ""},
		{"été", ""},
		{strings.Repeat("n", MaxEventName), ""},
		{"", "empty"},
		{strings.Repeat("n", MaxEventName+1), "257 bytes"},
		{"a\nb", `byte "\n" at offset 1`},
		{"a\rb", `byte "\r" at offset 1`},
		{"\x00", `byte "\x00" at offset 0`},
		{"bad\xff", "not valid UTF-8"},
	}
	for _, tt := range tests {
		err := ValidEventName([]byte(tt.name))
		if tt.why == "" {
			if err != nil {
				t.Errorf("ValidEventName(%q) = %v, want nil", tt.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrEventName) || !strings.Contains(err.Error(), tt.why) ||
			!strings.Contains(err.Error(), "want 1 to 256 bytes") {
			t.Errorf("ValidEventName(%q) = %v, want ErrEventName saying %q and what is expected", tt.name, err, tt.why)
		}
	}
}

func TestValidChannelName(t *testing.T) {
	tests := []struct {
		name string
		why  string
	}{
		{"news", ""},
		{"user:42", ""},
		{"user@example.com", ""},
		{"org/team-1/room_2.v3~x", ""},
		{"AZaz09", ""},
		{strings.Repeat("c", MaxChannelName), ""},
		{"", "empty"},
		{strings.Repeat("c", MaxChannelName+1), "129 bytes"},
		{"a b", `byte " " at offset 1`},
		{"a+b", `byte "+" at offset 1`},
		{"a=b", `byte "="`},
		{"a&b", `byte "&"`},
		{"a%20b", `byte "%"`},
		{"a?b", `byte "?"`},
		{"a#b", `byte "#"`},
		{`a"b`, `byte "\""`},
		{"a\nb", `byte "\n"`},
		{"é", `byte "\xc3" at offset 0`},
	}
	for _, tt := range tests {
		err := ValidChannelName([]byte(tt.name))
		if tt.why == "" {
			if err != nil {
				t.Errorf("ValidChannelName(%q) = %v, want nil", tt.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrChannelName) || !strings.Contains(err.Error(), tt.why) ||
			!strings.Contains(err.Error(), "want 1 to 128 bytes of A-Z a-z 0-9") {
			t.Errorf("ValidChannelName(%q) = %v, want ErrChannelName saying %q and what is expected", tt.name, err, tt.why)
		}
	}
}

func TestErrorClipsValue(t *testing.T) {
	err := ValidChannelName([]byte(strings.Repeat("x", 1<<20)))
	if n := len(err.Error()); n > 300 {
		t.Fatalf("error for a 1 MiB name is %d bytes long", n)
	}
	if !strings.Contains(err.Error(), "(1048576 bytes)") {
		t.Fatalf("error %q does not give the full length", err)
	}
}
