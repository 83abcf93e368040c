package pubsub

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// testSnapshotLimit bounds the snapshots the tests read.
var testSnapshotLimit = HistoryConfig{}.SnapshotLimit()

// replayBelow is replayAll with a fixed upper bound, so that two hubs are
// asked the same question.
func replayBelow(h *Hub, ch string, after, below uint64) (ids []uint64, gap uint64) {
	r := h.HistoryAfter(ch, after, below)
	gap = r.Evicted
	for r.Next != nil {
		ids = append(ids, r.Next.ID)
		r = h.HistoryAfter(ch, r.Next.ID, below)
	}
	return ids, gap
}

// sameResumes checks that every resume on the given channels, from every
// id in (from, upTo] and a few around, gets the same events (with the
// same frames) and the same gap from both hubs.
func sameResumes(t *testing.T, want, got *Hub, channels []string, from, upTo uint64) {
	t.Helper()
	if want.Seed() != got.Seed() {
		t.Errorf("Seed: %d on the receiver, %d on the sender", got.Seed(), want.Seed())
	}
	afters := []uint64{0, from - 1}
	for id := from; id <= upTo; id++ {
		afters = append(afters, id)
	}
	for _, ch := range channels {
		for _, after := range afters {
			wi, wg := replayBelow(want, ch, after, upTo+1)
			gi, gg := replayBelow(got, ch, after, upTo+1)
			if !slices.Equal(wi, gi) || wg != gg {
				t.Fatalf("channel %q after %d: receiver gives %d events %v gap %d, sender %d events %v gap %d",
					ch, after, len(gi), gi[:min(len(gi), 5)], gg, len(wi), wi[:min(len(wi), 5)], wg)
			}
		}
		ids, _ := replayBelow(want, ch, 0, upTo+1)
		for _, id := range ids {
			w, g := want.HistoryAfter(ch, id-1, id+1).Next, got.HistoryAfter(ch, id-1, id+1).Next
			if !bytes.Equal(w.Frame, g.Frame) || w.Channel != g.Channel || w.Published != g.Published {
				t.Fatalf("event %d differs: %q on the receiver, %q on the sender", id, g.Frame, w.Frame)
			}
		}
	}
}

// roundTrip writes s and reads it back.
func roundTrip(t *testing.T, s *Snapshot) *Snapshot {
	t.Helper()
	var buf bytes.Buffer
	n, err := s.WriteTo(&buf)
	if err != nil || n != int64(buf.Len()) || n != s.Len() {
		t.Fatalf("WriteTo: %d bytes, %v; buffer %d, Len %d", n, err, buf.Len(), s.Len())
	}
	got, err := ReadSnapshot(&buf, testSnapshotLimit)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// loaded is a fresh hub with cfg's bounds that has loaded s.
func loaded(t *testing.T, cfg Config, s *Snapshot) *Hub {
	t.Helper()
	cfg.Seed = s.LastID()
	h := NewHub(cfg)
	t.Cleanup(h.Close)
	if err := h.LoadSnapshot(s); err != nil {
		t.Fatal(err)
	}
	return h
}

// A loaded hub answers every resume as the sender does: events evicted
// by the count bound, by the memory budget (whole channels forgotten),
// channels a rule keeps no history for, and ids from before the sender's
// restart.
func TestSnapshotResumesExactly(t *testing.T) {
	cfg := Config{History: HistoryConfig{PerChannel: 20, MaxBytes: 40 << 10}}
	a := NewHub(cfg)
	defer a.Close()
	a.SetHistoryLimits(func(ch []byte) (int, time.Duration, bool) {
		if string(ch) == "none" {
			return -1, 0, true
		}
		return 0, 0, false
	})
	var channels []string
	for c := range 40 {
		channels = append(channels, fmt.Sprintf("ch-%d", c))
	}
	channels = append(channels, "none", "never")
	from := a.LastID() + 1
	for i := range 1500 {
		// Early channels stop publishing, so the budget forgets them.
		ch := channels[i%(40-i/50)]
		if i%97 == 0 {
			ch = "none"
		}
		if _, err := a.Publish([]byte(ch), []byte("e"), []byte(fmt.Sprintf("event %d\nline two", i))); err != nil {
			t.Fatal(err)
		}
	}
	if a.hist.forgottenN == 0 || a.HistoryStats().Evictions == 0 {
		t.Fatalf("the test should evict and forget: %+v, %d forgotten", a.HistoryStats(), a.hist.forgottenN)
	}
	s := a.Snapshot()
	if s.LastID() != a.LastID() {
		t.Fatalf("snapshot at %d, the hub's last id is %d", s.LastID(), a.LastID())
	}
	b := loaded(t, cfg, roundTrip(t, s))
	b.SetHistoryLimits(a.hist.limits)
	sameResumes(t, a, b, channels, from, s.LastID())
	if got, want := b.HistoryStats().Events, a.HistoryStats().Events; got != want {
		t.Errorf("receiver retains %d events, sender %d", got, want)
	}
}

// A snapshot taken behind the newest id leaves the later events out; a
// receiver that then takes them (as from the relay) ends with exactly the
// sender's history: no hole and no duplicate at the seam.
func TestSnapshotAtSeam(t *testing.T) {
	cfg := Config{History: HistoryConfig{PerChannel: 10}}
	a := NewHub(cfg)
	defer a.Close()
	from := a.LastID() + 1
	for i := range 300 {
		pub(t, a, fmt.Sprintf("c%d", i%7), fmt.Sprint(i))
	}
	seam := a.LastID() - 40
	s, err := a.SnapshotAt(seam)
	if err != nil {
		t.Fatal(err)
	}
	if last := s.events[len(s.events)-1].ID; last > seam {
		t.Fatalf("snapshot at %d holds event %d", seam, last)
	}
	if _, err := a.SnapshotAt(a.LastID() + 1); err == nil {
		t.Fatal("a snapshot above the newest id was taken")
	}
	b := loaded(t, cfg, roundTrip(t, s))
	for id := seam + 1; id <= a.LastID(); id++ {
		var ev *Event
		for c := range 7 {
			if r := a.HistoryAfter(fmt.Sprintf("c%d", c), id-1, id+1); r.Next != nil {
				ev = r.Next
			}
		}
		if ev == nil {
			t.Fatalf("event %d is not in the sender's history", id)
		}
		e := *ev
		if err := b.put([]byte(e.Channel), &e, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	var channels []string
	for c := range 7 {
		channels = append(channels, fmt.Sprintf("c%d", c))
	}
	sameResumes(t, a, b, channels, from, a.LastID())
}

// A snapshot taken in-process and loaded twice leaves the sender's events
// alone (the receiver retains copies) and gives two equal receivers.
func TestSnapshotLoadInProcess(t *testing.T) {
	a := NewHub(Config{})
	defer a.Close()
	from := a.LastID() + 1
	for i := range 30 {
		pub(t, a, "x", fmt.Sprint(i))
	}
	s := a.Snapshot()
	b, c := loaded(t, Config{}, s), loaded(t, Config{}, s)
	pub(t, b, "x", "more")
	sameResumes(t, a, c, []string{"x"}, from, s.LastID())
	sameResumes(t, b, c, []string{"x"}, from, s.LastID())
}

func TestLoadSnapshotRefusals(t *testing.T) {
	a := NewHub(Config{})
	defer a.Close()
	pub(t, a, "x", "1")
	s := a.Snapshot()
	other := NewHub(Config{Seed: s.LastID() + 1})
	defer other.Close()
	if err := other.LoadSnapshot(s); err == nil || !strings.Contains(err.Error(), "seeded at") {
		t.Fatalf("load into a hub with another seed: %v", err)
	}
	used := NewHub(Config{Seed: s.LastID()})
	defer used.Close()
	pub(t, used, "y", "2")
	if err := used.LoadSnapshot(s); err == nil || !strings.Contains(err.Error(), "already has events") {
		t.Fatalf("load into a hub with events: %v", err)
	}
}

// Every cut, every flipped byte and every limit short of the length is an
// error wrapping ErrSnapshot, never a panic.
func TestReadSnapshotRefusesDamage(t *testing.T) {
	a := NewHub(Config{History: HistoryConfig{PerChannel: 3}})
	defer a.Close()
	for i := range 20 {
		pub(t, a, fmt.Sprintf("c%d", i%4), fmt.Sprint(i))
	}
	var buf bytes.Buffer
	a.WriteSnapshot(&buf)
	good := buf.Bytes()
	for n := 0; n < len(good); n++ {
		if _, err := ReadSnapshot(bytes.NewReader(good[:n]), testSnapshotLimit); !errors.Is(err, ErrSnapshot) {
			t.Fatalf("cut at %d of %d: %v", n, len(good), err)
		}
		bad := bytes.Clone(good)
		bad[n] ^= 0x20
		if _, err := ReadSnapshot(bytes.NewReader(bad), testSnapshotLimit); !errors.Is(err, ErrSnapshot) {
			t.Fatalf("byte %d flipped: %v", n, err)
		}
	}
	if _, err := ReadSnapshot(bytes.NewReader(good), int64(len(good)-1)); !errors.Is(err, ErrSnapshot) || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("limit one byte short: %v", err)
	}
	if _, err := ReadSnapshot(bytes.NewReader(good), int64(len(good))); err != nil {
		t.Fatalf("limit exactly the length: %v", err)
	}
}

// A snapshot whose checksum is right but whose content is wrong (as a
// buggy or hostile writer would make it) is refused too.
func TestReadSnapshotRefusesBadContent(t *testing.T) {
	ev := func(id uint64, ch, frame string) *Event { return &Event{ID: id, Channel: ch, Frame: []byte(frame)} }
	cases := []struct {
		name string
		s    *Snapshot
		want string
	}{
		{"id above the snapshot's", &Snapshot{last: 5, events: []*Event{ev(6, "a", "id: 6\ndata: x\n\n")}}, "in a snapshot at 5"},
		{"ids out of order", &Snapshot{last: 9, events: []*Event{ev(4, "a", "id: 4\ndata: x\n\n"), ev(3, "a", "id: 3\ndata: x\n\n")}}, "after 4"},
		{"frame of another id", &Snapshot{last: 9, events: []*Event{ev(4, "a", "id: 44\ndata: x\n\n")}}, "not that event's"},
		{"cut frame", &Snapshot{last: 9, events: []*Event{ev(4, "a", "id: 4\ndata: x\n")}}, "not that event's"},
		{"bad channel", &Snapshot{last: 9, events: []*Event{ev(4, "a b", "id: 4\ndata: x\n\n")}}, "channel"},
		{"bad mark name", &Snapshot{last: 9, marks: []channelMark{{"a\nb", 1}}}, "channel"},
		{"mark above MaxID", &Snapshot{last: 9, forgotten: []channelMark{{"a", MaxID + 1}}}, "out of range"},
		{"last above MaxID", &Snapshot{last: MaxID + 1}, "out of range"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			c.s.WriteTo(&buf)
			_, err := ReadSnapshot(&buf, testSnapshotLimit)
			if !errors.Is(err, ErrSnapshot) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error saying %q", err, c.want)
			}
		})
	}
}

// The reader never panics and never keeps more than it read; what it
// accepts, a fresh hub loads, and writes back the same.
func FuzzReadSnapshot(f *testing.F) {
	a := NewHub(Config{History: HistoryConfig{PerChannel: 2}})
	defer a.Close()
	for i := range 6 {
		if _, err := a.Publish([]byte(fmt.Sprintf("c%d", i%3)), nil, []byte(fmt.Sprint(i))); err != nil {
			f.Fatal(err)
		}
	}
	var buf bytes.Buffer
	a.WriteSnapshot(&buf)
	f.Add(buf.Bytes())
	buf.Reset()
	(&Snapshot{last: 7, restart: 3, floor: 2}).WriteTo(&buf)
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ReadSnapshot(bytes.NewReader(b), 1<<20)
		if err != nil {
			if !errors.Is(err, ErrSnapshot) {
				t.Fatalf("error %v does not wrap ErrSnapshot", err)
			}
			return
		}
		var out bytes.Buffer
		s.WriteTo(&out)
		if out.Len() > len(b) || !bytes.Equal(out.Bytes(), b[:out.Len()]) {
			t.Fatalf("read then written differs: %q, %q", out.Bytes(), b)
		}
		h := NewHub(Config{Seed: s.LastID(), GivenIDs: true})
		defer h.Close()
		if err := h.LoadSnapshot(s); err != nil {
			t.Fatal(err)
		}
	})
}
