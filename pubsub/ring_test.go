package pubsub

import (
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
					time.Sleep(10 * time.Microsecond)
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
	select {
	case err := <-done:
		t.Fatalf("publish into a full ring returned %v, want it to wait", err)
	case <-time.After(50 * time.Millisecond):
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
	time.Sleep(20 * time.Millisecond)
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
	seed := SeedFromClock(now)
	if seed != uint64(now.UnixMicro()) || seed >= MaxID {
		t.Fatalf("seed %d", seed)
	}
	// Restarting a millisecond later starts above a thousand events.
	if SeedFromClock(now.Add(time.Millisecond)) <= seed+999 {
		t.Fatal("seed does not advance with the clock")
	}
	if SeedFromClock(time.Date(2255, 1, 1, 0, 0, 0, 0, time.UTC)) >= MaxID {
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
