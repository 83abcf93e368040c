package pubsub

import "testing"

// A reload that lowers the history bounds: the budget evicts at once, the
// count per channel at that channel's next publish.
func TestSetHistory(t *testing.T) {
	h := NewHub(Config{History: HistoryConfig{PerChannel: 10}})
	defer h.Close()
	var ids []uint64
	for range 6 {
		ids = append(ids, pub(t, h, "a", "x"))
	}
	h.SetHistory(HistoryConfig{PerChannel: 3})
	if st := h.historyStats(); st.Events != 6 {
		t.Fatalf("a lower count evicted %d events before the next publish", 6-st.Events)
	}
	ids = append(ids, pub(t, h, "a", "x"))
	if got, _ := replayAll(h, "a", ids[0]); len(got) != 3 || got[2] != ids[6] {
		t.Fatalf("after the next publish: retained %v, want the last 3 of %v", got, ids)
	}
	h.SetHistory(HistoryConfig{PerChannel: 3, MaxBytes: 1})
	if st := h.historyStats(); st.Events != 0 {
		t.Fatalf("a 1-byte budget kept %d events", st.Events)
	}
}
