package poller

import "testing"

func TestIndexJoinLeave(t *testing.T) {
	x := NewIndex()
	a, p0 := x.Join([]byte("a"), 10)
	_, p1 := x.Join([]byte("a"), 11)
	_, p2 := x.Join([]byte("a"), 12)
	if p0 != 0 || p1 != 1 || p2 != 2 || x.Lookup("a") != a {
		t.Fatal("join positions")
	}
	moved, ok := x.Leave(a, 0)
	if !ok || moved != 12 || a.Subs[0] != 12 {
		t.Fatalf("leave moved %d %v subs %v", moved, ok, a.Subs)
	}
	if _, ok := x.Leave(a, 1); ok {
		t.Fatal("removing the last element moves nothing")
	}
	x.Leave(a, 0)
	if x.Lookup("a") != nil || x.Len() != 0 {
		t.Fatal("empty topic not dropped")
	}
}
