package cluster_test

import (
	"fmt"
	"strings"
	"testing"
)

// A node started after the events were published holds them from the
// moment it serves (ready means ready): a resume on it, and on a node
// that saw them live, is exact from memory; an id above the stream's
// last sequence is "future" at once.
func TestResumeOnAnyNode(t *testing.T) {
	b := startBroker(t)
	a := startNode(t, "--cluster", b.URL())
	var ids []uint64
	for i := range 6 {
		ch := []string{"x", "y"}[i%2]
		ids = append(ids, a.pub.MustPublish(t, ch, "", fmt.Sprint(i)))
	}
	late := startNode(t, "--cluster", b.URL())
	for _, n := range []*node{a, late} {
		st := n.subscribe(t, "/events?channel=x", fmt.Sprint(ids[0]-1))
		expectIDs(t, st, ids[0], ids[2], ids[4])
		st = n.subscribe(t, "/events?channel=x&channel=y", fmt.Sprint(ids[2]))
		expectIDs(t, st, ids[3:]...) // the live event of the last round included
		id := a.pub.MustPublish(t, "y", "", "live")
		expectIDs(t, st, id) // live after the replay, nothing skipped, nothing twice
		ids = append(ids, id)
	}
	ahead := ids[len(ids)-1] + 1000
	st := late.subscribe(t, "/events?channel=x", fmt.Sprint(ahead))
	f := st.MustEvent(t)
	if f.Event != "ssedge.gap" || !strings.Contains(f.Data, `"reason":"future"`) {
		t.Fatalf("resume from %d with the stream at %d: %q, want a future gap", ahead, ids[len(ids)-1], f.Raw)
	}
}

// A client that brings an id a node has not read yet (published on
// another node a moment ago) waits for it on that node: never a false
// "future" gap, never a hole.
func TestNodeBehindWaits(t *testing.T) {
	b := startBroker(t)
	a, other := startNode(t, "--cluster", b.URL()), startNode(t, "--cluster", b.URL())
	for i := range 30 {
		first := a.pub.MustPublish(t, "w", "", fmt.Sprint(i))
		second := a.pub.MustPublish(t, "w", "", fmt.Sprint(i))
		// Straight to the other node with the id just acknowledged on a.
		st := other.subscribe(t, "/events?channel=w", fmt.Sprint(first))
		next := a.pub.MustPublish(t, "w", "", "next")
		expectIDs(t, st, second, next)
		st.Close()
	}
}

// Restarting every node loses nothing: a client resumes from before the
// restart with no gap. A channel that holds --history-per-channel events
// in the stream lost older ones there: its resume from before them is a
// gap (reason evicted), then exactly what the stream holds.
func TestRestartAllNodes(t *testing.T) {
	b := startBroker(t)
	args := []string{"--cluster", b.URL(), "--history-per-channel", "3"}
	a, c := startNode(t, args...), startNode(t, args...)
	var quiet, busy []uint64
	quiet = append(quiet, a.pub.MustPublish(t, "quiet", "", "q0"))
	for i := range 5 {
		busy = append(busy, c.pub.MustPublish(t, "busy", "", fmt.Sprint(i)))
	}
	quiet = append(quiet, a.pub.MustPublish(t, "quiet", "", "q1"))
	a.Stop()
	c.Stop()
	a, c = startNode(t, args...), startNode(t, args...)
	expectIDs(t, a.subscribe(t, "/events?channel=quiet", fmt.Sprint(quiet[0]-1)), quiet...)
	expectIDs(t, c.subscribe(t, "/events?channel=quiet", fmt.Sprint(quiet[0])), quiet[1])
	expectIDs(t, c.subscribe(t, "/events?channel=busy", fmt.Sprint(busy[2])), busy[3], busy[4])
	st := a.subscribe(t, "/events?channel=busy", fmt.Sprint(busy[0]))
	f := st.MustEvent(t)
	want := fmt.Sprintf(`"firstAvailableId":%d,"reason":"evicted"`, busy[2])
	if f.Event != "ssedge.gap" || !strings.Contains(f.Data, want) {
		t.Fatalf("resume before the stream's per-channel limit: %q, want a gap with %s", f.Raw, want)
	}
	expectIDs(t, st, busy[2], busy[3], busy[4])
	id := c.pub.MustPublish(t, "busy", "", "after")
	if id <= quiet[1] {
		t.Fatalf("id %d after the restart is not above %d", id, quiet[1])
	}
	expectIDs(t, st, id)
}

// --cluster embedded keeps the log in --cluster-dir: ids and history
// survive a restart of ssedge, even after kill -9.
func TestEmbeddedRestart(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, "--cluster", "embedded", "--cluster-dir", dir)
	first := n.pub.MustPublish(t, "e", "", "one")
	second := n.pub.MustPublish(t, "e", "", "two")
	n.Kill() // kill -9: what was acknowledged is in the store's files

	n = startNode(t, "--cluster", "embedded", "--cluster-dir", dir)
	st := n.subscribe(t, "/events?channel=e", fmt.Sprint(first))
	expectIDs(t, st, second)
	third := n.pub.MustPublish(t, "e", "", "three")
	if third != second+1 {
		t.Fatalf("id after the restart %d, want %d", third, second+1)
	}
	expectIDs(t, st, third)
	expectIDs(t, n.subscribe(t, "/events?channel=e", fmt.Sprint(first-1)), first, second, third)
}
