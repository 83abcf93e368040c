package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/ssedge/ssedge/pubsub"
	"github.com/ssedge/ssedge/sse"
)

// Publish stores one event in the stream and returns its id, the stream
// sequence, once JetStream has acknowledged it (the event is durable,
// replicated as the stream says). key, if not empty, is the publisher's
// idempotency key: JetStream's de-duplication (Nats-Msg-Id, within the
// stream's 2-minute duplicate window) makes a retry with the same key
// return the first publish's id instead of storing the event twice.
//
// Errors: the validation errors of pubsub.Hub.Publish; ErrUnavailable
// (nothing stored: not connected, or JetStream refused); ErrOutcomeUnknown
// (no acknowledgement within Config.PublishTimeout, or the connection
// failed after the send). It never waits longer than the timeout. Safe
// for concurrent use.
func (n *Node) Publish(channel, name, data, key []byte) (uint64, error) {
	msg, opts, err := n.message(channel, name, data, key)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.PublishTimeout)
	defer cancel()
	ack, err := n.js.PublishMsg(ctx, msg, opts...)
	if err != nil {
		return 0, n.failed(classify(err, n.cfg.PublishTimeout))
	}
	return n.acked(ack)
}

// PublishAsync is Publish in two steps, so that one publisher connection
// can keep several events in flight (ingest.AsyncPublisher): it checks
// and sends the event and returns; wait then blocks until JetStream has
// acknowledged it (its id) or refused it, or until Config.PublishTimeout
// has passed since the send (ErrOutcomeUnknown). The errors are Publish's.
// Events sent one after another by one goroutine are stored in that order.
func (n *Node) PublishAsync(channel, name, data, key []byte) (wait func() (uint64, error), err error) {
	msg, opts, err := n.message(channel, name, data, key)
	if err != nil {
		return nil, err
	}
	f, err := n.js.PublishMsgAsync(msg, opts...)
	if err != nil {
		// Not sent (disconnected, too many in flight): nothing stored.
		return nil, n.failed(fmt.Errorf("%w: %v", ErrUnavailable, err))
	}
	sent := time.Now()
	return func() (uint64, error) {
		t := time.NewTimer(n.cfg.PublishTimeout - time.Since(sent))
		defer t.Stop()
		select {
		case ack := <-f.Ok():
			return n.acked(ack)
		case err := <-f.Err():
			return 0, n.failed(classify(err, n.cfg.PublishTimeout))
		case <-t.C:
			return 0, n.failed(fmt.Errorf("%w (waited %v)", ErrOutcomeUnknown, n.cfg.PublishTimeout))
		}
	}, nil
}

// message checks a publish as Hub.Publish does and builds its message:
// the data as is, the channel (escaped) in the subject and, as it is, in
// a header, the event name in another, the key as Nats-Msg-Id. It refuses
// at once while not connected (nothing is sent).
func (n *Node) message(channel, name, data, key []byte) (*nats.Msg, []jetstream.PublishOpt, error) {
	if len(channel) == 0 {
		return nil, nil, pubsub.ErrNoChannel
	}
	if err := sse.ValidChannelName(channel); err != nil {
		return nil, nil, err
	}
	if len(name) > 0 {
		if err := sse.ValidEventName(name); err != nil {
			return nil, nil, err
		}
	}
	if max := n.hub.MaxEventBytes(); len(data) > max {
		return nil, nil, fmt.Errorf("%w: %d bytes, the limit is %d", pubsub.ErrEventTooLarge, len(data), max)
	}
	if st := n.nc.Status(); st != nats.CONNECTED {
		return nil, nil, n.failed(fmt.Errorf("%w: NATS connection %s", ErrUnavailable, st))
	}
	msg := &nats.Msg{Subject: n.prefix + "." + channelToken(channel), Data: data, Header: nats.Header{}}
	msg.Header.Set(HeaderChannel, string(channel))
	if len(name) > 0 {
		msg.Header.Set(HeaderEvent, string(name))
	}
	var opts []jetstream.PublishOpt
	if len(key) > 0 {
		opts = append(opts, jetstream.WithMsgID(string(key)))
	}
	return msg, opts, nil
}

// jsDuplicateInProcess is JetStream's API error "duplicate message id is
// in process" (nats-server's JSStreamDuplicateMessageConflict).
const jsDuplicateInProcess jetstream.ErrorCode = 10158

// acked turns an acknowledgement into the event's id.
func (n *Node) acked(ack *jetstream.PubAck) (uint64, error) {
	if ack.Stream != n.cfg.Stream {
		return 0, n.failed(fmt.Errorf("%w: stored in stream %q, expected %q", ErrOutcomeUnknown, ack.Stream, n.cfg.Stream))
	}
	if ack.Sequence == 0 || ack.Sequence > pubsub.MaxID {
		return 0, n.failed(fmt.Errorf("%w: acknowledged with sequence %d, expected 1 to 2^53-1", ErrOutcomeUnknown, ack.Sequence))
	}
	if n.failing.CompareAndSwap(true, false) {
		n.log.Info("cluster: publishes are acknowledged again")
	}
	n.noteKnown(ack.Sequence)
	return ack.Sequence, nil
}

// classify sorts a publish error into refused (nothing stored) or
// unknown. Only errors that say the event never reached JetStream, or
// that JetStream refused it, are refusals: a connection lost after the
// send leaves the outcome unknown.
func classify(err error, timeout time.Duration) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return fmt.Errorf("%w (waited %v)", ErrOutcomeUnknown, timeout)
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, nats.ErrReconnectBufExceeded):
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	var api *jetstream.APIError
	if errors.As(err, &api) {
		if api.ErrorCode == jsDuplicateInProcess {
			// A keyed retry while the first publish with that key is
			// still being stored (a replicated stream): that one may yet
			// be stored and delivered, so this is no refusal.
			return fmt.Errorf("%w: JetStream: %v", ErrOutcomeUnknown, api)
		}
		return fmt.Errorf("%w: JetStream: %v", ErrUnavailable, api)
	}
	return fmt.Errorf("%w: %v", ErrOutcomeUnknown, err)
}

// failed logs the first failure of an episode and returns err.
func (n *Node) failed(err error) error {
	if n.failing.CompareAndSwap(false, true) {
		n.log.Warn("cluster: publishes are refused until the event log acknowledges again", zap.Error(err))
	}
	return err
}
