package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/ssedge/ssedge/pubsub"
)

// Run follows the stream from the event after the hub's newest until ctx
// is done: a consumer feeds every event to the hub with its stream
// sequence as the id. Call it once, after Open and before the listeners
// open.
//
// The consumer is this node's own (an ephemeral pull consumer, AckNone,
// in memory, one replica), created with a bounded wait and re-created
// from the hub's newest id on: after a reconnect (its server may be
// gone), when a message breaks the order (a consumer sequence skipped:
// a message lost in flight), when nats.go reports it gone or silent,
// and when it stalls — the stream is known to hold sequences this node
// has not seen for 3 s (a watchdog asks the stream each second). nats.go's
// ordered consumer did this by itself, but its creation waits up to 10 s
// per try with no way to shorten it, which a 3-server cluster electing a
// new leader turned into 10 s with no event.
func (n *Node) Run(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for ctx.Err() == nil {
		cctx, cancel := context.WithTimeout(ctx, followCreateTimeout)
		cons, err := n.stream.CreateConsumer(cctx, jetstream.ConsumerConfig{
			DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: n.hub.LastRingID() + 1,
			AckPolicy: jetstream.AckNonePolicy, MemoryStorage: true, Replicas: 1,
			InactiveThreshold: 10 * time.Second, // removed by the server if the delete below is lost
		})
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				n.log.Debug("cluster: follow the stream: retrying", zap.Error(err))
				waitCtx(ctx, 500*time.Millisecond) // a retry interval while the broker is away
			}
			continue
		}
		fatal := make(chan error, 1)
		var delivered uint64 // the consumer sequence of the last message; the handler runs on one goroutine
		handle := func(m jetstream.Msg) {
			md, err := m.Metadata()
			if err != nil {
				n.log.Warn("cluster: stream message without metadata", zap.Error(err))
				return
			}
			if md.Sequence.Consumer != delivered+1 {
				signal(fatal, fmt.Errorf("%w: consumer sequence %d after %d", errFollowOrder, md.Sequence.Consumer, delivered))
				return
			}
			delivered = md.Sequence.Consumer
			n.take(m, md, fatal)
		}
		// Heartbeats every second: a consumer lost with its server is
		// noticed within about 2 s.
		cc, err := cons.Consume(handle,
			jetstream.PullExpiry(5*time.Second), jetstream.PullHeartbeat(time.Second),
			jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
				n.log.Debug("cluster: following the stream", zap.Error(err))
				if errors.Is(err, jetstream.ErrNoHeartbeat) || errors.Is(err, jetstream.ErrConsumerDeleted) ||
					errors.Is(err, jetstream.ErrConsumerNotFound) {
					signal(fatal, fmt.Errorf("%w: %w", errFollowOrder, err))
				}
			}))
		if err == nil {
			n.follow(ctx, tick.C, fatal)
			cc.Stop()
		} else {
			waitCtx(ctx, 500*time.Millisecond)
		}
		name := cons.CachedInfo().Name
		go func() {
			dctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			n.stream.DeleteConsumer(dctx, name)
		}()
	}
}

// followCreateTimeout bounds one try at creating the following consumer.
const followCreateTimeout = 2 * time.Second

// errFollowOrder: the consumer must be re-created (it skipped a message,
// or nats.go reports it gone); not logged as an error.
var errFollowOrder = errors.New("cluster: the consumer following the stream must be re-created")

// signal hands err to a channel of one without waiting (a first error is
// enough).
func signal(c chan<- error, err error) {
	select {
	case c <- err:
	default:
	}
}

// follow waits until the current consumer must be re-created (or ctx is
// done), watching it for stalls.
func (n *Node) follow(ctx context.Context, tick <-chan time.Time, fatal <-chan error) {
	last, stalled := n.seen.Load(), 0
	for {
		select {
		case <-ctx.Done():
			return
		case err := <-fatal:
			if errors.Is(err, ErrSequenceJump) {
				n.log.Error("cluster: stopped following the stream", zap.Error(err))
				<-ctx.Done() // readiness says why until the node is restarted
				return
			}
			if errors.Is(err, errFollowOrder) {
				n.log.Debug("cluster: re-creating the consumer following the stream", zap.Error(err))
			} else {
				n.log.Error("cluster: stopped following the stream; restarting from the hub's newest id", zap.Error(err))
			}
			return
		case <-n.reconnected:
			return
		case <-tick:
			n.refreshKnown()
			cur := n.seen.Load()
			if cur == last && n.known.Load() > cur {
				stalled++
			} else {
				stalled = 0
			}
			last = cur
			if stalled >= 3 {
				n.log.Warn("cluster: following the stream stalled; re-creating the consumer",
					zap.Uint64("seen", cur), zap.Uint64("stream_last", n.known.Load()))
				return
			}
		}
	}
}

// maxHole bounds the ids a node pads with fillers at once (a hole in the
// stream's sequence: events evicted before this node read them). 2^24
// fillers take a few seconds; a larger jump is a re-created stream.
const maxHole = 1 << 24

// take puts one stream message into the hub.
func (n *Node) take(m jetstream.Msg, md *jetstream.MsgMetadata, fatal chan<- error) {
	seq := md.Sequence.Stream
	n.noteKnown(seq + md.NumPending)
	// A consumer being replaced may still deliver while its successor
	// starts: one at a time, and each sequence once.
	n.takeMu.Lock()
	defer n.takeMu.Unlock()
	if seq > n.seen.Load() {
		n.seen.Store(seq)
	}
	last := n.hub.LastRingID()
	if seq <= last {
		return // already taken (a consumer re-created after a reconnect)
	}
	if seq-last > maxHole {
		// Padding it would take minutes or hours: the stream was deleted
		// and created again (at the clock), not trimmed.
		n.broken.Store(fmt.Sprintf("cluster: the stream's sequence jumped from %d to %d (was it deleted and created again?): restart this node", last, seq))
		signal(fatal, fmt.Errorf("%w: %s", ErrSequenceJump, n.broken.Load()))
		return
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
			signal(fatal, err)
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
