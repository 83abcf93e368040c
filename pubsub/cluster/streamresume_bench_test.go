package cluster_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ssedge/ssedge/internal/ssetest"
)

// BenchmarkResumeFromStream measures a resume that reads every event from
// the stream (the node keeps 2 a channel in memory): 2,000 events on one
// channel, replayed from before the first, with the broker on the same
// box. Reported as events a second for one resuming client.
//
//	go test -run - -bench ResumeFromStream -benchtime 5x ./pubsub/cluster/
func BenchmarkResumeFromStream(b *testing.B) {
	br := startBroker(b)
	a := startNode(b, "--cluster", br.URL(), "--history-per-channel", "10000")
	small := startNode(b, "--cluster", br.URL(), "--history-per-channel", "2")
	const events = 2000
	var lines strings.Builder
	for i := range events {
		lines.WriteString(ssetest.LineCommand("bench", "", fmt.Sprint("event ", i)))
	}
	replies, err := ssetest.LineExchange(a.socket, lines.String(), events)
	if err != nil {
		b.Fatal(err)
	}
	var first uint64
	fmt.Sscanf(strings.TrimPrefix(replies[0], "+OK "), "%d", &first)
	if first == 0 {
		b.Fatalf("first reply %q", replies[0])
	}
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		st, err := ssetest.Subscribe(ssetest.Request{Addr: small.listen, Target: "/events?channel=bench",
			Header: []string{fmt.Sprintf("Last-Event-ID: %d", first-1)}})
		if err != nil {
			b.Fatal(err)
		}
		for i := range events {
			if _, err := st.NextEvent(30 * time.Second); err != nil {
				b.Fatalf("event %d: %v", i, err)
			}
		}
		st.Close()
	}
	b.ReportMetric(float64(b.N*events)/time.Since(start).Seconds(), "events/s")
}
