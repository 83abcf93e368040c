package main

import (
	"github.com/ssedge/ssedge/internal/fdpass"
	"github.com/ssedge/ssedge/pubsub"
)

// msgHistory carries a piece of the history snapshot (old → new), after
// the state document's pieces.
const msgHistory = 'S'

// sendHistory sends the hub's history up to last. Until package pubsub
// has history snapshots, nothing: the new process starts with an empty
// history, and a resume from before the upgrade gets a restart gap.
func sendHistory(conn *fdpass.Conn, hub *pubsub.Hub, last uint64) (events int, err error) {
	return 0, nil
}

// historyHub is the new process's hub: seeded at last, so ids continue
// from the next.
func historyHub(o *serveOptions, raw []byte, last uint64) (*pubsub.Hub, error) {
	return pubsub.NewHub(o.hubConfig(last)), nil
}
