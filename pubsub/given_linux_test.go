package pubsub

import (
	"context"
	"slices"
	"testing"
	"time"
)

// The relay carries fillers, so a worker's ring positions keep the ids.
func TestRelayCarriesFillers(t *testing.T) {
	sup := NewHub(Config{Seed: 100, GivenIDs: true})
	defer sup.Close()
	r := NewRelay(sup, time.Second, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	parent, worker := socketPair(t)
	r.Attach(parent, func(error) {})
	f := follow(t, worker)
	for _, id := range []uint64{101, 104} {
		if err := sup.PublishAt(id, 0, []byte("c"), nil, []byte("d")); err != nil {
			t.Fatal(err)
		}
	}
	var got []uint64
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < 4 && time.Now().Before(deadline) {
		ev := f.cur.Next()
		if ev == nil {
			time.Sleep(time.Millisecond) // poll the cursor until the deadline: it has no wake-up channel here
			continue
		}
		got = append(got, ev.ID)
		f.cur.Commit()
	}
	if !slices.Equal(got, []uint64{101, 102, 103, 104}) {
		t.Fatalf("worker saw %v, want 101..104", got)
	}
	// The worker marks the hole as the supervisor's hub did: a resume
	// from before it gets a gap up to it.
	if ids, gap := replayAll(f.hub, "c", 100); gap != 103 || !slices.Equal(ids, []uint64{104}) {
		t.Fatalf("worker history %v gap %d, want a gap up to 103, then 104", ids, gap)
	}
	if ids, gap := replayAll(f.hub, "c", 103); gap != 0 || !slices.Equal(ids, []uint64{104}) {
		t.Fatalf("worker history after the hole %v gap %d", ids, gap)
	}
}
