// Package pubsub is the in-memory event core: it numbers events, carries
// them from publishers to the subscriber loops, and keeps each channel's
// recent events for resuming clients. It knows nothing of sockets or
// protocols (the publish socket is package pubsub/ingest; the subscriber
// server is package poller) and imports nothing of ours but sse.
//
// It owns these things:
//
//   - Ids, the one id counter of the server. Ids are decimal integers,
//     strictly increasing, below 2^53 (MaxID, so JavaScript compares them
//     exactly) and never reused across a restart. The counter is seeded from
//     the wall clock in microseconds when the process starts, and each event
//     takes the next integer: id = seed + n for the n-th event (n from 1). A
//     restarted process therefore starts above every id the previous one
//     issued as long as that process published, on average over its
//     lifetime, fewer than one event per microsecond (a million events per
//     second) — far beyond what one publish socket carries. If the clock
//     steps backwards across a restart by more than the previous process's
//     lead, ids could repeat: run NTP in slew mode. 2^53 µs after the epoch
//     is the year 2255.
//
//   - The ring, a bounded multi-producer, multi-consumer broadcast ring
//     (unexported; Hub.Subscribe hands out its Cursors). A publisher claims
//     the next position (which fixes the event's id, so ring order is id
//     order), fills the slot and commits it with an atomic store. Every
//     subscriber loop holds a Cursor and reads every committed slot in
//     order, lock-free. A slot is reused only when every cursor has moved
//     past it: a publisher that finds the ring full waits (back-pressure),
//     it never overwrites an event a loop has not seen, so nothing is
//     silently dropped.
//
//   - Hub, the publish entry point: it validates a publish, formats the SSE
//     frame once (sse.AppendEvent) and puts the immutable Event on the ring
//     and in its channel's history. Hub.Publish is safe for concurrent use
//     by any number of goroutines.
//
//   - History, the retained events of each channel for resuming clients,
//     bounded by a count per channel, an age, and one byte budget for all
//     channels (frame plus about 90 bytes of index per event); the oldest
//     events go first. It holds the same *Event values the ring carries: no
//     second copy. Loops read it lock-free (Hub.HistoryAfter): a slot read
//     is validated against the event's channel sequence, and an eviction
//     that races a read shows up as a nil or mismatched slot and restarts
//     the search. A channel whose events are all evicted is forgotten; its
//     newest evicted id raises a floor that makes later resumes on
//     forgotten channels report a gap. The floor starts at the id seed, so
//     a resume from before a restart always reports one. Per-channel bounds
//     (Hub.SetHistoryLimits, the configuration's [[channel]] rules) replace
//     the count and age for the channels they name: the function is asked
//     when a channel's history is created and when it is replaced (never
//     per event), and the answer is kept in the channel, under the history
//     lock. A channel whose bound is "none" is not tracked and its resumes
//     report a gap; channels with a shorter age than the server-wide one
//     are trimmed one by one (on publish and by the janitor), while the
//     global order applies each entry's own channel's age at its head.
//
//   - Relay, for several worker processes behind one publish socket
//     (ssedge serve --procs): the supervisor's hub numbers events and the
//     relay streams them, in id order and with their ids, to each worker's
//     hub (Hub.Follow), whose ring positions then carry the same ids; each
//     worker has its own queue and writer goroutine, so a stuck worker
//     delays no other until its queue is full. The supervisor shares its
//     latest id (Config.Upstream), so a worker that is behind waits for an
//     id a client already has instead of calling it future. Hub.Future is
//     how loops ask, and it never blocks: with a durable log
//     (Config.UpstreamCheck, cluster mode) it may answer "not known yet",
//     and the loop asks again.
//
//   - Given ids, for a hub fed by a durable log that numbers events itself
//     (package pubsub/cluster: NATS JetStream, whose stream sequence is the
//     id on every node). Such a hub has Config.GivenIDs and the log's last
//     sequence as its Seed; before anything subscribes, Restore loads what
//     the log retains into the history (ids at or below the seed; no ring),
//     with RestoreFloor (ids below the log's first sequence may be gone)
//     and RestoreMarks (a channel's own eviction mark), after which Seed()
//     is 0: a gap is then never put down to a restart. PublishAt then puts
//     each event on the ring with its given id, in order, from one
//     goroutine. Ring position p still carries id Seed+p+1: a hole in the
//     log's numbering is padded with fillers, events with no channel and no
//     frame that no loop delivers (no subscriber has the channel ""),
//     history ignores and the relay carries, so --procs workers keep the
//     same ids.
//
//   - Snapshots (snapshot.go), the history handed to another hub: a
//     restarted --procs worker (the relay's hello carries one, taken at
//     the relay's ring position, so the worker's history runs on from
//     the supervisor's with no hole and no duplicate at the seam) or a new
//     binary taking over. Hub.SnapshotAt(id) takes every retained event up
//     to id, in id order, and what makes resumes answer alike: the floor,
//     each tracked channel's eviction mark, the forgotten channels' marks
//     (oldest first) and Seed, the restart boundary. ReadSnapshot checks
//     everything it reads (versioned magic, ids in order and at or below
//     the snapshot's, valid names, each frame's id line, a CRC-32C) within
//     a byte limit, so a corrupt or hostile stream is an error, never a
//     panic or an allocation larger than what was read. Hub.LoadSnapshot
//     fills a fresh hub seeded at the snapshot's id, before anything
//     subscribes, through the path Restore takes; afterwards Seed returns
//     the sender's. The receiver retains under its own bounds; its memory
//     accounting can be a little lower than the sender's (stale order
//     entries are not carried), so it never evicts more.
//
// Locks, who takes them, and what waits on what:
//
//   - The history lock (history.mu) is the publishers' lock. Every publish
//     (Hub.Publish, Hub.PublishAt once per event or filler, Hub.Restore,
//     and Hub.Follow in a worker) takes it once, to claim a
//     ring position and append to its channel's history in one step: that
//     is what keeps each channel's history in id order. The janitor (once a
//     second, for the age bound) and Hub.HistoryStats (a few loads, kept
//     as running counts so a metrics scrape never walks the channels)
//     take it too. Loops never take it. Hub.SetHistoryLimits and
//     Hub.SetHistoryBounds (a reload) take it once, for one walk over the
//     retained channels; the limits function runs under it and must not
//     block. Hub.SnapshotAt takes it to copy the event pointers and marks
//     (no frame is copied, nothing is written under it): about 1.4 ms for
//     100,000 retained events and 36 ms for 1,000,000 on the 2-core test
//     box (BenchmarkSnapshotLockHeld), during which publishers wait; the
//     encoding is written after, outside it. Hub.LoadSnapshot holds it for
//     the whole load, but on a hub nobody publishes to yet. It is never held while waiting: a publisher that finds the
//     ring full releases it, waits for room, and takes it again to claim;
//     so other publishers and the janitor never queue behind a publisher
//     that waits for the loops.
//   - The ring's wait lock (ring.waitMu) queues publishers that wait for
//     room: the one holding it polls (spinning briefly, then sleeping 50 µs
//     between checks), the others sleep on it, so many waiting publishers
//     cost the CPU of one. Nothing else takes it, and no other lock is held
//     by a publisher that takes it. Which waiting publisher gets the freed
//     room first is not defined (sync.Mutex is fair after a millisecond's
//     wait, so none starves).
//   - The ring's cursor lock (ring.mu) guards cursor registration
//     (Hub.Subscribe, Hub.Unsubscribe) and the recomputation of the ring's
//     free-space gate, which only a full ring needs. A publisher may take it
//     while holding the history lock; nothing takes them in the other order.
//   - The relay's locks (Relay.mu for attaching workers, one per worker
//     queue) are taken by the relay's Run goroutine, Attach, Relay.Queue
//     (metrics) and the worker's writer goroutine; never by publishers or
//     loops. Relay.Queue takes Relay.mu, releases it, then one queue's. Run, a ring
//     reader like a loop, waits while a worker's queue is full; that worker
//     is then dropped once it stalls, so the wait is bounded.
//   - Loops wait on nothing in this package: a Cursor reads committed
//     slots and stops at the first uncommitted one, whose publisher commits
//     it right after leaving the history lock, without waiting.
//   - Publishers wait only for ring room, that is, for the slowest loop.
//   - Cursor.Lag and Hub.RingStats read the ring's atomics from any
//     goroutine (metrics) and take no lock.
//
// Invariants:
//
//   - An Event and its Frame are immutable once on the ring; loops share
//     the Frame read-only across all their subscribers (zero copies).
//   - Publishers and loops meet only through the ring's atomics and each
//     loop's wake-up function (an eventfd write in the poller), which is
//     called only when that loop has announced it is about to sleep.
//   - A cursor's owner goroutine is the only one that calls its Next and
//     Commit methods.
package pubsub
