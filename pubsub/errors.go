package pubsub

import "errors"

var (
	// ErrClosed is returned by Publish after the hub has been closed.
	ErrClosed = errors.New("pubsub: hub closed")
	// ErrEventTooLarge is returned when an event's data exceeds the hub's limit.
	ErrEventTooLarge = errors.New("pubsub: event data too large")
	// ErrNoChannel is returned when a publish names no channel.
	ErrNoChannel = errors.New("pubsub: no channel given")
	// ErrUnavailable is wrapped by a publish that the event log could not
	// take now (package pubsub/cluster: the broker is away, or its
	// acknowledgement did not come): the publisher may retry.
	ErrUnavailable = errors.New("pubsub: event log unavailable")
)

// ErrGivenIDs is returned by Publish on a hub whose ids come from a log
// (Config.GivenIDs): it would number an event the log never saw.
var ErrGivenIDs = errors.New("pubsub: this hub's ids come from a log; publish to the log")

// ErrRelayOrder is returned when a relayed event does not carry the id its
// ring position gives: the relay stream skipped or repeated an event.
var ErrRelayOrder = errors.New("pubsub: relayed event out of order")

// ErrRelayProtocol is returned for a relay stream that is not one.
var ErrRelayProtocol = errors.New("pubsub: bad relay stream")
