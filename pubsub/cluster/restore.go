package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/ssedge/ssedge/pubsub"
)

// restore creates the hub at sequence upTo (a follower's relay seed) or,
// for a node (upTo 0), at the stream's last sequence, and loads every
// event the stream retains up to there into its history, with the gap
// marks that say what the stream no longer holds: ids below its first
// sequence may be gone from any channel (the floor), and a channel holding
// as many events as the per-subject limit may have lost older ones (its
// mark is its first retained sequence less one). The counts run to the
// stream's last sequence even past upTo, since the limit applies to all a
// channel holds.
func (n *Node) restore(ctx context.Context, upTo uint64) error {
	info, err := n.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("cluster: stream %q info: %w", n.cfg.Stream, err)
	}
	st := info.State
	if upTo == 0 {
		upTo = st.LastSeq
	}
	hubCfg := n.cfg.Hub
	hubCfg.Seed, hubCfg.GivenIDs, hubCfg.Upstream, hubCfg.UpstreamCheck = upTo, true, n.upstream, n.upstreamCheck
	hubCfg.UpstreamFetch = n.upstreamFetch
	if n.cfg.NoHistory {
		hubCfg.History.PerChannel = -1 // the stream's limits were taken from cfg.Hub already
	}
	if up := n.cfg.Upstream; up != nil {
		hubCfg.Upstream = func() uint64 { return max(up(), n.upstream()) }
	}
	n.hub = pubsub.NewHub(hubCfg)
	n.noteKnown(st.LastSeq)
	n.seen.Store(upTo) // Run follows from the next one
	n.hub.RestoreFloor(max(st.FirstSeq, 1) - 1)
	if st.Msgs == 0 || st.LastSeq == 0 || n.cfg.NoHistory || st.FirstSeq > upTo {
		return nil
	}
	start := time.Now()
	type seen struct {
		n     int64
		first uint64
	}
	chans := make(map[string]*seen)
	count := func(seq uint64, subject string, h map[string][]string) {
		ch, _, err := n.decode(subject, h)
		if err != nil {
			return
		}
		s := chans[ch]
		if s == nil {
			s = &seen{first: seq}
			chans[ch] = s
		}
		s.n++
	}
	cons, err := n.readConsumer(ctx, jetstream.ConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: st.FirstSeq})
	if err != nil {
		return fmt.Errorf("cluster: read stream %q: %w", n.cfg.Stream, err)
	}
	defer n.dropConsumer(cons)
	restored := 0
	last := max(st.FirstSeq, 1) - 1 // the newest sequence read
	// Each fetch asks for no more than the consumer says is pending (the
	// first, for what Info counted), so it returns as soon as that has
	// arrived. The read is done at the stream's last sequence as Info saw
	// it, never earlier: the consumer may run on a replica that is behind
	// the leader, whose "nothing pending" would otherwise end the restore
	// with a silent hole below upTo. A fetch that brings nothing within
	// its wait is decided by restoreStalled.
	pending, stalledSince := st.Msgs, time.Time{}
	for done := false; !done; {
		batch, err := cons.Fetch(int(min(max(pending, 1), 512)), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return fmt.Errorf("cluster: read stream %q: %w", n.cfg.Stream, err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			md, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("cluster: read stream %q: %w", n.cfg.Stream, err)
			}
			seq := md.Sequence.Stream
			pending = md.NumPending
			last = seq
			if seq > st.LastSeq {
				done = true // published since Info: Run (or the relay) delivers it
				break
			}
			if seq == st.LastSeq {
				done = true
			}
			if seq > upTo {
				count(seq, m.Subject(), m.Headers())
				continue
			}
			ch, name, err := n.decode(m.Subject(), m.Headers())
			if err != nil {
				n.log.Warn("cluster: skipped a stream message ssedge did not write", zap.Uint64("seq", seq), zap.Error(err))
				continue
			}
			if err := n.hub.Restore(seq, md.Timestamp.UnixNano(), []byte(ch), []byte(name), m.Data()); err != nil {
				n.log.Warn("cluster: skipped a stream message", zap.Uint64("seq", seq), zap.Error(err))
				continue
			}
			restored++
			count(seq, m.Subject(), m.Headers())
		}
		if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("cluster: read stream %q: %w", n.cfg.Stream, err)
		}
		if got > 0 || done {
			stalledSince = time.Time{}
			continue
		}
		// Nothing within the wait: either the rest was evicted since Info
		// (then say it may be gone), or the stream still holds it and did
		// not send it yet (a replica catching up, a loaded box, an
		// election): wait for it a while, then fail this start rather
		// than serve a history with a silent hole.
		if stalledSince.IsZero() {
			stalledSince = time.Now()
		}
		behind, err := n.restoreStalled(ctx, last, upTo, st.LastSeq)
		if err != nil {
			return err
		}
		if !behind {
			break
		}
		if time.Since(stalledSince) > restoreStallLimit {
			return fmt.Errorf("cluster: read stream %q: nothing after sequence %d within %s, though the stream holds up to %d: try again", n.cfg.Stream, last, restoreStallLimit, st.LastSeq)
		}
	}
	marks := make(map[string]uint64)
	for ch, s := range chans {
		if n.perSubj > 0 && s.n >= n.perSubj {
			marks[ch] = s.first - 1
		}
	}
	n.hub.RestoreMarks(marks)
	n.consumed.Add(uint64(restored))
	n.log.Info("cluster: history restored from the stream", zap.String("stream", n.cfg.Stream),
		zap.Int("events", restored), zap.Int("channels", len(chans)), zap.Uint64("first_seq", st.FirstSeq),
		zap.Uint64("last_seq", st.LastSeq), zap.Uint64("up_to", upTo), zap.Duration("took", time.Since(start)))
	return nil
}

// decode reads an event message's channel (from its subject, checked
// against the header) and event name.
func (n *Node) decode(subject string, h map[string][]string) (channel, name string, err error) {
	tok, ok := strings.CutPrefix(subject, n.prefix+".")
	if !ok {
		return "", "", fmt.Errorf("%w: subject %q is not under %q", ErrForeignMessage, subject, n.prefix)
	}
	if channel, err = tokenChannel(tok); err != nil {
		return "", "", err
	}
	if v := h[HeaderChannel]; len(v) > 0 && v[0] != channel {
		return "", "", fmt.Errorf("%w: subject %q names channel %q, header %s says %q", ErrForeignMessage, subject, channel, HeaderChannel, v[0])
	}
	if v := h[HeaderEvent]; len(v) > 0 {
		name = v[0]
	}
	return channel, name, nil
}

// restoreStallLimit bounds how long a restore waits for a stream that
// holds events it does not send (a replica catching up).
const restoreStallLimit = 20 * time.Second

// restoreStalled decides about a restore that read nothing more after
// sequence last, reading to target (the stream's last sequence when it
// began): if the stream (its leader, asked directly) still holds a
// message after last and at or below target, the consumer's replica has
// not sent it yet and it reports behind: the caller reads on, for a
// while. Otherwise the rest was evicted or deleted during the restore:
// if the stream's first sequence is now past last, the history marks the
// ids in between as possibly gone (Hub.MarkLost).
func (n *Node) restoreStalled(ctx context.Context, last, upTo, target uint64) (behind bool, err error) {
	ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	m, err := n.stream.GetMsg(ictx, last+1, jetstream.WithGetMsgSubject(n.prefix+".*"))
	switch {
	case err == nil:
		if m.Sequence <= target {
			return true, nil
		}
	case !errors.Is(err, jetstream.ErrMsgNotFound):
		return false, fmt.Errorf("cluster: read stream %q: stalled after sequence %d, and asking its leader: %w", n.cfg.Stream, last, err)
	}
	info, err := n.stream.Info(ictx)
	if err != nil {
		return false, fmt.Errorf("cluster: read stream %q: stalled after sequence %d, and its info: %w", n.cfg.Stream, last, err)
	}
	if gone := min(max(info.State.FirstSeq, 1)-1, upTo); gone > last {
		n.hub.MarkLost(gone)
	}
	return false, nil
}

// readConsumer creates an ephemeral consumer for a one-off read (AckNone,
// in memory, one replica, removed by the server if forgotten), each try
// bounded so a request JetStream does not answer (an election) is tried
// again instead of waiting for all of ctx.
func (n *Node) readConsumer(ctx context.Context, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	cfg.AckPolicy, cfg.MemoryStorage, cfg.Replicas = jetstream.AckNonePolicy, true, 1
	cfg.InactiveThreshold = 2 * fetchTimeout
	for {
		cctx, cancel := context.WithTimeout(ctx, followCreateTimeout)
		cons, err := n.stream.CreateConsumer(cctx, cfg)
		cancel()
		if err == nil || ctx.Err() != nil {
			return cons, err
		}
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.Code >= 400 && apiErr.Code < 500 && apiErr.Code != 408 {
			return nil, err // refused, not unanswered: trying again changes nothing
		}
		waitCtx(ctx, 250*time.Millisecond)
	}
}

// dropConsumer deletes a read consumer (the server removes it after its
// inactive threshold if this is lost).
func (n *Node) dropConsumer(cons jetstream.Consumer) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	n.stream.DeleteConsumer(ctx, cons.CachedInfo().Name)
}
