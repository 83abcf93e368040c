package cluster

import (
	"context"
	"errors"
	"fmt"
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
// for a few channels' id ranges, a goroutine reads them with JetStream
// message gets ("the first message at or after sequence S on subject X",
// one subject per channel, so nothing of other channels is read) and
// finishes the fetch; the loop picks the events up on a later turn.

// Fetch bounds: one fetch gives up after fetchTimeout (the loop then
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
		ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
		defer cancel()
		select {
		case n.fetches <- struct{}{}:
			defer func() { <-n.fetches }()
		case <-ctx.Done():
			f.Err = fmt.Errorf("cluster: read stream %q: too many resumes reading it at once", n.cfg.Stream)
			return
		}
		if err := n.fetch(ctx, f, maxEvents, maxBytes); err != nil {
			f.Events, f.Loss, f.Covered = nil, nil, 0
			f.Err = fmt.Errorf("cluster: read stream %q: %w", n.cfg.Stream, err)
		}
	}()
}

// fetch reads f's ranges, each channel up to its share of the bounds,
// and what the stream has lost of each.
func (n *Node) fetch(ctx context.Context, f *pubsub.UpstreamFetch, maxEvents, maxBytes int) error {
	if st := n.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("NATS connection %s", strings.ToLower(st.String()))
	}
	perEvents, perBytes := max(maxEvents/len(f.Ranges), 1), max(maxBytes/len(f.Ranges), 1)
	f.Covered = 0
	complete := true
	for _, r := range f.Ranges {
		f.Covered = max(f.Covered, r.UpTo)
	}
	firsts := make([]uint64, len(f.Ranges))
	for i, r := range f.Ranges {
		subject := n.prefix + "." + channelToken([]byte(r.Channel))
		seq, events, bytes := r.After+1, 0, 0
		for seq <= r.UpTo {
			if events >= perEvents || bytes >= perBytes {
				// Not every event up to UpTo: the fetch covers this range
				// only up to what it read (seq-1), and so all ranges.
				f.Covered, complete = min(f.Covered, seq-1), false
				break
			}
			m, err := n.stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				break // nothing more on this channel
			}
			if err != nil {
				return err
			}
			if m.Sequence < seq {
				return fmt.Errorf("asked for sequence %d or later on %q, got %d", seq, subject, m.Sequence)
			}
			if m.Sequence > r.UpTo {
				break
			}
			seq = m.Sequence + 1
			ev, err := n.event(m)
			if err != nil {
				continue // not an ssedge event: skipped, as Run skips it
			}
			if firsts[i] == 0 {
				firsts[i] = ev.ID
			}
			f.Events = append(f.Events, ev)
			events++
			bytes += len(ev.Frame)
		}
	}
	if !complete {
		f.Events = slices.DeleteFunc(f.Events, func(ev *pubsub.Event) bool { return ev.ID > f.Covered })
	}
	slices.SortFunc(f.Events, func(a, b *pubsub.Event) int {
		if a.ID < b.ID {
			return -1
		}
		return 1
	})
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
func (n *Node) event(m *jetstream.RawStreamMsg) (*pubsub.Event, error) {
	ch, name, err := n.decode(m.Subject, m.Header)
	if err != nil {
		return nil, err
	}
	if len(name) > 0 {
		if err := sse.ValidEventName([]byte(name)); err != nil {
			return nil, err
		}
	}
	if m.Sequence == 0 || m.Sequence > pubsub.MaxID {
		return nil, fmt.Errorf("%w: sequence %d out of range", ErrForeignMessage, m.Sequence)
	}
	data := m.Data
	ev := &pubsub.Event{ID: m.Sequence, Channel: ch, Published: m.Time.UnixNano()}
	ev.Frame = sse.AppendEvent(make([]byte, 0, sse.EventLen(m.Sequence, []byte(name), data)), m.Sequence, []byte(name), data)
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
