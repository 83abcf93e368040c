//go:build !race

package poller_test

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ssedge/ssedge/poller"
)

func TestURingSequenceNoSilentLoss(t *testing.T) {
	withURing(t)
	TestSequenceNoSilentLoss(t)
}

func TestSendmsgSequenceNoSilentLoss(t *testing.T) {
	withoutURing(t)
	TestSequenceNoSilentLoss(t)
}

// Sends the kernel refuses to take from the ring (here: submitted from a
// thread that is not the ring's single issuer) are withdrawn and written
// with sendmsg: each subscriber still gets every frame once, in order.
func TestURingWithdrawn(t *testing.T) {
	withURing(t)
	hub, d, peers := fanout(t, 50)
	if !d.OpenRingElsewhere() {
		t.Skip("the kernel did not take IORING_SETUP_SINGLE_ISSUER: no way to make it refuse a submission")
	}
	defer d.CloseRing()
	_, _, before, _ := poller.URingCounts()
	var want []byte
	for k := range 3 {
		data := []byte(fmt.Sprintf("payload-%d", k))
		id, err := hub.Publish([]byte("c"), nil, data)
		if err != nil {
			t.Fatal(err)
		}
		want = fmt.Appendf(want, "id: %d\ndata: %s\n\n", id, data)
		if k != 1 {
			d.Deliver() // one pass of one frame, one of two: send and sendmsg
		}
	}
	if _, _, after, _ := poller.URingCounts(); after-before != 2*int64(len(peers)) {
		t.Errorf("%d sends withdrawn, want %d", after-before, 2*len(peers))
	}
	buf := make([]byte, 4096)
	for i, fd := range peers {
		n, err := unix.Read(fd, buf)
		if err != nil || !bytes.Equal(buf[:n], want) {
			t.Fatalf("peer %d read %q (%v), want %q", i, buf[:max(n, 0)], err, want)
		}
	}
}

// Delivering through the ring allocates nothing per subscriber either.
func TestURingDeliverAllocs(t *testing.T) {
	withURing(t)
	runtime.LockOSThread() // the ring's only submitter
	defer runtime.UnlockOSThread()
	checkDeliverAllocs(t, true)
}

// BenchmarkFanoutURing is BenchmarkFanout with the pass's sends batched
// through io_uring.
func BenchmarkFanoutURing(b *testing.B) { benchFanout(b, true) }

// Heartbeats through the ring allocate nothing either: 300 streams, more
// than one batch of SQEs in a step.
func TestURingHeartbeatAllocs(t *testing.T) {
	withURing(t)
	runtime.LockOSThread() // the ring's only submitter
	defer runtime.UnlockOSThread()
	checkHeartbeatAllocs(t, 300, true)
}

// BenchmarkHeartbeatWheelURing is BenchmarkHeartbeatWheel's "idle" case
// with the heartbeats of a step batched through io_uring.
func BenchmarkHeartbeatWheelURing(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	benchWheel(b, false, true)
}
