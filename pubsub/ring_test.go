package pubsub

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Concurrent publishers; every cursor sees every event once, ids strictly
// increasing in ring order.
func TestRingConcurrentPublishers(t *testing.T) {
	h := NewHub(Config{RingSize: 64, Seed: 1000})
	const readers, writers, per = 3, 4, 2000
	var wakes atomic.Int64
	curs := make([]*Cursor, readers)
	for i := range curs {
		curs[i] = h.Subscribe(func() { wakes.Add(1) })
	}
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				if _, err := h.Publish([]byte("c"), nil, []byte("x")); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var rg sync.WaitGroup
	for _, c := range curs {
		rg.Add(1)
		go func(c *Cursor) {
			defer rg.Done()
			last := uint64(1000)
			for n := 0; n < writers*per; {
				ev := c.Next()
				if ev == nil {
					c.Commit()
					runtime.Gosched() // poll: publishers are still going
					continue
				}
				if ev.ID != last+1 {
					t.Errorf("id %d after %d", ev.ID, last)
					return
				}
				last = ev.ID
				n++
			}
			c.Commit()
		}(c)
	}
	wg.Wait()
	rg.Wait()
	if got := h.Published(); got != writers*per {
		t.Fatalf("published %d", got)
	}
}

// A full ring makes the publisher wait (never overwrite); Close releases it.
func TestRingFullBlocksThenClose(t *testing.T) {
	h := NewHub(Config{RingSize: 4})
	c := h.Subscribe(func() {})
	for i := 0; i < 4; i++ {
		if _, err := h.Publish([]byte("c"), nil, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := h.Publish([]byte("c"), nil, []byte("fifth"))
		done <- err
	}()
	waitUntil(t, "the fifth publish to wait for room", func() bool { return h.ring.waiting.Load() == 1 })
	select {
	case err := <-done:
		t.Fatalf("publish into a full ring returned %v, want it to wait", err)
	default:
	}
	// Reading one slot lets it through.
	first := c.Next()
	c.Commit()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		if ev := c.Next(); ev == nil || ev.ID != first.ID+uint64(i)+1 {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}
	c.Commit()
	// Fill again and close while a publisher waits.
	for i := 0; i < 4; i++ {
		h.Publish([]byte("c"), nil, []byte("x"))
	}
	go func() {
		_, err := h.Publish([]byte("c"), nil, []byte("x"))
		done <- err
	}()
	waitUntil(t, "a publisher to wait on the full ring", func() bool { return h.ring.waiting.Load() == 1 })
	h.Close()
	if err := <-done; err != ErrClosed {
		t.Fatalf("got %v, want ErrClosed", err)
	}
}

// The wake function runs only for a cursor that announced sleep, once.
func TestRingWake(t *testing.T) {
	h := NewHub(Config{})
	var wakes atomic.Int64
	c := h.Subscribe(func() { wakes.Add(1) })
	h.Publish([]byte("c"), nil, []byte("x"))
	if wakes.Load() != 0 {
		t.Fatal("woke a cursor that was not sleeping")
	}
	if c.Sleep() {
		t.Fatal("Sleep with a pending event must refuse")
	}
	c.Next()
	if !c.Sleep() {
		t.Fatal("Sleep with nothing pending must accept")
	}
	h.Publish([]byte("c"), nil, []byte("x"))
	h.Publish([]byte("c"), nil, []byte("x"))
	if wakes.Load() != 1 {
		t.Fatalf("wakes = %d, want 1", wakes.Load())
	}
}

func TestPublishValidation(t *testing.T) {
	h := NewHub(Config{MaxEventBytes: 8})
	cases := []struct {
		ch, ev, data string
	}{
		{"", "", "x"},
		{"bad channel", "", "x"},
		{"ok", "bad\nname", "x"},
		{"ok", "", "123456789"},
	}
	for _, c := range cases {
		if _, err := h.Publish([]byte(c.ch), []byte(c.ev), []byte(c.data)); err == nil {
			t.Errorf("Publish(%q, %q, %q) accepted", c.ch, c.ev, c.data)
		}
	}
	if h.Published() != 0 {
		t.Fatal("a refused publish was counted")
	}
}

func TestSeedFromClock(t *testing.T) {
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	seed := seedFromClock(now)
	if seed != uint64(now.UnixMicro()) || seed >= MaxID {
		t.Fatalf("seed %d", seed)
	}
	// Restarting a millisecond later starts above a thousand events.
	if seedFromClock(now.Add(time.Millisecond)) <= seed+999 {
		t.Fatal("seed does not advance with the clock")
	}
	if seedFromClock(time.Date(2255, 1, 1, 0, 0, 0, 0, time.UTC)) >= MaxID {
		t.Fatal("ids leave the exact JavaScript range before 2255")
	}
}

// Once every cursor has read a slot, the ring no longer holds its event.
func TestRingReleasesReadEvents(t *testing.T) {
	h := NewHub(Config{RingSize: 8})
	a, b := h.Subscribe(func() {}), h.Subscribe(func() {})
	h.Publish([]byte("c"), nil, []byte("big"))
	s := &h.ring.slots[0]
	a.Next()
	if s.ev == nil {
		t.Fatal("released before the second cursor read it")
	}
	b.Next()
	if s.ev != nil {
		t.Fatal("the ring still holds an event every cursor has read")
	}
}

// A publisher waiting on a full ring holds no lock: the janitor's expiry
// and history stats run, and a second publisher reaches the wait too
// (instead of queueing on the history lock). Once the loop reads, both go
// out with consecutive ids, and the channel's history stays in id order.
func TestFullRingWaitHoldsNoLock(t *testing.T) {
	h := NewHub(Config{RingSize: 4})
	defer h.Close()
	c := h.Subscribe(func() {})
	for i := 0; i < 4; i++ {
		pub(t, h, "c", "x")
	}
	done := make(chan error, 2)
	publish := func() {
		_, err := h.Publish([]byte("c"), nil, []byte("late"))
		done <- err
	}
	go publish()
	waitUntil(t, "the first publisher to wait for room", func() bool { return h.ring.waiting.Load() == 1 })

	// The janitor's work and a stats read take the history lock.
	locked := make(chan struct{})
	go func() { h.expire(); h.HistoryStats(); close(locked) }()
	select {
	case <-locked:
	case <-time.After(10 * time.Second): // a deadline, not synchronisation
		t.Fatal("the janitor is blocked while a publisher waits on a full ring")
	}
	go publish()
	waitUntil(t, "the second publisher to reach the wait (not queue on the history lock)",
		func() bool { return h.ring.waiting.Load() == 2 })

	var ids []uint64
	for len(ids) < 6 {
		if ev := c.Next(); ev != nil {
			ids = append(ids, ev.ID)
			continue
		}
		c.Commit()
		waitUntil(t, "the waiting publishers' events", c.Pending)
	}
	for i := 0; i < 2; i++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] != ids[i-1]+1 {
			t.Fatalf("ring ids %v are not consecutive", ids)
		}
	}
	got, _ := replayAll(h, "c", ids[0]-1)
	if len(got) != 6 {
		t.Fatalf("history holds %d events, want 6", len(got))
	}
	for i, id := range got {
		if id != ids[i] {
			t.Fatalf("history %v, ring %v: not in id order", got, ids)
		}
	}
}
