package cluster_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/ssedge/ssedge/internal/ssetest"
)

// A line publisher that pipelines a batch gets one reply per command, in
// command order — refusals and PONGs between acknowledged publishes
// included — with the ids increasing as the commands were sent, and a
// subscriber gets the events in that order.
func TestPipelinedLinePublishes(t *testing.T) {
	b := startBroker(t)
	n := startNode(t, "--cluster", b.URL())
	st := n.subscribe(t, "/events?channel=pipe", "")
	n.waitSubscribed(t, 1)
	const count = 3000
	var cmds strings.Builder
	var want []string // reply prefixes, in order
	for i := range count {
		switch {
		case i%500 == 250:
			cmds.WriteString("PING\r\n")
			want = append(want, "+PONG")
		case i%700 == 350:
			cmds.WriteString("PUB bad! 1\r\nx\r\n")
			want = append(want, "-ERR ")
		default:
			cmds.WriteString(ssetest.LineCommand("pipe", "", fmt.Sprint(i)))
			want = append(want, "+OK ")
		}
	}
	replies, err := ssetest.LineExchange(n.socket, cmds.String(), len(want))
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for i, r := range replies {
		if !strings.HasPrefix(r, want[i]) {
			t.Fatalf("reply %d is %q, want %q...", i, r, want[i])
		}
		if want[i] == "+OK " {
			id, err := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(r, "+OK ")), 10, 64)
			if err != nil || (len(ids) > 0 && id != ids[len(ids)-1]+1) {
				t.Fatalf("reply %d: %q after id %v: want the next id", i, r, ids[max(0, len(ids)-1):])
			}
			ids = append(ids, id)
		}
	}
	expectIDs(t, st, ids...)
}
