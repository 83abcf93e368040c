package main

import "testing"

func TestHubSharesFramesAndDropsSlowConsumers(t *testing.T) {
	h := newHub(100)
	fast, slow := newSubscriber(4), newSubscriber(1)
	h.subscribe(fast, []string{"a", "b"})
	h.subscribe(slow, []string{"a"})

	id1, n1 := h.publish("a", "", []byte("one"))
	if id1 != 101 || n1 != 2 {
		t.Fatalf("first publish: id %d to %d subscribers, want 101 to 2", id1, n1)
	}
	// slow's queue (1) is full now: the next frame drops it.
	id2, n2 := h.publish("a", "", []byte("two"))
	if id2 != 102 || n2 != 1 || h.dropped.Load() != 1 {
		t.Fatalf("second publish: id %d to %d, %d dropped; want 102 to 1, 1 dropped", id2, n2, h.dropped.Load())
	}
	select {
	case <-slow.dropped:
	default:
		t.Fatal("slow subscriber not marked dropped")
	}
	f1, f2 := <-fast.frames, <-fast.frames
	if s1 := <-slow.frames; &s1[0] != &f1[0] {
		t.Error("subscribers got different copies of one frame, want the same slice")
	}
	if string(f2) != "id: 102\ndata: two\n\n" {
		t.Errorf("second frame %q", f2)
	}
	h.unsubscribe(fast, []string{"a", "b"})
	h.unsubscribe(slow, []string{"a"})
	if len(h.channels) != 0 || len(h.all) != 0 {
		t.Errorf("registry not empty after unsubscribing: %d channels, %d subscribers", len(h.channels), len(h.all))
	}
}
