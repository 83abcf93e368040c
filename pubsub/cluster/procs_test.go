package cluster_test

import (
	"fmt"
	"testing"
)

// --procs with a cluster: the supervisor follows the stream and relays
// it, each worker restores the stream's history before it serves, so a
// resume on any worker is exact from before the node's start, also for
// events published while the workers were restoring, and live events
// carry the stream's ids.
func TestProcsWithCluster(t *testing.T) {
	b := startBroker(t)
	plain := startNode(t, "--cluster", b.URL())
	var ids []uint64
	for i := range 4 {
		ids = append(ids, plain.pub.MustPublish(t, "p", "", fmt.Sprint("before ", i)))
	}
	during := make(chan []uint64)
	go func() { // publishes while the --procs node starts
		var got []uint64
		for i := range 300 {
			id, err := plain.pub.Publish("p", "", fmt.Sprint("during ", i))
			if err != nil {
				t.Error(err)
				break
			}
			got = append(got, id)
		}
		during <- got
	}()
	n := startNode(t, "--cluster", b.URL(), "--procs", "2", "--loops", "1")
	ids = append(ids, <-during...)
	// Enough connections that both workers serve some (the kernel spreads
	// them over the workers' SO_REUSEPORT sockets).
	for range 8 {
		expectIDs(t, n.subscribe(t, "/events?channel=p", fmt.Sprint(ids[0]-1)), ids...)
	}
	last := len(ids) - 1
	live := n.subscribe(t, "/events?channel=p", fmt.Sprint(ids[last-2]))
	expectIDs(t, live, ids[last-1], ids[last])
	id := n.pub.MustPublish(t, "p", "", "through the supervisor")
	id2 := plain.pub.MustPublish(t, "p", "", "from the other node")
	expectIDs(t, live, id, id2)
	for range 8 {
		expectIDs(t, n.subscribe(t, "/events?channel=p", fmt.Sprint(ids[last])), id, id2)
	}
}
