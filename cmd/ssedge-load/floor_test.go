package main

import "testing"

func TestMeasureFloor(t *testing.T) {
	f, err := measureFloor(20, 5, sseFrameBytes(100))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", *f)
	if f.Pairs != 20 || f.Bursts != 5 || f.Writes != 100 || f.WriteBytes != 129 {
		t.Errorf("pairs %d, bursts %d, writes %d, bytes %d: want 20, 5, 100, 129", f.Pairs, f.Bursts, f.Writes, f.WriteBytes)
	}
	if f.WriteUs <= 0 || f.NullSyscallUs <= 0 {
		t.Errorf("write %v µs, null syscall %v µs: want positive figures", f.WriteUs, f.NullSyscallUs)
	}
}

func TestMeasureFloorRefusesEmptyWork(t *testing.T) {
	for _, c := range []struct{ pairs, bursts, bytes int }{{0, 1, 1}, {1, 0, 1}, {1, 1, 0}} {
		if _, err := measureFloor(c.pairs, c.bursts, c.bytes); err == nil {
			t.Errorf("measureFloor(%d, %d, %d) = nil error, want a refusal", c.pairs, c.bursts, c.bytes)
		}
	}
}
