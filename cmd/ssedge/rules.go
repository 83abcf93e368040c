package main

import (
	"github.com/ssedge/ssedge/internal/rules"
	"github.com/ssedge/ssedge/poller"
	"github.com/ssedge/ssedge/pubsub"
	"github.com/ssedge/ssedge/pubsub/ingest"
)

// applyRules puts a compiled [[channel]] rule set into force in this
// process's parts; any of them may be nil (a supervisor has no subscriber
// server, a worker no publish socket). It is called at start and on every
// reload.
//
// TODO(issue 14): per-channel rules are parsed and checked, not yet
// applied.
func applyRules(set *rules.Set, hub *pubsub.Hub, srv *poller.Server, in *ingest.Server) error {
	_, _, _, _ = set, hub, srv, in
	return nil
}
