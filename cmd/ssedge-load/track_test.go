package main

import (
	"strconv"
	"testing"
)

func TestTallyRecord(t *testing.T) {
	const run, events = 9, 4
	type delivery struct {
		seq int
		id  uint64
	}
	tests := []struct {
		name                        string
		in                          []delivery
		got, dup, ooo, idBad, deliv uint64
	}{
		{"in order", []delivery{{1, 10}, {2, 11}, {3, 12}, {4, 13}}, 4, 0, 0, 0, 4},
		{"gap", []delivery{{1, 10}, {3, 12}}, 2, 0, 0, 0, 2},
		{"duplicate", []delivery{{1, 10}, {2, 11}, {2, 11}, {3, 12}}, 3, 1, 0, 1, 3},
		{"late arrival", []delivery{{1, 10}, {3, 12}, {2, 11}, {4, 13}}, 4, 0, 1, 1, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := newTally(events)
			var c connTrack
			for _, d := range tt.in {
				data := appendPayload(nil, run, d.seq, 1000, 0)
				ev := sseEvent{ID: []byte(strconv.FormatUint(d.id, 10)), Data: data}
				tl.record(&c, &ev, 2000, run)
			}
			if uint64(c.got) != tt.got || tl.Duplicates != tt.dup || tl.OutOfOrder != tt.ooo ||
				tl.IDNotIncreasing != tt.idBad || tl.Delivered != tt.deliv {
				t.Errorf("got=%d dup=%d ooo=%d idNotIncreasing=%d delivered=%d; want %d %d %d %d %d",
					c.got, tl.Duplicates, tl.OutOfOrder, tl.IDNotIncreasing, tl.Delivered,
					tt.got, tt.dup, tt.ooo, tt.idBad, tt.deliv)
			}
		})
	}
	tl := newTally(events)
	var c connTrack
	tl.record(&c, &sseEvent{ID: []byte("1"), Data: appendPayload(nil, run+1, 1, 0, 0)}, 0, run)
	tl.record(&c, &sseEvent{ID: []byte("1"), Data: []byte("hello")}, 0, run)
	if tl.Foreign != 1 || tl.Malformed != 1 || tl.Delivered != 0 {
		t.Errorf("foreign=%d malformed=%d delivered=%d, want 1 1 0", tl.Foreign, tl.Malformed, tl.Delivered)
	}
}
