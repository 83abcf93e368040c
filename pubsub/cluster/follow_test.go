package cluster_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ssedge/ssedge/internal/ssetest"
)

// A node's consumer deleted from outside (`nats consumer rm`, or lost
// with its server): the node notices (a missed heartbeat, or nats.go's
// "consumer deleted"), creates another from its newest event, and its
// subscribers get every event published meanwhile, in order, once.
func TestFollowConsumerDeleted(t *testing.T) {
	b := startBroker(t)
	a := startNode(t, "--cluster", b.URL())
	st := a.subscribe(t, "/events?channel=f", "")
	a.waitSubscribed(t, 1)
	var ids []uint64
	for i := range 3 {
		ids = append(ids, a.pub.MustPublish(t, "f", "", fmt.Sprint("before ", i)))
	}
	expectIDs(t, st, ids...)

	nc, err := nats.Connect(b.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, "SSEDGE")
	if err != nil {
		t.Fatal(err)
	}
	deleted := 0
	for name := range s.ConsumerNames(ctx).Name() {
		if err := s.DeleteConsumer(ctx, name); err != nil {
			t.Fatal(err)
		}
		deleted++
	}
	if deleted == 0 {
		t.Fatal("the node follows the stream with no consumer on it")
	}
	for i := range 3 {
		ids = append(ids, a.pub.MustPublish(t, "f", "", fmt.Sprint("after ", i)))
	}
	expectIDs(t, st, ids[3:]...)
	// A consumer again, and only one (the deleted one is not left behind
	// by a second re-creation).
	ssetest.WaitFor(t, 10*time.Second, "one consumer on the stream", func() bool {
		n := 0
		for range s.ConsumerNames(ctx).Name() {
			n++
		}
		return n == 1
	})
}
