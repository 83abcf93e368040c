package pubsub

import (
	"testing"
	"time"
)

// waitUntil polls cond until it holds, failing the test after 10 s (a
// generous bound for a loaded 2-core CI box). It waits on state, not on
// time: the short sleep between polls only keeps it from spinning a core.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 10s waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // poll interval, not synchronisation
	}
}
