package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssedge/ssedge/internal/ssetest"
)

// Many clients (1,000) on overlapping channels reconnect to random nodes
// with Last-Event-ID while publishers publish on every node; mid-run NATS
// is stopped and started again (publishes are refused meanwhile and
// retried with their idempotency key), and later one node is killed (-9)
// and replaced. One node keeps only 3 events a channel in memory, so
// many of its resumes are read from the stream. Each client gets every
// event of its channels exactly once, in id order — 0 silent loss, 0
// duplicates, 0 gaps (the stream keeps everything here). Scaled to run in
// well under a minute with the race detector on a 2-core box.
func TestSequenceAcrossNodes(t *testing.T) {
	const (
		clients    = 1000
		channels   = 8
		perNode    = 240 // events each publisher publishes
		maxPerConn = 25  // a client reconnects after at most this many events
	)
	b := startBroker(t)
	args := []string{"--cluster", b.URL(), "--history-per-channel", "100000", "--heartbeat", "1s"}
	nodes := &nodeSet{}
	nodes.list = append(nodes.list, startNode(t, args...)) // creates the stream: it keeps everything
	small := append(slices.Clone(args[:2]), "--history-per-channel", "3", "--heartbeat", "1s")
	nodes.list = append(nodes.list, startNode(t, small...), startNode(t, args...))
	chName := func(i int) string { return "seq." + strconv.Itoa(i) }
	// Clients start after this id: the stream's first sequence is the
	// clock's (a resume from 0 would be an honest gap).
	start := nodes.pick(0).pub.MustPublish(t, "warm-up", "", "")

	var (
		mu        sync.Mutex
		published = map[string][]uint64{} // channel -> acknowledged ids
	)
	done := make(chan struct{})
	type result struct {
		chans []string
		got   []uint64
		gaps  int
		conns int
		err   error
	}
	results := make([]result, clients)
	var wg sync.WaitGroup
	for i := range clients {
		r := &results[i]
		c1 := rand.IntN(channels)
		r.chans = []string{chName(c1), chName((c1 + 1 + rand.IntN(channels-1)) % channels)}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.err = runClient(nodes, r.chans, start, maxPerConn, done, func() uint64 {
				mu.Lock()
				defer mu.Unlock()
				var last uint64
				for _, ch := range r.chans {
					if ids := published[ch]; len(ids) > 0 {
						last = max(last, ids[len(ids)-1])
					}
				}
				return last
			}, &r.got, &r.gaps, &r.conns)
		}()
	}
	var pwg sync.WaitGroup
	var third, twoThirds sync.WaitGroup
	third.Add(3)
	twoThirds.Add(3)
	for p := range 3 {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			for i := range perNode {
				switch i {
				case perNode / 3:
					third.Done()
				case 2 * perNode / 3:
					twoThirds.Done()
				}
				ch := chName(rand.IntN(channels))
				key := fmt.Sprintf("p%d-%d", p, i)
				var id uint64
				var err error
				// Refused while NATS is down or a node is gone: retried,
				// on another node, with the same key, for up to 30 s.
				for try := 0; try < 600; try++ {
					if id, err = publishKeyed(nodes.pick(p+try), ch, key); err == nil {
						break
					}
					time.Sleep(50 * time.Millisecond) // a publisher's retry interval
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				published[ch] = append(published[ch], id)
				mu.Unlock()
			}
		}()
	}
	third.Wait()
	b.Stop()
	for _, n := range nodes.list {
		n.logs.Wait(t, 10*time.Second, 1, "lost the NATS connection")
	}
	time.Sleep(time.Second) // an outage that lasts a while: publishes are refused, clients keep reconnecting
	b.Start()
	twoThirds.Wait()
	nodes.killAndReplace(t, 2, args)
	pwg.Wait()
	for _, ids := range published {
		slices.Sort(ids) // publishers on three nodes append concurrently
	}
	close(done)
	wg.Wait()

	conns, events := 0, 0
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("client %d on %v: %v", i, r.chans, r.err)
		}
		var want []uint64
		for _, ch := range r.chans {
			want = append(want, published[ch]...)
		}
		slices.Sort(want)
		if r.gaps != 0 || !slices.Equal(r.got, want) {
			t.Fatalf("client %d on %v: %d gaps, got %d events, want %d; first difference at %d",
				i, r.chans, r.gaps, len(r.got), len(want), firstDiff(r.got, want))
		}
		conns += r.conns
		events += len(r.got)
	}
	t.Logf("%d clients, %d connections, %d events delivered, 0 lost, 0 duplicated, 0 gaps", clients, conns, events)
	// However the clients' timing went, one resume on the small node
	// from before everything: its memory holds 3 events a channel, so the
	// rest comes from the stream, and the two channels' events must come
	// exactly, in id order.
	two := []string{chName(0), chName(1)}
	var want []uint64
	for _, ch := range two {
		want = append(want, published[ch]...)
	}
	slices.Sort(want)
	if len(want) <= 6 {
		t.Fatalf("only %d events on %v: the resume below would not need the stream", len(want), two)
	}
	st := nodes.pick(1).subscribe(t, "/events?channel="+two[0]+"&channel="+two[1], strconv.FormatUint(start, 10))
	expectIDs(t, st, want...)
	st.Close()
	fetched := nodes.pick(1).logs.Count("resume reads from the cluster's stream")
	closed := nodes.pick(1).logs.Count("closing a resuming stream")
	t.Logf("the small node read %d resume chunks from the stream; %d resumes closed while NATS was down", fetched, closed)
	if fetched == 0 {
		t.Fatal("no resume on the small node read from the stream: the test does not cover it")
	}
}

// runClient is one client: it resumes on a random node with the last id
// it got, reads a few events, and moves on, until done is closed and it
// holds the newest event of its channels (last()). Every id must be above
// the one before (no duplicate, id order).
func runClient(nodes *nodeSet, chans []string, have uint64, maxPerConn int, done chan struct{}, last func() uint64, got *[]uint64, gaps, conns *int) error {
	q := url.Values{"channel": chans}
	failed := 0
	for {
		select {
		case <-done:
			if have >= last() {
				return nil
			}
		default:
		}
		n := nodes.pick(-1)
		st, err := ssetest.Subscribe(ssetest.Request{Addr: n.listen, Target: "/events?" + q.Encode(),
			Header: []string{"Last-Event-ID: " + strconv.FormatUint(have, 10)}})
		if err != nil {
			if failed++; failed < 50 {
				continue // a killed node: another one
			}
			return err
		}
		failed = 0
		*conns++
		for i := range 1 + rand.IntN(maxPerConn) {
			f, err := st.NextEvent(300 * time.Millisecond)
			if i == 0 && errors.Is(err, io.EOF) {
				// Closed before any event: a resume the stream could not
				// serve (NATS down). Wait as EventSource does, then retry.
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil {
				break // quiet for a while: reconnect (and check done)
			}
			if f.Event == "ssedge.gap" {
				*gaps++
				continue
			}
			id, err := strconv.ParseUint(f.ID, 10, 64)
			if err != nil || id <= have {
				st.Close()
				return fmt.Errorf("event %q after id %d: duplicate or out of order", f.Raw, have)
			}
			have = id
			*got = append(*got, id)
		}
		st.Close()
	}
}

// nodeSet is the running nodes; one is replaced mid-run.
type nodeSet struct {
	mu   sync.Mutex
	list []*node
}

func (s *nodeSet) pick(i int) *node {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i < 0 {
		i = rand.IntN(len(s.list))
	}
	return s.list[i%len(s.list)]
}

// killAndReplace kills node i with SIGKILL and starts a new one in its place.
func (s *nodeSet) killAndReplace(t *testing.T, i int, args []string) {
	s.pick(i).Kill()
	n := startNode(t, args...)
	s.mu.Lock()
	s.list[i] = n
	s.mu.Unlock()
}

// publishKeyed publishes one event with an idempotency key.
func publishKeyed(n *node, channel, key string) (uint64, error) {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", n.socket)
		}}}
	defer c.CloseIdleConnections()
	req, _ := http.NewRequest("POST", "http://x/publish?channel="+channel, strings.NewReader(key))
	req.Header.Set("Idempotency-Key", key)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("publish: %d %q", resp.StatusCode, b)
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

func firstDiff(a, b []uint64) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
