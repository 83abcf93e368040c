package cluster_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ssedge/ssedge/internal/ssetest"
)

// A stream deleted and created again far ahead (its sequence jumps by
// more than a node could pad) stops the node from following it, and its
// readiness says why, instead of minutes of padding or wrong ids.
func TestStreamRecreatedFarAhead(t *testing.T) {
	b := startBroker(t)
	admin := filepath.Join(t.TempDir(), "admin.sock")
	a := startNode(t, "--cluster", b.URL(), "--admin-listen", "unix:"+admin)
	old := a.pub.MustPublish(t, "j", "", "before")

	nc, err := nats.Connect(b.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, "SSEDGE")
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	if err := js.DeleteStream(ctx, "SSEDGE"); err != nil {
		t.Fatal(err)
	}
	cfg.FirstSeq = old + 1<<30
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "ssedge.SSEDGE.j", []byte("after")); err != nil {
		t.Fatal(err)
	}
	ssetest.WaitFor(t, 20*time.Second, "readiness to report the jump", func() bool {
		code, body := readyz(admin)
		return code == 503 && strings.Contains(body, "sequence jumped")
	})
	a.logs.Wait(t, 5*time.Second, 1, "stopped following the stream")
}
