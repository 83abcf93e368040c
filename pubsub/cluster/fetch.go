package cluster

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ssedge/ssedge/pubsub"
	"github.com/ssedge/ssedge/sse"
)

// Resumes from the stream: a client whose events fell out of this node's
// memory (its history bounds are smaller than the stream's limits, or it
// restored only part of what the stream holds) gets them from the stream,
// not a gap. The hub's Config.UpstreamFetch is upstreamFetch: a loop asks
// for a few channels' id ranges, a goroutine reads them with an ephemeral
// consumer filtered on those channels' subjects (so nothing of other
// channels is read) from the lowest start sequence, and finishes the
// fetch; the loop picks the events up on a later turn.

// Fetch bounds: one fetch waits fetchTimeout at most for its turn and
// gives up after fetchTimeout of reading (the loop then
// closes the stream, or answers the poll 503, and the client retries),
// and at most maxFetches run at once per node, so a thousand clients
// resuming at once queue here instead of flooding the broker.
const (
	fetchTimeout = 5 * time.Second
	maxFetches   = 8
)

// upstreamFetch is the hub's Config.UpstreamFetch: it returns at once.
func (n *Node) upstreamFetch(f *pubsub.UpstreamFetch, maxEvents, maxBytes int) {
	go func() {
		defer f.Finish()
		// The wait for a slot and the read are bounded apart: a read that
		// got its slot late still has all of fetchTimeout.
		slot := time.NewTimer(fetchTimeout)
		defer slot.Stop()
		select {
		case n.fetches <- struct{}{}:
			defer func() { <-n.fetches }()
		case <-slot.C:
			f.Err = fmt.Errorf("cluster: read stream %q: too many resumes reading it at once", n.cfg.Stream)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
		defer cancel()
		if err := n.fetch(ctx, f, maxEvents, maxBytes); err != nil {
			f.Events, f.Loss, f.Covered = nil, nil, 0
			f.Err = fmt.Errorf("cluster: read stream %q: %w", n.cfg.Stream, err)
		}
	}()
}

// fetch reads f's ranges with one ephemeral consumer, filtered on their
// channels' subjects and starting at the lowest range's start, so the
// messages come in sequence order across the channels, in batches; it
// stops at the bounds (the fetch then covers up to the last sequence read)
// or at the highest range's end, and deletes the consumer.
func (n *Node) fetch(ctx context.Context, f *pubsub.UpstreamFetch, maxEvents, maxBytes int) error {
	if st := n.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("NATS connection %s", strings.ToLower(st.String()))
	}
	subjects := make([]string, len(f.Ranges))
	bySubject := make(map[string]int, len(f.Ranges))
	start, upTo := uint64(math.MaxUint64), uint64(0)
	for i, r := range f.Ranges {
		subjects[i] = n.prefix + "." + channelToken([]byte(r.Channel))
		bySubject[subjects[i]] = i
		start, upTo = min(start, r.After+1), max(upTo, r.UpTo)
	}
	cfg := jetstream.ConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: start}
	if len(subjects) == 1 {
		cfg.FilterSubject = subjects[0]
	} else {
		cfg.FilterSubjects = slices.Compact(slices.Sorted(slices.Values(subjects)))
	}
	cons, err := n.readConsumer(ctx, cfg)
	if err != nil {
		return err
	}
	defer n.dropConsumer(cons)
	firsts := make([]uint64, len(f.Ranges))
	lasts := make([]uint64, len(f.Ranges)) // the newest sequence read of each range's channel
	f.Covered = upTo
	pending := cons.CachedInfo().NumPending
	events, bytes, passed := 0, 0, false // passed: a message above upTo came, so the replica holds all up to it
	for done := pending == 0; !done; {
		wait := 2 * time.Second
		if dl, ok := ctx.Deadline(); ok {
			wait = min(wait, time.Until(dl))
		}
		if wait <= 0 {
			return ctx.Err()
		}
		batch, err := cons.Fetch(int(min(pending, uint64(maxEvents-events), 512)), jetstream.FetchMaxWait(wait))
		if err != nil {
			return err
		}
		got := 0
		for m := range batch.Messages() {
			got++
			md, err := m.Metadata()
			if err != nil {
				return err
			}
			seq := md.Sequence.Stream
			pending = md.NumPending
			if seq > upTo {
				done, passed = true, true
				break
			}
			if pending == 0 {
				done = true
			}
			i, ok := bySubject[m.Subject()]
			if !ok || seq <= f.Ranges[i].After || seq > f.Ranges[i].UpTo {
				continue
			}
			ev, err := n.event(seq, m.Subject(), m.Headers(), m.Data(), md.Timestamp)
			if err != nil {
				continue // not an ssedge event: skipped, as Run skips it
			}
			if firsts[i] == 0 {
				firsts[i] = seq
			}
			lasts[i] = seq
			f.Events = append(f.Events, ev)
			events++
			bytes += len(ev.Frame)
			if !done && (events >= maxEvents || bytes >= maxBytes) {
				// The bounds: every message up to seq was read, none above.
				f.Covered, done, passed = seq, true, true
				break
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			return err
		}
		if got == 0 && !done {
			return fmt.Errorf("nothing after sequence %d within the wait, though %d messages are pending", start, pending)
		}
	}
	if !passed {
		// The consumer ran out of messages below upTo. Its replica may be
		// behind the leader (it counts "pending" against what it holds):
		// ask the leader for each channel's next event after the last one
		// read, so a lagging replica fails the fetch (the client retries)
		// instead of skipping events in silence.
		for i, r := range f.Ranges {
			after := max(r.After, lasts[i])
			m, err := n.stream.GetMsg(ctx, after+1, jetstream.WithGetMsgSubject(subjects[i]))
			switch {
			case err == nil && m.Sequence <= min(r.UpTo, f.Covered):
				return fmt.Errorf("the replica read holds less than the stream's leader (sequence %d of channel %q not read): try again", m.Sequence, r.Channel)
			case err != nil && !errors.Is(err, jetstream.ErrMsgNotFound):
				return err
			}
		}
	}
	f.Loss = make([]pubsub.UpstreamLoss, len(f.Ranges))
	for i, r := range f.Ranges {
		loss, err := n.lost(ctx, r, firsts[i])
		if err != nil {
			return err
		}
		f.Loss[i] = loss
	}
	return nil
}

// event turns a stream message into a hub event, its frame formatted once.
func (n *Node) event(seq uint64, subject string, h map[string][]string, data []byte, at time.Time) (*pubsub.Event, error) {
	ch, name, err := n.decode(subject, h)
	if err != nil {
		return nil, err
	}
	if len(name) > 0 {
		if err := sse.ValidEventName([]byte(name)); err != nil {
			return nil, err
		}
	}
	if seq == 0 || seq > pubsub.MaxID {
		return nil, fmt.Errorf("%w: sequence %d out of range", ErrForeignMessage, seq)
	}
	ev := &pubsub.Event{ID: seq, Channel: ch, Published: at.UnixNano()}
	ev.Frame = sse.AppendEvent(make([]byte, 0, sse.EventLen(seq, []byte(name), data)), seq, []byte(name), data)
	return ev, nil
}

// lost says what the stream no longer holds of r, asked after the events
// were read (first: the first one read, 0 if none). A subject's retained
// messages are always its newest ones (discard-old limits: per subject,
// age and bytes), so if the stream still holds one at or below r.After,
// nothing after it is gone. Otherwise events after r.After may be gone
// when the stream's first sequence is past r.After (age or bytes evicted
// them) or when the channel holds as many as the per-subject limit (its
// oldest were discarded): the mark is then the floor, or the channel's
// first retained sequence less one. Checked after the read, a loss
// during it is seen too.
func (n *Node) lost(ctx context.Context, r pubsub.UpstreamRange, first uint64) (pubsub.UpstreamLoss, error) {
	subject := n.prefix + "." + channelToken([]byte(r.Channel))
	var held uint64 // the channel's oldest retained sequence; 0: none
	m, err := n.stream.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(subject))
	switch {
	case err == nil:
		held = m.Sequence
	case !errors.Is(err, jetstream.ErrMsgNotFound):
		return pubsub.UpstreamLoss{}, err
	}
	if held != 0 && held <= r.After {
		return pubsub.UpstreamLoss{}, nil
	}
	info, err := n.stream.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		return pubsub.UpstreamLoss{}, err
	}
	var mark uint64
	if floor := max(info.State.FirstSeq, 1) - 1; floor > r.After {
		mark = floor
	}
	if per := info.Config.MaxMsgsPerSubject; per > 0 && held != 0 && int64(info.State.Subjects[subject]) >= per {
		mark = max(mark, held-1)
	}
	if mark <= r.After {
		return pubsub.UpstreamLoss{}, nil
	}
	loss := pubsub.UpstreamLoss{Mark: mark, First: r.UpTo + 1}
	if held != 0 {
		loss.First = held
	}
	if first != 0 && first < loss.First {
		loss.First = first
	}
	return loss, nil
}
