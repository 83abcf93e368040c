package cluster

import (
	"errors"
	"fmt"

	"github.com/ssedge/ssedge/pubsub"
)

var (
	// ErrUnavailable is a publish refused because JetStream cannot take it
	// now (not connected, or it answered with an error): nothing was
	// stored, and a retry is safe.
	ErrUnavailable = fmt.Errorf("%w: cluster: nothing was published", pubsub.ErrUnavailable)
	// ErrOutcomeUnknown is a publish whose acknowledgement did not come in
	// time: the event may or may not be in the log. Retrying with the same
	// idempotency key cannot create a duplicate (within the stream's
	// duplicate window).
	ErrOutcomeUnknown = fmt.Errorf("%w: cluster: no acknowledgement in time, the event may or may not be published; retry with the same Idempotency-Key", pubsub.ErrUnavailable)
	// ErrForeignMessage is a log entry ssedge did not write (a subject or
	// headers it cannot read); it is skipped.
	ErrForeignMessage = errors.New("cluster: not an ssedge event")
	// ErrSequenceJump is a stream whose sequence jumped far past what this
	// node has read (deleted and created again): the node stops following
	// it and reports not ready until restarted.
	ErrSequenceJump = errors.New("cluster: stream sequence jumped")
	// ErrConfig is a bad cluster setting.
	ErrConfig = errors.New("cluster: bad setting")
)
