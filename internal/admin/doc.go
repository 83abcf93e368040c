// Package admin serves ssedge's admin endpoint: Prometheus metrics,
// health, readiness and a JSON view of the counters, on an address of its
// own (--admin-listen), never on a subscriber listener.
//
//	GET /metrics  Prometheus text exposition, every name prefixed ssedge_
//	GET /healthz  200 while the process serves
//	GET /readyz   200 when every readiness check passes, else 503 and the reasons
//	GET /stats    JSON: the counters per loop and in total
//
// Other paths get 404; other methods on these paths 405 with Allow.
//
// It is served with net/http: admin traffic is a scrape every few
// seconds, not worth the poller's machinery, and keeping it apart means a
// flood of subscribers cannot starve the operator's view (nor the other
// way round).
//
// Invariants:
//
//   - Nothing here is on the delivery path. Every value is read at scrape
//     time from counters the core already keeps (poller.Server.Stats and
//     LoopStats, ingest.Server.PublishStats, pubsub.Hub.HistoryStats and
//     RingStats, pubsub.Relay.Queue): atomic loads, plus two short locks
//     (the history lock for a few loads, and a relay queue's lock). A
//     scrape never takes a loop's time.
//   - The collectors are unchecked (they describe nothing up front), so a
//     family appears only when its source exists: a supervisor shows no
//     loop counters of its own, a worker no publish counters.
//   - With --procs, the supervisor's /metrics and /stats gather each
//     worker's own admin endpoint (a private unix socket per worker, chosen
//     by the supervisor) at scrape time and add worker="N" to every series;
//     the supervisor's own series carry worker="supervisor". A worker that
//     does not answer within WorkerTimeout is left out of that scrape and
//     named in ssedge_worker_scrape_errors_total; the others still show.
//
// Locks: none of its own beyond what it reads (see above). Handlers,
// readiness checks and collectors run on net/http's goroutines, several
// at once when scrapes overlap, and must be safe for that; the ones in
// this package are (Workers fetches each worker on a goroutine of its own
// and merges under a local mutex; its error counters are atomics).
package admin
