package pubsub

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// A hub with given ids pads holes with fillers that no channel sees, and
// refuses an id it has already passed.
func TestPublishAtFillsHoles(t *testing.T) {
	h := NewHub(Config{Seed: 0, GivenIDs: true})
	defer h.Close()
	cur := h.Subscribe(func() {})
	for _, id := range []uint64{1, 2, 5, 6, 10} {
		if err := h.PublishAt(id, 0, []byte("a.b"), nil, []byte("x")); err != nil {
			t.Fatalf("PublishAt(%d): %v", id, err)
		}
	}
	if err := h.PublishAt(6, 0, []byte("a.b"), nil, []byte("x")); !errors.Is(err, ErrRelayOrder) {
		t.Fatalf("PublishAt(6) again: %v, want ErrRelayOrder", err)
	}
	if _, err := h.Publish([]byte("a.b"), nil, []byte("x")); !errors.Is(err, ErrGivenIDs) {
		t.Fatalf("Publish on a given-id hub: %v, want ErrGivenIDs", err)
	}
	var real, fill []uint64
	for ev := cur.Next(); ev != nil; ev = cur.Next() {
		if ev.Channel == "" {
			if len(ev.Frame) != 0 {
				t.Fatalf("filler %d has a frame %q", ev.ID, ev.Frame)
			}
			fill = append(fill, ev.ID)
		} else {
			real = append(real, ev.ID)
		}
	}
	cur.Commit()
	if !slices.Equal(real, []uint64{1, 2, 5, 6, 10}) || !slices.Equal(fill, []uint64{3, 4, 7, 8, 9}) {
		t.Fatalf("events %v fillers %v", real, fill)
	}
	if cur.NextID() != 11 || h.LastRingID() != 10 {
		t.Fatalf("NextID %d LastRingID %d, want 11 and 10", cur.NextID(), h.LastRingID())
	}
	// A hole is events the log deleted before this hub read them, on
	// channels it cannot know: a resume from before the last hole gets a
	// gap up to it on every channel, then what follows.
	ids, gap := replayAll(h, "a.b", 0)
	if gap != 9 || !slices.Equal(ids, []uint64{10}) {
		t.Fatalf("history %v gap %d, want a gap up to 9, then 10", ids, gap)
	}
	if ids, gap := replayAll(h, "a.b", 9); gap != 0 || !slices.Equal(ids, []uint64{10}) {
		t.Fatalf("from after the last hole: history %v gap %d, want 10 and no gap", ids, gap)
	}
	if st := h.HistoryStats(); st.Channels != 1 || st.Events != 5 {
		t.Fatalf("history stats %+v: fillers must not be retained", st)
	}
}

// A restored hub resumes exactly from what the log retains: gaps only
// below the log's first sequence (the floor) or a channel's mark, and
// never put down to a restart.
func TestRestoreMarks(t *testing.T) {
	h := NewHub(Config{Seed: 20, GivenIDs: true, History: HistoryConfig{PerChannel: 3}})
	defer h.Close()
	h.RestoreFloor(9)
	for _, r := range []struct {
		id uint64
		ch string
	}{{10, "a"}, {12, "full"}, {13, "a"}, {15, "full"}, {20, "full"}} {
		if err := h.Restore(r.id, time.Now().UnixNano(), []byte(r.ch), nil, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Restore(21, 0, []byte("a"), nil, nil); err == nil {
		t.Fatal("Restore above the seed was accepted")
	}
	h.RestoreMarks(map[string]uint64{"full": 11, "gone": 17})
	if h.Seed() != 0 {
		t.Fatalf("Seed %d after RestoreFloor, want 0 (no restart gaps)", h.Seed())
	}
	for _, c := range []struct {
		ch    string
		after uint64
		ids   []uint64
		gap   uint64
	}{
		{"a", 9, []uint64{10, 13}, 0},
		{"a", 5, []uint64{10, 13}, 9},
		{"a", 10, []uint64{13}, 0},
		{"full", 9, []uint64{12, 15, 20}, 11},
		{"full", 12, []uint64{15, 20}, 0},
		{"gone", 12, nil, 17},
		{"other", 9, nil, 0},
		{"other", 3, nil, 9},
	} {
		ids, gap := replayAll(h, c.ch, c.after)
		if !slices.Equal(ids, c.ids) || gap != c.gap {
			t.Errorf("%s after %d: %v gap %d, want %v gap %d", c.ch, c.after, ids, gap, c.ids, c.gap)
		}
	}
	if err := h.PublishAt(22, 0, []byte("a"), nil, []byte("y")); err != nil {
		t.Fatal(err)
	}
	if ids, _ := replayAll(h, "a", 13); !slices.Equal(ids, []uint64{22}) {
		t.Fatalf("after a live event: %v", ids)
	}
}
