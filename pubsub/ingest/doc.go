// Package ingest serves the publish socket: the unix socket on which local
// applications publish events to a pubsub.Hub and get back each event's
// id. It meets the event core only through Hub.Publish (and
// Hub.MaxEventBytes for its limits), or, in cluster mode, through the
// narrow Publisher interface (publisher.go) that package pubsub/cluster
// implements; the core knows nothing of it.
//
// Protocols (docs/protocol.md is the reference). The first bytes of a
// connection choose its protocol for good: "PUB " or "PING" select the line
// protocol, anything else is HTTP/1.1 (POST /publish?channel=NAME[&event=
// NAME], parsed by httpmin). Both are pipelined: replies come in command
// order. A refusal whose framing is intact (the byte
// count or Content-Length is known and the payload is read and dropped, up
// to 64 MiB) keeps the connection; one whose framing is lost, or that the
// client cannot follow with more (Expect: 100-continue, Connection: close),
// closes it after the reply. A command is published only once all of it,
// line end included, has arrived: a publisher cut off mid-command gets no
// id, so nothing goes out that it would retry.
//
// Replies and back-pressure. Each connection has two goroutines: the
// serving goroutine reads, parses and publishes, and queues the replies;
// its writer goroutine writes them. So a publisher may pipeline a whole
// batch before it reads a single reply: the server keeps reading and
// publishing while up to MaxQueuedReplies (8 MiB, about 350,000 line
// replies or 85,000 HTTP ones) wait in the connection's queue, as Redis's
// output buffers and NATS's max_pending do. Past that bound it stops
// reading (the publisher's writes block) until the publisher takes
// replies. A publisher that neither takes a reply nor sends a byte for
// ReadTimeout is closed, with a warning ("publisher stopped taking its
// replies and sending") that counts the events it published whose replies
// were not sent; no reply is dropped otherwise.
//
// In cluster mode (Config.Publisher an AsyncPublisher, publisher.go) a
// line-protocol PUB is sent to the log as soon as it is read, and its reply
// queued when the log answers: the serving goroutine waits for the
// outcomes in order before it queues any other reply, before a read that
// may block, and when maxInflight (1,024) are waiting; so the replies stay
// in command order and a pipelining publisher gets the log's throughput.
//
// Half-close. A publisher may shut down its write side after its last
// command (printf ... | socat, nc -N, many client libraries): that is the
// end of its input, not of the conversation. Every command already received
// is answered and the replies flushed before the server closes.
//
// Why not netpoll. The brief puts this listener on cloudwego/netpoll, and
// it ran there until the half-close requirement. netpoll v0.7.2 treats a
// read EOF or EPOLLRDHUP as a close: its poller reads what is left and
// then, on the next event with nothing more to read, closes the connection
// (connection_reactor.go onHup), failing pending and later writes with
// ErrConnClosed; no option keeps the write side open, so a half-closing
// publisher lost the replies not yet written. It also writes its own
// plain-text "NETPOLL: ..." lines (accept errors among them) to stderr,
// past the JSON log. Publishers are few (a site's back ends on one host), so
// this package serves each on its own two goroutines (a reader and a
// writer) with a plain net.UnixConn: the same protocols and limits, half-
// close handled by the standard library, and every log line through the
// server's zap logger. The subscriber side, where connection counts are
// large, is package poller's own epoll loops and is not affected.
//
// Limits: a command line of at most 1024 bytes; an HTTP head of at most
// httpmin.MaxHeaderBytes; event data of at most Hub.MaxEventBytes;
// Config.ReadTimeout (30 s) for the rest of a started message and for a
// publisher to take its replies or send more (an idle publisher between
// messages waits as long as it likes); MaxQueuedReplies of replies;
// Config.MaxConns (DefaultMaxConns, 64) open connections. A connection
// past MaxConns is accepted only to be refused: its first bytes (up to 4,
// within half a second) say its protocol, and it gets "-ERR too many
// publisher connections ..." or 503 with Retry-After, or nothing if it
// said nothing, then a close. At most two are answered at a time (each
// holds its descriptor meanwhile); others are closed at once, so a flood
// costs at most FixedDescriptors (listener, lock file, two refusals)
// beyond MaxConns. A caller that must keep descriptors for something else
// (ssedge serve keeps them for the subscriber side's 503 answers) sizes
// MaxConns with that.
// Each connection holds one read buffer of MaxHeaderBytes+1 bytes, its
// reply queue, and its payload buffer; after a burst, a reply or payload
// buffer over 64 KiB goes back to the heap, so an idle publisher keeps
// only small ones.
//
// Refusal logging. Every refusal is counted (Server.Refused) and logged as
// "publish refused" with its reason at warn level, at most once a second;
// the line counts those held back since the last one. Accept failures (a
// shortage of descriptors or memory: EMFILE, ENFILE, ENOBUFS, ENOMEM) back
// off (5 ms doubling to 1 s, the pending publisher waits in the backlog)
// and are logged the same way, rate-limited.
//
// Binary upgrade (ssedge serve, SIGUSR2): Files hands the socket and its
// lock to a new process, which takes them with Adopt and starts accepting
// only with Serve (once the old process has let go; until then the old
// one accepts). The old one then calls Disown (Close leaves the file and
// the lock to the new one) and StopAccepting.
//
// Who owns what:
//
//   - The accept goroutine owns the listener until Close closes it.
//   - Each connection's serving goroutine (Server.serve) owns that
//     connection's read buffer, parse state and reply batch; nobody else
//     reads or writes them. Its writer goroutine (conn.writeReplies)
//     owns the batch it is writing. They meet in the reply queue, guarded
//     by the queue's mu: the serving goroutine appends (waiting there
//     while the queue is full), the writer takes, and a failed write is
//     recorded there and interrupts the reads. The serving goroutine
//     closes the connection after its writer has ended.
//   - Server.mu guards the set of open connections and the closing flag:
//     taken by the accept goroutine to add, by a connection's goroutine to
//     remove itself, and by Close. Each connection's own mu orders its read
//     deadline between its serving goroutine and an interrupt (Close's, or
//     its writer's after a failed write; the writer takes it inside the
//     queue's mu, and nothing takes them the other way round). No lock is
//     held while reading, writing or publishing.
//   - Published and Refused are atomics, read by anyone; so are the
//     counters behind PublishStats (requests by protocol and outcome, the
//     latency of Hub.Publish), counted once per answered request. The
//     count of refusals in progress (Server.refusing) is an atomic taken by
//     the accept goroutine and given back by each refusal's goroutine.
//   - Peer credentials (SO_PEERCRED) are checked once per connection, when
//     it is accepted, against Config.AllowUIDs and AllowGIDs. Per-channel
//     publish rights (SetPublishRights, an atomic pointer a reload swaps)
//     are checked on every publish, with the credentials read once, on the
//     first publish that needs them; a refusal (403, -ERR) names the
//     channel, uid and gid and keeps the connection, as the framing holds.
//   - Close stops accepting, interrupts every connection's reads (a command
//     being served finishes and is answered; an idle one, or one waiting for
//     the rest of a message, ends at once; queued replies are still
//     written), waits for the goroutines up to its context, then closes
//     what is left and removes the socket file if it is still the one
//     Listen created (internal/sockfile). It returns by its context's
//     deadline: a goroutine whose command waits in Hub.Publish for ring
//     room is left behind, its connection closed, and ends once Publish
//     returns (at the latest when the hub closes).
package ingest
