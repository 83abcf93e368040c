// Package cluster joins ssedge nodes into one event log on NATS JetStream
// (ssedge serve --cluster; docs/cluster.md): one id space, resume on any
// node, history that survives restarts. It meets the event core through
// the hub's narrow API (Config.GivenIDs, Restore, PublishAt, Upstream)
// and the publish socket through ingest.Publisher.
//
// What it owns:
//
//   - The stream (Config.Stream, default SSEDGE): created if missing with
//     file storage, Config.Replicas, discard-old limits taken from the
//     history flags (max messages per subject = --history-per-channel,
//     max age = --history-age, max bytes = --history-memory) and a
//     2-minute duplicate window (at most the max age, as JetStream
//     requires); an existing stream keeps its own limits and replicas (a
//     node whose flags differ warns). Its only subject filter is "ssedge.<stream>.*". A new stream
//     starts at the clock in microseconds (first_seq), where local mode's
//     ids are, so ids keep increasing for clients of a site that moves.
//   - The subject mapping (subject.go): a channel is one subject token,
//     with "~" written "~~" and "." written "~d"; lossless and
//     collision-free, and "*" in the filter matches exactly one token, so
//     channel "a.b" never receives "a" or "a.b.c". Each message carries
//     the event's data as is, the channel in header Ssedge-Channel and the
//     event name (if any) in Ssedge-Event, so `nats` tooling can read and
//     audit the log.
//   - Publishing (Node.Publish): validated as Hub.Publish validates, then
//     a JetStream publish whose acknowledgement gives the id: the stream
//     sequence, returned only once the event is durable. Refusals wrap
//     pubsub.ErrUnavailable (the publish socket answers 503 / -ERR with the
//     reason): ErrUnavailable when nothing was stored (not connected —
//     nats.go's reconnect buffer is off, so a refused publish can never go
//     out later — no responders, a JetStream error) and ErrOutcomeUnknown
//     when the acknowledgement did not come within Config.PublishTimeout
//     (3 s). An idempotency key becomes the Nats-Msg-Id header: within the
//     duplicate window a retry returns the first publish's id.
//   - Restoring (restore.go, in Open, before any listener opens): the hub
//     is created with the stream's last sequence as its seed and given ids,
//     and every retained message is loaded into its history, with the gap
//     marks: the floor is the stream's first sequence less one, and a
//     channel holding as many messages as the per-subject limit may have
//     lost older ones (its mark is its first retained sequence less one).
//     So once a node serves, a resume on it is exact, from memory or
//     (what memory does not hold) from the stream.
//   - Following (Node.Run): one consumer of the node's own (ephemeral, in
//     memory, AckNone, created with a 2 s bound per try) over the whole
//     stream from the hub's newest id on (heartbeats every second, so a
//     consumer lost with its NATS server is re-created within about 2 s)
//     feeds
//     Hub.PublishAt, the stream sequence as the id. Sequences have holes (a subject's old messages evicted before
//     this node read them, foreign messages skipped): the hub pads them
//     with fillers (channel-less events no loop delivers and history
//     ignores), so ring position p keeps id seed+p+1 and the loops, frames
//     and ring work unchanged. Run re-creates the consumer after a lost
//     connection, a skipped consumer sequence, a missed heartbeat or a
//     stall, from the hub's newest id: nothing
//     acknowledged is lost, and what other nodes published meanwhile
//     arrives in order. A hole wider than 2^24 ids (a stream deleted and
//     created again far ahead) is not padded: the node stops following
//     (ErrSequenceJump) and Ready reports it until the node is restarted.
//   - The newest sequence known to exist (Node.upstream, the hub's
//     Config.Upstream): from acknowledgements, from each consumed
//     message's sequence plus its pending count, and, when a client brings
//     an id above what this node has read, from the stream's info, asked
//     after the question (callers that queue share one request; 250 ms at
//     most). A node behind a client's id therefore waits for it; an id
//     above the stream's last sequence gets "future" as soon as a look at
//     the stream that began after the client asked has ended. When the
//     stream cannot be asked (disconnected, no answer) no look ends: the
//     client waits rather than get a false gap. The look runs on its own
//     goroutine, at most one at a time (Config.UpstreamCheck); the loop
//     that serves the resume never waits for NATS, it asks again on its
//     next turns.
//   - Resumes from the stream (fetch.go, the hub's Config.UpstreamFetch):
//     a loop whose memory lacks a resume's events (the node's history
//     bounds are smaller than the stream's, or it restored only part)
//     asks for channels' id ranges; a goroutine (at most maxFetches at
//     once, each bounded by fetchTimeout) reads them with one ephemeral
//     consumer filtered on their subjects (no acks, deleted after the
//     read), formats each frame once with the sequence as the id, and
//     works out what the
//     stream itself lost of each range (a subject's retained messages are
//     its newest: nothing is lost if one at or before the range's start
//     is held; otherwise the floor or the per-subject limit may have taken
//     some). The loop picks the result up on a later turn.
//
// Broker down: publishes are refused at once (not connected) or within
// PublishTimeout; open streams stay open (the loops know nothing of NATS);
// the connection's loss and return are each logged once, and the first
// failed and first successful publish of an episode; Node.Ready (the admin
// endpoint's /readyz) reports the connection.
//
// Goroutines and locks: nats.go's own (connection, ordered consumer
// delivery: Run's message handler is the only caller of PublishAt, so the
// hub gets events in order from one goroutine); at most one goroutine
// looks up the stream's last sequence for resumes at a time (refreshing);
// resume reads run on goroutines of their own, handing their result over
// through pubsub.UpstreamFetch (fields written before Finish, read after
// Done); everything else shared is atomic. Publish is safe for
// concurrent use.
//
// Embedded (embedded.go): nats-server in this process, listening on no
// port; with Routes, the boxes' embedded servers form one NATS cluster
// ("ssedge"), routes guarded by a shared secret, and each server also
// listens on a loopback client port (nats-server starts routes only after
// a client listener) that a random token guards, which only this process
// knows (Embedded.Token).
//
// Not here (docs/cluster.md says what to do instead): per-channel
// [[channel]] history rules bound memory only, not the stream.
//
// --procs: the supervisor's Node (Config.NoHistory) publishes and follows;
// each worker's hub comes from OpenFollower: restored from the stream up to
// its relay seed, then fed by the relay (pubsub.Hub.Follow), with the
// stream's known sequence in its Upstream. Run is not called there.
package cluster
