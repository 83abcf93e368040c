// Package poller is ssedge's subscriber server. It speaks HTTP/1.1 to
// browsers and proxies (GET /events streams, GET /poll long-polls, CORS
// preflights; requests parsed by httpmin), knows channels and private
// channels, resumes clients from Last-Event-ID out of the hub's history,
// and enforces the limits (connections, per address, channels, backlogs,
// head timeout) — all on edge-triggered epoll loops, one per core, with no
// goroutine per connection. Events come from a pubsub.Hub: poller reads
// its ring and never publishes.
//
// Where things are:
//
//	config.go          Config, its defaults, Stats
//	errors.go          errors and CloseReason, why a connection closed
//	server_linux.go    Server: New, Start, Close, Stats; listeners to loops
//	listen_linux.go    opening listening sockets: TCP (SO_REUSEPORT), unix
//	inherit_linux.go   Bind and Inherited: sockets a supervisor passes down
//	loop_linux.go      one loop: its epoll, turn, wake-up and per-turn caps
//	accept_linux.go    accept, and the back-off when descriptors run out
//	conn_linux.go      the connection table entry, reads, writes, answers
//	slab_linux.go      the connection table's storage
//	request_linux.go   routing a request, subscribe, channels, client address
//	auth_linux.go      tokens for private channels, expiry
//	rules.go           CheckRules: whether a rule set can be enforced
//	rules_linux.go     per-channel rules: SetRules, private, max-subscribers
//	revoke_linux.go    re-checking streams when the rules change: ssedge.revoked
//	index_linux.go     the loop's channel index: join and leave
//	deliver_linux.go   delivery: ring to writev, backlogs, slow consumers
//	uring_linux.go     a delivery pass's writes as one io_uring batch (send/sendmsg where refused)
//	resume_linux.go    resume: history replay and gap events
//	longpoll_linux.go  long-poll: answers from history, parked polls
//	upstream_linux.go  resume from the durable log (cluster mode) for what memory lost
//	pollupstream_linux.go long-poll from the durable log: parked while it is read
//	limits_linux.go    connection limits (global, derived, per address)
//	timers_linux.go    what runs on time: deadlines, heartbeats, accept retry
//	heartbeat_linux.go the heartbeat wheel: heartbeats without a sweep
//	drain_linux.go     Server.Drain: graceful shutdown, closes spread over a window
//	handoff_linux.go   Server.Pause and Import: a binary upgrade's hand-off of sockets and state
//	deadlines_linux.go the loop's deadline heap
//	loglimit_linux.go  rate-limited log lines for refusals and slow consumers
//	stats_linux.go     the per-loop counters behind Server.Stats and LoopStats
//	server_other.go    the !linux stand-in: New returns ErrNeedsLinux
//
// A Server runs one loop per core (Config.Loops). Each loop is a goroutine
// locked to its OS thread that owns:
//
//   - an epoll instance, registered edge-triggered (EPOLLET) for every
//     socket it holds;
//   - its own SO_REUSEPORT listening socket per listen address, so the
//     kernel spreads new connections over the loops and no accept is shared;
//   - an eventfd that publishers write to wake it (only when it sleeps);
//   - a compact connection table (a slab of conn structs indexed by the
//     epoll token, with a generation number against stale events) and an
//     index from channel name to the loop's subscribers;
//   - a pubsub.Cursor on the event ring.
//
// Nothing in a loop is touched by another goroutine, except the counters in
// loopStats (atomic, read by Server.Stats and LoopStats, which also reads
// the cursor's published ring position: Cursor.Lag) and the stop and
// drainReq flags. Cross-goroutine hand-off happens only through the ring
// and the eventfd (the flags are set, then the eventfd written). There is
// no goroutine per connection.
//
// What the loops share, all in Server, none of it touched per event:
//
//   - conns, the open connections of all loops (atomic): every loop adds
//     one on accept (and refuses with 503 past the limit) and takes one
//     off on close;
//   - perIP, the per-address counts, under ipMu (a mutex): taken when a
//     stream or poll starts and when a counted one ends, only with
//     Config.MaxConnsPerIP set;
//   - limLog, when the next over-limit refusal may be logged (atomic): the
//     loop whose compare-and-swap wins logs, the others only count;
//   - live, the settings in force (an atomic pointer to an immutable
//     Config): Reload swaps it, each loop loads it into loop.cfg once per
//     turn (settings_linux.go);
//   - rules, the per-channel rule set in force (an atomic pointer to an
//     immutable rules.Set) and rulesGen, its generation (atomic): SetRules
//     (any goroutine, at start and on reload) stores the set, bumps the
//     generation and wakes every loop through its eventfd; each loop
//     compares the generation at the top of its turn, takes the set into
//     its own loopRules (no atomic per request) and re-checks its streams;
//   - capped, the per-channel subscriber counts, under capMu (a mutex),
//     like perIP: only channels whose rule sets max-subscribers have an
//     entry, taken when a stream or poll on one starts and when a counted
//     one ends (with the per-address count), never per event;
//   - the rest of the configuration: written by New, read-only while the
//     loops run.
//
// One loop turn: epoll_wait (blocking only when no work is pending and the
// cursor has announced sleep), then accept until EAGAIN (at most acceptBurst
// per listener per turn), read requests (at most readBurst reads per
// connection per turn), flush backlogs on EPOLLOUT, then drain up to
// maxBatch events from the ring and deliver them, then run the timers
// (request-header deadline, the heartbeat wheel's due steps, accept back-off). Work cut short
// by a cap goes on the loop's "again" list and is resumed next turn without
// waiting for a new edge.
//
// Delivery: for each drained batch, the loop links, per subscriber, the
// batch's frames for that subscriber's channels (a per-loop arena, no
// allocation), then writes each touched subscriber with one writev of
// references to the shared frames (at most IOV_MAX iovecs). Where the
// kernel allows io_uring (UseIOURing, on unless SSEDGE_IO_URING=0), the
// pass's writes go to the kernel as SEND/SENDMSG entries of one
// submission, 256 at a time, and each completion is handled as that
// writev's result would be; uring_linux.go keeps that path's invariants
// (all completions reaped before any result is handled or any buffer
// reused, ring memory fixed per loop). Bytes the
// kernel did not take become the connection's backlog: references to the
// same shared frames plus an offset into the first. A backlog is flushed on
// the next EPOLLOUT edge; while it is non-empty new frames are appended to
// it. A backlog larger than Config.MaxBacklogBytes or Config.MaxBacklogFrames
// closes the connection as a slow consumer (counted, logged); the client
// reconnects and resumes with Last-Event-ID. Per-connection memory is thus
// bounded by MaxBacklogFrames references (24 bytes each) — the frames
// themselves are shared with every other subscriber.
//
// Once a subscriber's request is parsed it keeps no read buffer: a request
// that arrives in one read is parsed straight from the loop's scratch
// buffer, and only a request split over several reads borrows a per-
// connection buffer until it is complete (bounded by httpmin.MaxHeaderBytes
// and by Config.HeaderTimeout, after which the connection gets 408 and is
// closed — the slowloris defence).
//
// Descriptors: with Config.MaxConns 0, New derives the connection limit
// from the soft open-files limit, less the descriptors open once the
// listeners are bound, less a reserve of fdSpare (128; a quarter of what
// is left when the limit is small), and Start logs it. Subscribers can
// then never take the descriptors that the publish socket needs to accept
// publishers, and a connection past the limit is still accepted, answered
// 503 and closed rather than left unanswered in the accept queue. If
// descriptors run out all the same (EMFILE, ENFILE, ENOBUFS, ENOMEM on
// accept: an explicit MaxConns above what the limit holds, or another
// user of descriptors), the loop stops accepting on that listener and
// retries after a back-off doubling from 10 ms to 1 s; it keeps serving
// the connections it has. Each burst is counted and logged once when it
// starts and once when accepting resumes.
//
// Resume: a subscriber that sends Last-Event-ID (or ?lastEventId=) is
// caught up from the hub's history before it joins its channels. The
// replay sends, merged in id order across its channels, the retained
// events with ids between the client's id and the loop's ring position
// (Cursor.NextID), in chunks of at most half the backlog bounds, each next
// chunk when the backlog has drained; it chases the position as the loop
// moves on, and joins the live channels only when nothing is left below
// it and the position is past the client's id (a client may come from a
// loop further ahead). Replay sends ids below the join point, live
// delivery the rest: no hole, no duplicate. Channels whose events after
// the client's id may be gone get an ssedge.gap event first. A client's
// id at or past the loop's position is either from the future (above
// every id issued: a future gap on each channel, then live from here) or
// issued elsewhere and not yet here (the replay waits): Hub.Future tells,
// without blocking. In cluster mode it may not be able to tell at once (a
// look at the durable log is under way); the replay is then "checking",
// the loop asks again each turn and sleeps at most futureRecheckMs
// meanwhile, and a parked long-poll asks again at its deadline. The
// replay state exists only while replaying.
//
// Resume from the durable log (cluster mode, Hub.CanFetchUpstream): a
// channel whose events after the client's position fell out of memory
// (its eviction mark is above the position) is not given a gap: the
// replay starts a read of that range from the log (Hub.FetchUpstream, at
// most half the backlog bounds), which runs on the log's goroutine; the
// loop never waits for it, sleeps at most futureRecheckMs while one is
// under way, and takes the result on a later turn. The fetched events
// are merged by id with the channels memory covers: while a channel waits
// for the log, no event above its position goes out on any channel; once
// its range is read it goes back to memory (exact above the mark), then
// live with the others. The only gap is what the log reports lost
// (reason evicted), sent before the events. A failed read closes the
// stream (CloseUnavailable): the client resumes again from its id. A
// long-poll that needs the log is parked on no channel until the read is
// done, then answered up to where the read covered, or 503 if it failed;
// its deadline while it waits is its token's expiry (answered with
// nothing) or upstreamGiveUpMs, whichever comes first. A read not done
// after upstreamGiveUpMs (15 s, three times pubsub/cluster's own bound)
// is given up on: the stream is closed, the poll answered 503. Replays
// and fetching polls are on loop.replaying; runReplays swaps the list out
// while it walks it, so what its steps add (a poll's pipelined requests)
// is kept.
//
// Long-poll: GET /poll answers from history at once, or parks the
// connection on its channels like a subscriber (state stateLongPoll, its
// own small longPoll state, no goroutine) until the delivery pass has
// events for it or its deadline passes, then answers JSON and reads the
// next request. Requests pipelined behind a parked poll (in its read or
// later ones, at most httpmin.MaxHeaderBytes) wait in conn.rbuf and are
// handled after its answer.
//
// Deadlines (request head, lingering close, long-poll) live in one
// min-heap per loop; a popped deadline counts only if the connection still
// has that generation and that deadline. A connection we answer and close
// is half-closed and drained for up to lingerMs first, so the client reads
// the answer instead of a reset — except a refusal at a connection limit
// (503, 429), which reads what the client sent and closes at once, as
// descriptors are then what is short.
//
// Heartbeats: a streaming connection that has not been written for
// Config.Heartbeat gets the shared sse.Heartbeat comment frame, never
// sooner. Each loop keeps a heartbeat wheel (heartbeat_linux.go): its
// connections on 32 lists linked through the connection table (three
// small fields of conn, no allocation), an interval cut in 16 steps; a
// step visits only the list due then, sends to the silent streams and
// files the ones written since by their last write. Writes do not touch
// the wheel. So each connection is visited about once per interval, no
// step scans the table, and a stream is silent for at most 1.0625x the
// interval (one step, rounded up to a millisecond, plus the turn's delay).
// Where the loop has an io_uring, a step's heartbeats go to the kernel as
// one batch of sends (uring_linux.go), their results handled as send's.
// The backlog gauges (Stats.Backlogged, BacklogBytes) are kept as the
// backlogs change (pushOut, consumeOut, releaseOut) and stored once per
// turn.
//
// Listeners: TCP addresses get one SO_REUSEPORT socket per loop;
// "unix:PATH" is one socket every loop watches with EPOLLEXCLUSIVE.
// For several worker processes (ssedge serve --procs), Bind opens them all
// once in the supervisor — workers x loops SO_REUSEPORT sockets per TCP
// address, one shared unix socket — and each worker serves its set as
// Config.Inherited; the supervisor keeps them open, so a dead worker's
// sockets keep queueing connections for its successor. On a binary
// upgrade the supervisor hands them to its successor (Bound.Handoff, then
// BoundFrom there: worker w's sockets stay worker w's, in order) and
// disowns the unix socket files (Bound.Disown).
// ProxyListen listeners require a PROXY protocol header (v1 or v2,
// httpmin.ParseProxy) from a TrustedProxies peer; the client address
// (conn.client, per request) is the socket peer, or what a trusted proxy
// says in the PROXY header, X-Real-IP or X-Forwarded-For. It is what logs
// and the per-address limit use.
//
// Access and limits: channels under Config.Auth's private prefixes need a
// token (401/403 otherwise); a granted stream's token expiry is its
// connection deadline, at which it gets ssedge.expired and is closed.
// A per-channel rule (SetRules) makes a channel private or public whatever
// the prefixes say; a private rule needs Config.Auth. A connection keeps
// the grant of a valid token it sent (conn.grant, one pointer), also for
// public channels, so that when the rules change each loop can re-check
// its streams: one on a channel that is now private and that its grant
// does not allow gets ssedge.revoked (naming the channel and why) and is
// closed (CloseRevoked) once that is flushed; the others are untouched.
// MaxConns (or the derived limit) is checked on accept (503),
// MaxConnsPerIP and a rule's max-subscribers when a stream or poll starts
// (429, the channel named), all on the shared counts above. Every refusal is counted by CloseReason and logged at most
// once a second.
//
// Drain (Server.Drain, before Close): the caller stops the publishers
// first. Drain stores the hub's last id and the window in Server
// (drainTarget, drainWindowMs: atomics written before the flags), sets
// each loop's drainReq and writes its eventfd; the loop then runs
// drainStep at the end of every turn, on its own state (loop.drain).
// First, once: accept what is queued on its listeners, then close them
// (a shared unix socket is only unwatched; Drain closes it after every
// loop has reported on Server.drainLn), and answer the parked long-polls.
// Every request handled from then on gets 503 with Retry-After
// (CloseDrain). Then it delivers the ring up to the target id (or gives
// up waiting at the end of the window), lists its streams, and closes
// the k-th of n at start + window*k/n: a final retry frame (the stream's
// own small frame, ms uniform in [0, window/4]) through the backlog, then
// the lingering close. Once all are closed and the loop has no
// connection left (or one second after the window), it closes what is
// left (CloseDrain) and reports on Server.drained. Drain returns when
// every loop has reported or its context ends; Close does the rest.
//
// Hand-off (Server.Pause, then Commit or Abort; Server.Import in the new
// process), for a binary upgrade (ssedge serve, SIGUSR2): the caller
// stops the publishers first. Pause stores the attempt (Server.hand: the
// target id and the channels) before it sets each loop's handReq and
// writes its eventfd; each loop runs handoffStep on its own goroutine at
// the end of every turn (loop.hand): it answers its parked long-polls at
// once (keep-alive: the client polls again), delivers the ring up to the
// target, waits up to handoffCatchMs for replays, polls reading from the
// cluster's log (one still reading then gets 503 with Retry-After and
// ends with this process) and closing answers,
// then takes its listeners off its epoll and sends the descriptors and
// state of its listeners and every movable connection (HandoffConn:
// channels, grant, token expiry, unsent bytes as one copy, silence for
// the heartbeat, a half-read request) to Pause, and blocks until the
// verdict. The connections stay registered on the loop's epoll while it
// blocks (removing them one by one was most of a hand-off's cost).
// Commit: the loop closes its descriptors with close(2) only (the sockets
// live on in the new process) and stops, and Server.Close closes the
// epoll, which drops the registrations (they belong to the open file,
// which lives on, not to the descriptor: until then the old epoll only
// collects events nobody reads); Abort: the loop registers its listeners
// again, finds its connections' events of meanwhile waiting on its epoll
// (edge-triggered, none lost) and also writes and reads each connection
// again. Import runs before Start, on the caller's goroutine (no loop
// runs yet), and puts each connection in the loop of the same number
// with its state and its unsent bytes at the head of its backlog;
// EPOLL_CTL_ADD reports what is ready at once, and a connection with
// bytes to write, a request in its buffer or an answer going out is also
// on the loop's again list (no new edge would come for what is already
// buffered). All loops stop at the same id,
// and the new process's ring starts after it: no event twice, none lost.
// A loop clears handReq when its part ends, and sets it again if
// Server.hand already names a later attempt (a Pause right after an
// Abort), so that request is not lost. Import checks each connection
// (loop, kind, descriptor) and refuses one it cannot place. A unix
// listener's lock file (sockfile) travels with it (HandoffListener.Lock,
// a duplicate Handoff closes on Commit or Abort; on Commit the loop's
// server closes its own copy and leaves the file); the new server holds
// it (Inherited.Lock) and removes the file when it stops — only if it
// started: one that never started (a new process that gave up before
// the old one let go) leaves the file to the old server.
//
// poller needs Linux; on other systems New returns ErrNeedsLinux.
package poller
