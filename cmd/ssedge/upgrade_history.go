package main

import (
	"bytes"
	"fmt"

	"github.com/ssedge/ssedge/internal/fdpass"
	"github.com/ssedge/ssedge/pubsub"
)

// msgHistory carries a piece of the history snapshot (old → new), after
// the state document's pieces.
const msgHistory = 'S'

// sendHistory sends the hub's history up to last (every retained event,
// every channel's marks: pubsub.Snapshot) in pieces.
func sendHistory(conn *fdpass.Conn, hub *pubsub.Hub, last uint64) (events int, err error) {
	snap, err := hub.SnapshotAt(last)
	if err != nil {
		return 0, err
	}
	var buf bytes.Buffer
	if _, err := snap.WriteTo(&buf); err != nil {
		return 0, err
	}
	b := buf.Bytes()
	for len(b) > 0 {
		n := min(len(b), fdpass.MaxPayload)
		if err := conn.Send(msgHistory, b[:n], nil); err != nil {
			return 0, err
		}
		b = b[n:]
	}
	return snap.Events(), nil
}

// historyHub is the new process's hub: seeded at the snapshot's id (ids
// continue from the next), its history loaded before anything
// subscribes, so a resume answers as it did in the old process.
// setup runs on the hub before the history loads (a supervisor's rules'
// history limits, so a channel a rule gives more keeps all of it).
func historyHub(o *serveOptions, raw []byte, last uint64, setup ...func(*pubsub.Hub)) (*pubsub.Hub, error) {
	cfg := o.hubConfig(last)
	snap, err := pubsub.ReadSnapshot(bytes.NewReader(raw), cfg.History.SnapshotLimit())
	if err != nil {
		return nil, err
	}
	if snap.LastID() != last {
		return nil, fmt.Errorf("upgrade: history snapshot at id %d, the state says %d", snap.LastID(), last)
	}
	hub := pubsub.NewHub(cfg)
	for _, f := range setup {
		f(hub)
	}
	if err := hub.LoadSnapshot(snap); err != nil {
		hub.Close()
		return nil, err
	}
	return hub, nil
}
