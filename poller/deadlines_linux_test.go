package poller

import (
	"math/rand"
	"sort"
	"testing"
)

func TestDeadlinesHeap(t *testing.T) {
	var h deadlines
	var want []int64
	for i := 0; i < 1000; i++ {
		at := rand.Int63n(500)
		h.push(deadline{at: at})
		want = append(want, at)
		if i%7 == 0 {
			sort.Slice(want, func(a, b int) bool { return want[a] < want[b] })
			if got := h.pop().at; got != want[0] {
				t.Fatalf("popped %d, want %d", got, want[0])
			}
			want = want[1:]
		}
	}
	sort.Slice(want, func(a, b int) bool { return want[a] < want[b] })
	for _, w := range want {
		if got := h.pop().at; got != w {
			t.Fatalf("popped %d, want %d", got, w)
		}
	}
	if _, ok := h.next(); ok {
		t.Fatal("heap not empty")
	}
}
