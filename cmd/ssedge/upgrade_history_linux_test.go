package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// Resume by Last-Event-ID on the new process from an id published before
// the upgrade: exactly the events after it, from the old process's
// history and the new one's, with no gap.
func TestUpgradeResumeExact(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "ssedge.pid")
	s := startServer(t, "--pid-file", pidFile)
	var ids []uint64
	for i := range 5 {
		ids = append(ids, publishID(t, s.socket, "r", fmt.Sprintf("before %d", i)))
	}
	publishID(t, s.socket, "other", "not on r")
	upgradeTo(t, s, pidFile)
	for i := range 2 {
		ids = append(ids, publishID(t, s.socket, "r", fmt.Sprintf("after %d", i)))
	}
	st := openStream(t, s.listen, "/events?channel=r", "Last-Event-ID: "+strconv.FormatUint(ids[1], 10))
	got, err := st.ids(5)
	if err != nil {
		t.Fatalf("resume got %v: %v", got, err)
	}
	if !slices.Equal(got, ids[2:]) {
		t.Fatalf("resume got %v, want %v (0 is a gap)", got, ids[2:])
	}
}
