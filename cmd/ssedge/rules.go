package main

import (
	"slices"
	"time"

	"github.com/ssedge/ssedge/internal/rules"
	"github.com/ssedge/ssedge/poller"
	"github.com/ssedge/ssedge/pubsub"
	"github.com/ssedge/ssedge/pubsub/ingest"
)

// applyRules puts a compiled [[channel]] rule set into force in this
// process's parts; any of them may be nil (a supervisor has no subscriber
// server, a worker no publish socket). It is called at start and on every
// reload; set is never changed afterwards, so the parts share it.
//
//   - history-per-channel, history-age: the hub's per-channel history
//     bounds, in a process that serves subscribers (a worker's hub keeps
//     the history its loops resume from; a supervisor's keeps none); a
//     reload passes a nil hub and sets them with the server-wide bounds
//     in one step (Hub.SetHistoryBounds);
//   - private, max-subscribers: the subscriber server, which re-checks its
//     open streams (ssedge.revoked);
//   - publish-allow-uid, publish-allow-gid: the publish socket.
//
// The subscriber server refuses a set it cannot enforce (a private rule
// without a token key) before anything changes, so a refused reload leaves
// the old rules in force everywhere.
func applyRules(set *rules.Set, hub *pubsub.Hub, srv *poller.Server, in *ingest.Server) error {
	if srv != nil {
		if err := srv.SetRules(set); err != nil {
			return err
		}
	}
	if hub != nil && srv != nil { // a --procs supervisor sets its hub's bounds itself (procs_linux.go)
		hub.SetHistoryLimits(historyLimits(set))
	}
	if in != nil {
		in.SetPublishRights(publishRights(set))
	}
	return nil
}

// historyLimits is the rules' history bounds for the hub, nil when no rule
// sets one (the hub then skips the lookup entirely).
func historyLimits(set *rules.Set) pubsub.HistoryLimits {
	if !slices.ContainsFunc(set.Rules(), func(r rules.Rule) bool { return r.HistoryPerChannel != nil || r.HistoryAge != nil }) {
		return nil
	}
	return func(channel []byte) (int, time.Duration, bool) {
		r := set.Lookup(channel)
		if r == nil || (r.HistoryPerChannel == nil && r.HistoryAge == nil) {
			return 0, 0, false
		}
		per := 0 // the server-wide count
		if p := r.HistoryPerChannel; p != nil {
			per = *p
			if per == 0 {
				per = -1 // keep none
			}
		}
		var age time.Duration // 0: the server-wide age
		if r.HistoryAge != nil {
			age = time.Duration(*r.HistoryAge)
		}
		return per, age, true
	}
}

// publishRights is the rules' publish rights for the publish socket, nil
// when no rule sets any.
func publishRights(set *rules.Set) ingest.PublishRights {
	if !slices.ContainsFunc(set.Rules(), func(r rules.Rule) bool { return len(r.PublishAllowUID) > 0 || len(r.PublishAllowGID) > 0 }) {
		return nil
	}
	return func(channel []byte, uid, gid uint32) bool {
		r := set.Lookup(channel)
		if r == nil || (len(r.PublishAllowUID) == 0 && len(r.PublishAllowGID) == 0) {
			return true
		}
		return slices.Contains(r.PublishAllowUID, uid) || slices.Contains(r.PublishAllowGID, gid)
	}
}
