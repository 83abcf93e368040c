package pubsub

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// limitsOf is a HistoryLimits from a table of name prefixes.
func limitsOf(table map[string][2]int64) HistoryLimits {
	return func(ch []byte) (int, time.Duration, bool) {
		for p, l := range table {
			if strings.HasPrefix(string(ch), p) {
				return int(l[0]), time.Duration(l[1]), true
			}
		}
		return 0, 0, false
	}
}

func TestHistoryLimitsPerChannel(t *testing.T) {
	h := NewHub(Config{History: HistoryConfig{PerChannel: 10}})
	defer h.Close()
	h.SetHistoryLimits(limitsOf(map[string][2]int64{"few": {3, 0}, "none": {-1, 0}, "many": {20, 0}}))
	ids := map[string][]uint64{}
	for i := 0; i < 15; i++ {
		for _, ch := range []string{"few", "none", "many", "plain"} {
			ids[ch] = append(ids[ch], pub(t, h, ch, "x"))
		}
	}
	for ch, keep := range map[string]int{"few": 3, "many": 15, "plain": 10} {
		got, _ := replayAll(h, ch, ids[ch][0]-1)
		if want := ids[ch][15-keep:]; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s retains %v, want %v", ch, got, want)
		}
	}
	if got, gap := replayAll(h, "none", ids["none"][0]); len(got) != 0 || gap != ids["none"][14] {
		t.Errorf("none: %v gap %d, want nothing and a gap up to %d", got, gap, ids["none"][14])
	}
	// A new rule set applies to retained channels at once.
	h.SetHistoryLimits(limitsOf(map[string][2]int64{"many": {2, 0}, "plain": {-1, 0}}))
	if got, _ := replayAll(h, "many", 0); fmt.Sprint(got) != fmt.Sprint(ids["many"][13:]) {
		t.Errorf("many after reload retains %v, want %v", got, ids["many"][13:])
	}
	if got, gap := replayAll(h, "plain", ids["plain"][0]); len(got) != 0 || gap < ids["plain"][14] {
		t.Errorf("plain after reload: %v gap %d, want nothing and a gap", got, gap)
	}
	h.SetHistoryLimits(nil)
	id := pub(t, h, "few", "y")
	if got, _ := replayAll(h, "few", ids["few"][0]); len(got) != 4 || got[3] != id {
		t.Errorf("few without rules retains %v, want the 3 old and %d (count back to 10)", got, id)
	}
}

func TestHistoryLimitsAge(t *testing.T) {
	h := NewHub(Config{History: HistoryConfig{PerChannel: 10, MaxAge: time.Hour}})
	defer h.Close()
	h.SetHistoryLimits(limitsOf(map[string][2]int64{"brief": {0, int64(50 * time.Millisecond)}}))
	b := pub(t, h, "brief", "x")
	p := pub(t, h, "plain", "x")
	// The janitor runs once a second: wait for it to evict brief's event.
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, gap := replayAll(h, "brief", b-1)
		if len(got) == 0 && gap >= b {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("brief still retains %v (gap %d) after its 50ms age", got, gap)
		}
		time.Sleep(20 * time.Millisecond) // polling an observable state, with a deadline
	}
	if got, _ := replayAll(h, "plain", p-1); len(got) != 1 {
		t.Fatalf("plain lost its event: %v", got)
	}
}

// A rule may give history to a channel when the server keeps none.
func TestHistoryLimitsOverNoHistory(t *testing.T) {
	h := NewHub(Config{History: HistoryConfig{PerChannel: -1}})
	defer h.Close()
	h.SetHistoryLimits(limitsOf(map[string][2]int64{"kept": {2, 0}}))
	k := []uint64{pub(t, h, "kept", "x"), pub(t, h, "kept", "x"), pub(t, h, "kept", "x")}
	p := pub(t, h, "plain", "x")
	if got, gap := replayAll(h, "kept", k[0]); fmt.Sprint(got) != fmt.Sprint(k[1:]) || gap != 0 {
		t.Errorf("kept: %v gap %d, want %v and no gap", got, gap, k[1:])
	}
	if got, gap := replayAll(h, "plain", p-1); len(got) != 0 || gap < p {
		t.Errorf("plain: %v gap %d, want nothing and a gap", got, gap)
	}
	if st := h.HistoryStats(); st.Channels != 1 || st.Events != 2 {
		t.Errorf("stats %+v, want one channel with 2 events", st)
	}
}

// A reload that lowers the server-wide history bounds: channels without a
// rule of their own take the lower count at once, and the budget evicts at
// once.
func TestSetHistory(t *testing.T) {
	h := NewHub(Config{History: HistoryConfig{PerChannel: 10}})
	defer h.Close()
	var ids []uint64
	for range 6 {
		ids = append(ids, pub(t, h, "a", "x"))
	}
	h.SetHistoryBounds(HistoryConfig{PerChannel: 3}, nil)
	if got, _ := replayAll(h, "a", ids[0]); len(got) != 3 || got[0] != ids[3] {
		t.Fatalf("after lowering the count to 3: retained %v, want the last 3 of %v", got, ids)
	}
	ids = append(ids, pub(t, h, "a", "x"))
	if got, _ := replayAll(h, "a", ids[0]); len(got) != 3 || got[2] != ids[6] {
		t.Fatalf("after the next publish: retained %v, want the last 3 of %v", got, ids)
	}
	h.SetHistoryBounds(HistoryConfig{PerChannel: 3, MaxBytes: 1}, nil)
	if st := h.HistoryStats(); st.Events != 0 {
		t.Fatalf("a 1-byte budget kept %d events", st.Events)
	}
}

// A channel whose rule keeps events longer than the server-wide age does
// not keep other channels' events past theirs, although its own old event
// heads the global order.
func TestLongAgeRuleDoesNotKeepOthers(t *testing.T) {
	h := NewHub(Config{History: HistoryConfig{PerChannel: 10, MaxAge: 100 * time.Millisecond}})
	defer h.Close()
	h.SetHistoryLimits(limitsOf(map[string][2]int64{"long": {0, int64(time.Hour)}}))
	l := pub(t, h, "long", "x")
	p := pub(t, h, "plain", "y")
	time.Sleep(300 * time.Millisecond) // real time passes: the age bound under test
	h.expire()
	if got, _ := replayAll(h, "plain", p-1); len(got) != 0 {
		t.Errorf("plain (server-wide age 100ms) still retains %v after 300ms", got)
	}
	if got, _ := replayAll(h, "long", l-1); len(got) != 1 {
		t.Errorf("long (age 1h) retains %v, want its one event", got)
	}
}

// A reload that moves a channel's count from its rule to the server-wide
// setting (rule removed, history-per-channel raised to the same value)
// keeps what both configurations keep: SetHistoryBounds goes there in one
// step.
func TestReloadBoundsInOneStep(t *testing.T) {
	h := NewHub(Config{History: HistoryConfig{PerChannel: 10}})
	defer h.Close()
	h.SetHistoryLimits(limitsOf(map[string][2]int64{"big": {50, 0}}))
	var first uint64
	for i := 0; i < 50; i++ {
		id := pub(t, h, "big", "x")
		if i == 0 {
			first = id
		}
	}
	h.SetHistoryBounds(HistoryConfig{PerChannel: 50}, nil)
	if got, _ := replayAll(h, "big", first-1); len(got) != 50 {
		t.Errorf("big retains %d events after the reload, want 50 (the new server-wide count)", len(got))
	}
}
