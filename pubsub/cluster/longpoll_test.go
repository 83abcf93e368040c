package cluster_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"
)

// pollAnswer is a long-poll answer.
type pollAnswer struct {
	Events []struct {
		ID      uint64 `json:"id"`
		Channel string `json:"channel"`
		Data    string `json:"data"`
	} `json:"events"`
	Gaps        []json.RawMessage `json:"gaps"`
	LastEventID uint64            `json:"lastEventId"`
}

func poll(t *testing.T, n *node, query string) pollAnswer {
	t.Helper()
	c := &http.Client{Timeout: 20 * time.Second}
	resp, err := c.Get("http://" + n.listen + "/poll?" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var a pollAnswer
	if resp.StatusCode != 200 || json.Unmarshal(b, &a) != nil {
		t.Fatalf("poll %s: %d %q", query, resp.StatusCode, b)
	}
	return a
}

// Long-poll across nodes: polling each time a different node with the
// answer's lastEventId loses and repeats nothing.
func TestLongPollAcrossNodes(t *testing.T) {
	b := startBroker(t)
	nodes := []*node{startNode(t, "--cluster", b.URL()), startNode(t, "--cluster", b.URL()), startNode(t, "--cluster", b.URL())}
	var want []uint64
	for i := range 9 {
		want = append(want, nodes[i%3].pub.MustPublish(t, "lp", "", fmt.Sprint(i)))
	}
	last := want[0] - 1
	var got []uint64
	for i := 0; len(got) < len(want) && i < 30; i++ {
		a := poll(t, nodes[i%3], fmt.Sprintf("channel=lp&lastEventId=%d&timeout=5", last))
		if len(a.Gaps) != 0 {
			t.Fatalf("poll after %d on node %d: gaps %s", last, i%3, a.Gaps)
		}
		for _, e := range a.Events {
			got = append(got, e.ID)
		}
		last = a.LastEventID
		if i < 8 { // a new event between polls, on another node
			want = append(want, nodes[(i+1)%3].pub.MustPublish(t, "lp", "", "more"))
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("polled %v, want %v", got, want)
	}
}
