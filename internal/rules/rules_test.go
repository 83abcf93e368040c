package rules

import (
	"errors"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

func TestLookupFirstMatchWins(t *testing.T) {
	s, err := Compile([]Rule{
		{Match: "news", HistoryPerChannel: ptr(10)},
		{Match: "user:*", Private: ptr(true)},
		{Match: "user:admin", MaxSubscribers: ptr(1)}, // shadowed by user:*
		{Match: "*", HistoryAge: ptr(Duration(time.Minute))},
		{Match: "never"}, // shadowed by *
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		channel string
		want    int // index of the rule, -1: none
	}{
		{"news", 0},
		{"user:42", 1},
		{"user:", 1},
		{"user:admin", 1},
		{"use", 3},
		{"never", 3},
		{"newsx", 3},
	}
	for _, tt := range tests {
		got := s.Lookup([]byte(tt.channel))
		if got != &s.rules[tt.want] {
			t.Errorf("Lookup(%q) = %+v, want rule %d", tt.channel, got, tt.want)
		}
	}
	s, _ = Compile([]Rule{{Match: "a*"}, {Match: "b"}})
	if s.Lookup([]byte("c")) != nil || (*Set)(nil).Lookup([]byte("a")) != nil {
		t.Error("a channel no rule matches must get nil")
	}
}

func TestCompileRefuses(t *testing.T) {
	for _, r := range []Rule{
		{},
		{Match: "a*b"},
		{Match: "**"},
		{Match: "bad name"},
		{Match: "a+b*"},
		{Match: "a", HistoryPerChannel: ptr(-2)},
		{Match: "a", HistoryAge: ptr(Duration(0))},
		{Match: "a", MaxSubscribers: ptr(-1)},
	} {
		if _, err := Compile([]Rule{{Match: "ok"}, r}); !errors.Is(err, ErrBadRule) {
			t.Errorf("Compile(%+v) = %v, want ErrBadRule", r, err)
		} else if !testing.Short() {
			t.Logf("%v", err)
		}
	}
}

func TestDurationText(t *testing.T) {
	var d Duration
	if err := d.UnmarshalText([]byte("1h30m")); err != nil || time.Duration(d) != 90*time.Minute {
		t.Fatalf("1h30m: %v %v", d, err)
	}
	if err := d.UnmarshalText([]byte("soon")); err == nil {
		t.Fatal("soon: no error")
	}
	if b, _ := d.MarshalText(); string(b) != "1h30m0s" {
		t.Fatalf("MarshalText = %s", b)
	}
}
