//go:build !race

package poller_test

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssedge/ssedge/poller"
	"github.com/ssedge/ssedge/pubsub"
)

// The no-loss proof: 1,000 clients on overlapping channel sets drop and
// reconnect at random with their last seen id while 20,000 events are
// published. Every client must end with every event of its channels once,
// in order — or an explicit ssedge.gap covering it where history was
// evicted. Silent losses and duplicates fail the test. (Not under -race:
// the race detector makes the clients too slow to be a useful load.)
func TestSequenceNoSilentLoss(t *testing.T) {
	const (
		clients  = 1000
		channels = 20
		events   = 20000
	)
	h := startHub(t, poller.Config{MaxBacklogFrames: 256},
		pubsub.Config{History: pubsub.HistoryConfig{PerChannel: 200}})
	// Who published what, per channel, in id order.
	perChan := make([][]uint64, channels)
	var mu sync.Mutex
	endOf := make([]uint64, channels) // each channel's final event; written before done closes

	type result struct {
		got       []uint64
		log       []string
		gaps      [][3]uint64 // channel, asked-after, first available
		reconnect int
		err       error
	}
	results := make([]result, clients)
	chansOf := func(i int) []int {
		set := map[int]bool{i % channels: true, (i / channels) % channels: true, (i * 7 / 3) % channels: true}
		var out []int
		for c := range set {
			out = append(out, c)
		}
		return out
	}
	done := make(chan struct{})
	target := func(i int) uint64 { // the last event client i will see
		var t uint64
		for _, c := range chansOf(i) {
			t = max(t, endOf[c])
		}
		return t
	}
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := &results[i]
			rng := rand.New(rand.NewSource(int64(i)))
			base := "/events?"
			for _, c := range chansOf(i) {
				base += fmt.Sprintf("channel=c%d&", c)
			}
			var last uint64
			for {
				hdr := ""
				if last != 0 {
					hdr = fmt.Sprintf("Last-Event-ID: %d", last)
					if rng.Intn(2) == 0 { // clients that cannot set headers
						hdr = ""
					}
				}
				path := base
				if last != 0 && hdr == "" {
					path += fmt.Sprintf("lastEventId=%d", last)
				}
				r.log = append(r.log, fmt.Sprintf("connect %q %q at got[%d]", path, hdr, len(r.got)))
				s, err := h.trySubscribe(path, strings.TrimSpace(hdr))
				if err != nil {
					r.err = err
					return
				}
				dropAfter := 50 + rng.Intn(4000)
				for n := 0; ; n++ {
					f, err := s.next(30 * time.Second)
					if err != nil { // closed (slow consumer) or our own drop
						break
					}
					switch {
					case f.event == "ssedge.gap":
						var g gapData
						json.Unmarshal([]byte(f.data), &g)
						ch, _ := strconv.Atoi(strings.TrimPrefix(g.Channel, "c"))
						r.gaps = append(r.gaps, [3]uint64{uint64(ch), g.LastEventID, g.FirstAvailableID})
					case f.id != 0:
						r.got = append(r.got, f.id)
						last = f.id
					}
					select {
					case <-done:
						if last >= target(i) {
							s.c.Close()
							return
						}
					default:
					}
					if n == dropAfter {
						break
					}
				}
				s.c.Close()
				r.reconnect++
				if rng.Intn(4) == 0 {
					time.Sleep(time.Duration(rng.Intn(300)) * time.Millisecond) // long enough to lose history sometimes
				}
				select {
				case <-done:
					if last >= target(i) {
						return
					}
				default:
				}
			}
		}(i)
	}
	waitFor(t, "clients to subscribe", func() bool { return h.srv.Stats().Subscribers == clients })
	for e := 0; e < events; e++ {
		c := rand.Intn(channels)
		id, err := h.hub.Publish([]byte(fmt.Sprintf("c%d", c)), nil, []byte(strconv.Itoa(e)))
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		perChan[c] = append(perChan[c], id)
		mu.Unlock()
		if e%1000 == 999 {
			time.Sleep(20 * time.Millisecond) // pacing, not waiting for a state: lets the clients' reconnects interleave with publishing
		}
	}
	// The last event every client must reach: a final one on every channel.
	for c := 0; c < channels; c++ {
		id, _ := h.hub.Publish([]byte(fmt.Sprintf("c%d", c)), nil, []byte("end"))
		perChan[c] = append(perChan[c], id)
		endOf[c] = id
	}
	close(done)
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(120 * time.Second):
		t.Fatal("clients did not finish")
	}

	chanOfID := map[uint64]int{}
	for c, ids := range perChan {
		for _, id := range ids {
			chanOfID[id] = c
		}
	}
	var delivered, gapped, lost, dups, reconnects int
	for i := range results {
		r := &results[i]
		if r.err != nil {
			t.Fatalf("client %d: %v", i, r.err)
		}
		reconnects += r.reconnect
		var want []uint64
		for _, c := range chansOf(i) {
			want = append(want, perChan[c]...)
		}
		sort.Slice(want, func(a, b int) bool { return want[a] < want[b] })
		covered := func(id uint64) bool {
			for _, g := range r.gaps {
				if id > g[1] && id < g[2] && chanOfID[id] == int(g[0]) {
					return true
				}
			}
			return false
		}
		for k := 1; k < len(r.got); k++ {
			if r.got[k] <= r.got[k-1] {
				if dups == 0 {
					t.Logf("client %d connections: %v\ngot[%d..]: %v", i, r.log, max(k-5, 0), r.got[max(k-5, 0):min(k+5, len(r.got))])
				}
				dups++
				t.Errorf("client %d: id %d after %d (duplicate or out of order)", i, r.got[k], r.got[k-1])
			}
		}
		got := map[uint64]bool{}
		for _, id := range r.got {
			got[id] = true
		}
		for _, id := range want {
			switch {
			case got[id]:
				delivered++
			case covered(id):
				gapped++
			default:
				lost++
				if lost < 3 {
					t.Errorf("client %d: event %d (channel c%d) silently lost; connections %v; gaps %v; got around it: %v",
						i, id, chanOfID[id], r.log, r.gaps, around(r.got, id))
				}
			}
		}
		if len(got) > len(want) {
			t.Errorf("client %d: %d events received, only %d on its channels", i, len(got), len(want))
		}
	}
	st := h.srv.Stats()
	t.Logf("delivered %d, covered by gap events %d, lost %d, duplicates %d; reconnects %d, replayed frames %d, gap events %d, slow consumers %d",
		delivered, gapped, lost, dups, reconnects, st.Replayed, st.Gaps, st.SlowConsumers())
	if lost > 0 || dups > 0 {
		t.Fatalf("%d silent losses, %d duplicates", lost, dups)
	}
	if reconnects < clients/2 || st.Replayed == 0 || st.Gaps == 0 {
		t.Fatalf("the test did not exercise resume: %d reconnects, %d replayed, %d gaps", reconnects, st.Replayed, st.Gaps)
	}
}

// around returns the received ids nearest to id, for failure messages.
func around(got []uint64, id uint64) []uint64 {
	k := sort.Search(len(got), func(i int) bool { return got[i] >= id })
	return got[max(k-3, 0):min(k+3, len(got))]
}
