// Command nethttp is the goroutine-per-connection net/http SSE server that
// ssedge is measured against: the server a competent Go developer would
// write with the standard library, speaking exactly ssedge's interface so
// one load generator (cmd/ssedge-load) drives both.
//
//	go run ./bench/nethttp --listen 127.0.0.1:8080 --publish-socket /tmp/nethttp.sock
//
// Subscribers: GET /events?channel=A&channel=B on --listen answers 200
// text/event-stream and then streams frames. Publishers: POST
// /publish?channel=NAME[&event=TYPE] on the unix socket --publish-socket,
// body = data, answers 200 text/plain "ID\n".
//
// What makes it a fair peer, not a straw man:
//
//   - A frame is formatted once per event; every subscriber is handed the
//     same read-only []byte.
//   - Each subscriber owns a buffered channel of frames (--queue, default
//     64). Its goroutine writes everything queued, then flushes once, so a
//     burst costs one write syscall, not one per event.
//   - A subscriber whose channel is full is a slow consumer: it is dropped
//     (its connection closed) instead of blocking the publisher or growing
//     memory. Writes carry a deadline (--write-timeout) so a stuck peer
//     cannot pin a goroutine forever.
//   - Heartbeats (":\n\n", --heartbeat) are one shared frame broadcast by a
//     single goroutine through the same channels, not a timer per
//     connection.
//
// Invariants: ids come from one atomic counter seeded with
// time.Now().UnixMicro(), so they are strictly increasing and survive a
// restart. Publishes are serialized by publishMu from id assignment to the
// end of fan-out, so every subscriber sees ids in increasing order.
// The registry (channel -> set of subscribers) is guarded by hub.mu, a
// RWMutex: publish takes it for reading, subscribe/unsubscribe for writing.
package main
