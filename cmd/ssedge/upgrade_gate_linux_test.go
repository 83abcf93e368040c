package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/ssedge/ssedge/internal/ssetest"
	"github.com/ssedge/ssedge/pubsub"
	"github.com/ssedge/ssedge/pubsub/ingest"
)

// The publish gate: a publish that waits while paused goes on to the hub
// on resume, or, once handed off, to the new process's publish socket.
func TestPublishGate(t *testing.T) {
	old := pubsub.NewHub(pubsub.Config{Seed: 1000})
	defer old.Close()
	g := newPublishGate(old)
	if id, err := g.Publish([]byte("a"), nil, []byte("one"), nil); err != nil || id != 1001 {
		t.Fatalf("publish: %d %v, want 1001", id, err)
	}

	type result struct {
		id  uint64
		err error
	}
	// waiting starts a publish and returns once the gate holds it: it
	// waits, and has no answer yet.
	waiting := func() chan result {
		t.Helper()
		c := make(chan result, 1)
		go func() {
			id, err := g.Publish([]byte("a"), nil, []byte("waits"), nil)
			c <- result{id, err}
		}()
		ssetest.WaitFor(t, 10*time.Second, "the publish to wait at the gate", func() bool { return g.waiting() == 1 })
		select {
		case got := <-c:
			t.Fatalf("the publish went through a paused gate: %d %v", got.id, got.err)
		default:
		}
		return c
	}

	g.pause()
	r := waiting()
	if old.LastID() != 1001 {
		t.Fatalf("the old hub's last id %d while paused, want 1001", old.LastID())
	}
	g.resume()
	if got := <-r; got.err != nil || got.id != 1002 {
		t.Fatalf("after resume: %d %v, want 1002 from the old hub", got.id, got.err)
	}

	// The "new process": another hub on a publish socket, ids from 5001.
	sock := filepath.Join(t.TempDir(), "pub.sock")
	next := pubsub.NewHub(pubsub.Config{Seed: 5000})
	defer next.Close()
	in, err := ingest.Listen(next, ingest.Config{Path: sock})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close(t.Context())
	g.pause()
	r = waiting()
	if old.LastID() != 1002 {
		t.Fatalf("the old hub's last id %d while paused, want 1002", old.LastID())
	}
	g.handOff(sock)
	if got := <-r; got.err != nil || got.id != 5001 {
		t.Fatalf("after the hand-off: %d %v, want 5001 from the new hub", got.id, got.err)
	}
	if id, err := g.Publish([]byte("a"), []byte("named"), []byte("later"), nil); err != nil || id != 5002 {
		t.Fatalf("a later publish: %d %v, want 5002 from the new hub", id, err)
	}
	if old.LastID() != 1002 {
		t.Fatalf("the old hub's last id %d, want 1002: nothing more went there", old.LastID())
	}

}
