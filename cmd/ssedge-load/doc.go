// Command ssedge-load measures an SSE server the way the brief's targets
// are stated: memory per idle connection, server CPU per delivery, and the
// time from publish to the first, median, 99th-percentile and last
// subscriber. It drives ssedge and its peers (bench/nethttp) alike, since
// they share one interface.
//
//	ssedge-load --url 'http://127.0.0.1:8080/events?channel=bench' --conns 5000 \
//	    --publish-socket /tmp/ssedge.sock --events 5 --interval 500ms --size 100 \
//	    --server-pid PID [--json out.json] [--label ssedge]
//	ssedge-load compare [--base nethttp] out/*.json
//
// # How it measures
//
//  1. Baseline: the server's VmRSS (/proc/PID/status) before any connection.
//  2. Connect: the binary re-executes itself as --procs worker processes
//     (the hidden first argument --worker), each holding at most 18,000
//     sockets so it stays under this host's 20,000-file limit. A worker is
//     one edge-triggered epoll loop over raw non-blocking sockets: no
//     goroutine per connection, one shared 64 KiB read buffer, and per
//     connection only its parser's partial line and a few counters. Each
//     socket binds a source address from --src-addrs addresses counting up
//     from 127.1.0.1, with IP_BIND_ADDRESS_NO_PORT so the port is picked at
//     connect time per 4-tuple: every source address then carries a whole
//     ephemeral port range to the one server port. A connection counts once
//     the server answered 200 with Content-Type text/event-stream.
//  3. Connected: after --settle, VmRSS again; (connected - baseline) / N is
//     the RSS per connection.
//  4. Publish: --events POSTs to /publish on the unix socket (or
//     --publish-url), --interval apart. Each body is
//     "run=R seq=S t=UNIXNANO xxx..." padded to --size; the returned id is
//     kept. Server CPU over this phase comes from
//     /proc/PID/task/*/schedstat (nanoseconds; utime+stime from
//     /proc/PID/stat, 10 ms ticks, is reported beside it) and is divided by
//     the deliveries.
//  5. Deliveries: workers decode HTTP chunking when the server uses it,
//     parse the SSE stream (id/event/data lines, blank-line dispatch,
//     comments ignored), and stamp each event with time.Now().UnixNano() on
//     arrival; latency = arrival - t, on one machine and one clock. Per
//     connection they check every event of this run arrives exactly once,
//     in sequence order, with increasing SSE ids equal to the ids the
//     publisher got back. Latencies go into log-linear histograms (1.6%
//     resolution; first and last are exact) that the parent merges.
//  6. Drain: the parent waits until every worker has every event on every
//     live connection, or --drain after the last publish; what is missing
//     then is lost.
//
// The parent and workers speak JSON lines over the workers' stdin and
// stdout (proto.go). Output is a table on stdout, the same figures as JSON
// with --json, and exit status 1 when any connection failed or any
// delivery was lost, duplicated, out of order or carried a wrong id.
//
// Files: config.go (flags), parent.go (the run), workers.go (the parent's
// side of the workers), worker_linux.go (the epoll loop), response.go (the
// response head and chunked decoding), sse.go (the event-stream parser),
// track.go (order and loss), hist.go, payload.go, publish.go,
// procstat_linux.go, report.go (table and JSON), compare.go (side by side).
package main
