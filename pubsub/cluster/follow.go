package cluster

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/ssedge/ssedge/pubsub"
)

// Run follows the stream from the event after the hub's newest until ctx
// is done: an ordered consumer (which re-creates itself after a lost
// connection, from the last sequence it delivered) feeds every event to
// the hub with its stream sequence as the id. Call it once, after Open
// and before the listeners open.
func (n *Node) Run(ctx context.Context) {
	for ctx.Err() == nil {
		cons, err := n.js.OrderedConsumer(ctx, n.cfg.Stream, jetstream.OrderedConsumerConfig{
			DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: n.hub.LastRingID() + 1})
		if err != nil {
			if ctx.Err() == nil {
				n.log.Debug("cluster: follow the stream: retrying", zap.Error(err))
				waitCtx(ctx, 500*time.Millisecond) // a retry interval while the broker is away
			}
			continue
		}
		fatal := make(chan error, 1)
		// Heartbeats every second: a consumer lost with its server (in a
		// NATS cluster) is noticed, and re-created, within about 2 s.
		cc, err := cons.Consume(func(m jetstream.Msg) { n.take(m, fatal) },
			jetstream.PullExpiry(5*time.Second), jetstream.PullHeartbeat(time.Second),
			jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
				n.log.Debug("cluster: following the stream", zap.Error(err))
			}))
		if err != nil {
			waitCtx(ctx, 500*time.Millisecond)
			continue
		}
		select {
		case <-ctx.Done():
		case err := <-fatal:
			n.log.Error("cluster: stopped following the stream; restarting from the hub's newest id", zap.Error(err))
		}
		cc.Stop()
	}
}

// take puts one stream message into the hub.
func (n *Node) take(m jetstream.Msg, fatal chan<- error) {
	md, err := m.Metadata()
	if err != nil {
		n.log.Warn("cluster: stream message without metadata", zap.Error(err))
		return
	}
	seq := md.Sequence.Stream
	n.noteKnown(seq + md.NumPending)
	if seq <= n.hub.LastRingID() {
		return // already taken (a consumer re-created after a reconnect)
	}
	ch, name, err := n.decode(m.Subject(), m.Headers())
	if err != nil {
		// Not ours: its sequence becomes a filler with the next event.
		n.log.Warn("cluster: skipped a stream message ssedge did not write", zap.Uint64("seq", seq), zap.Error(err))
		return
	}
	if err := n.hub.PublishAt(seq, md.Timestamp.UnixNano(), []byte(ch), []byte(name), m.Data()); err != nil {
		if errors.Is(err, pubsub.ErrClosed) {
			return
		}
		if errors.Is(err, pubsub.ErrRelayOrder) {
			select {
			case fatal <- err:
			default:
			}
			return
		}
		n.log.Warn("cluster: skipped a stream message", zap.Uint64("seq", seq), zap.Error(err))
		return
	}
	n.consumed.Add(1)
}

// waitCtx lets d pass unless ctx ends first.
func waitCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
