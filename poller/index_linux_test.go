package poller

import "testing"

func TestIndexAddRemove(t *testing.T) {
	x := newIndex()
	a, p0 := x.add([]byte("a"), 10)
	_, p1 := x.add([]byte("a"), 11)
	_, p2 := x.add([]byte("a"), 12)
	if p0 != 0 || p1 != 1 || p2 != 2 || x.lookup("a") != a {
		t.Fatal("add positions")
	}
	moved, ok := x.remove(a, 0)
	if !ok || moved != 12 || a.subs[0] != 12 {
		t.Fatalf("remove moved %d %v subs %v", moved, ok, a.subs)
	}
	if _, ok := x.remove(a, 1); ok {
		t.Fatal("removing the last element moves nothing")
	}
	x.remove(a, 0)
	if x.lookup("a") != nil || x.len() != 0 {
		t.Fatal("empty topic not dropped")
	}
}
