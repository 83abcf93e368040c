// Command ssedge-load measures an SSE server the way the brief's targets
// are stated: memory per idle connection, server CPU per delivery against
// the kernel's floor for one delivery, and the time from publish to the
// first, median, 99th-percentile and last subscriber. It drives ssedge and
// its peers (bench/nethttp, Nchan) alike, since they share one interface.
//
//	ssedge-load --url 'http://127.0.0.1:8080/events?channel=bench' --conns 5000 \
//	    --publish-socket /tmp/ssedge.sock --events 5 --interval 500ms --size 100 \
//	    --server-pid PID [--json out.json] [--label ssedge]
//	ssedge-load compare [--base nethttp] out/*.json
//	ssedge-load report-md [--into docs/BENCH.md] [--command CMD] [--chart bench.svg] out/*.json
//	ssedge-load chart [--out docs/bench.svg] out/*.json
//	ssedge-load drain --url URL --conns 10000 --server-pid PID [--bucket 1s] [--json out.json]
//	ssedge-load --storm --conns 200000 --events 40 --interval 2s --storm-after 5 ... (a reconnect storm)
//	ssedge-load --idle 30s ... (the server's CPU with every stream open and nothing published)
//
// --storm is a reconnect storm (storm.go): the situation after a proxy
// failover or a crashed neighbour box. Once every stream has
// --storm-after events, each worker closes all its streams at once and
// reconnects every one (--storm-concurrency in flight per worker) with
// Last-Event-ID set to the last id it received, while the publisher goes
// on at --interval. Each stream keeps its account across the reconnect,
// so the checks below hold per client over the whole run: every event
// exactly once, in order, with the published id: what it missed from the
// server's history, then live. ssedge.gap events are counted by reason
// and fail the run: "evicted" is named as a history too short for the
// outage (the server's --history-per-channel or --history-age), any other
// reason as a failed resume. It reports the time from the drop until
// every stream streams again and until every stream has every event, and
// reads the server side every --storm-sample: the listen sockets' accept
// queues (ss -lnt Recv-Q, summed over the port's listeners, and their
// bound), the TcpExt counters of /proc/net/netstat (what nstat shows:
// ListenOverflows, ListenDrops, TCPReqQFullDrop, TCPReqQFullDoCookies,
// SyncookiesSent) as deltas over the storm, the server's RSS (all its
// processes) and /proc/net/sockstat (TCP mem pages, sockets in use,
// time-wait) at their peaks. bench/scale.sh MODE=storm runs it.
//
// Every run also reads the kernel's memory before connecting and once
// connected (kernmem.go): the slab (/proc/meminfo Slab: the TCP,
// sock_inode_cache, filp, dentry and eventpoll objects) and TCP's buffer
// pages (/proc/net/sockstat mem), per connection. On loopback each
// connection is two sockets, the client's and the server's; the table
// gives half the slab growth as one socket's.
//
// drain measures a graceful shutdown from the clients' side (drain.go):
// it holds --conns streams, sends SIGTERM to --server-pid, and prints per
// --bucket from the signal how many streams ended and when each would
// reconnect (its end plus the last retry: advice it got, as an
// EventSource does), with the fullest bin against the average. It exits
// 1 if a stream failed to open or did not end within --timeout.
//
// compare prints the medians side by side per connection count and event
// rate; report-md writes the markdown of docs/BENCH.md (into the region
// between its BEGIN and END markers, leaving the rest of the file alone);
// chart draws memory per connection and the time to the last subscriber
// against the connection count, one line per server, as plain SVG. All
// three read only the --json files; bench/run.sh drives them.
//
// # How it measures
//
//  1. Baseline: the server's VmRSS (/proc/PID/status) before any
//     connection. The server is --server-pid and every process below it,
//     found afresh at each sample (/proc/PID/task/*/children), their VmRSS
//     and CPU summed: a supervisor and its workers (ssedge serve --procs N,
//     nginx's master and worker) are measured as one server. Shared pages
//     count once per process, which cancels out of the deltas below.
//  2. Kernel floor (--floor-pairs, 0 skips it): while the server is idle
//     and before any worker exists, the parent opens --floor-pairs loopback
//     TCP connections to a listener of its own (TCP_NODELAY), puts the
//     reading ends in an edge-triggered epoll drained by a thread of their
//     own, and from a second locked thread writes --floor-bursts bursts of
//     one write per connection, each write the size of one SSE frame of the
//     run, waiting between bursts until the reader sleeps again: one event
//     to many subscribers. The floor is the writer thread's CPU time per
//     write (CLOCK_THREAD_CPUTIME_ID: the same sum_exec_runtime that
//     schedstat reports for the server; on loopback the receiver's softirq
//     work runs on the writer's CPU and is charged to it, as it is to the
//     server), the median over the bursts. The same write repeated to one
//     socket ("one socket hot", the best case) and a null syscall
//     (getppid) are reported beside it.
//  3. Connect: the binary re-executes itself as --procs worker processes
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
//  4. Connected: after --settle, VmRSS again; (connected - baseline) / N is
//     the RSS per connection.
//  5. Publish: --events POSTs to /publish on the unix socket (or
//     --publish-url), --interval apart, pipelined on one keep-alive
//     connection: each is sent when its time comes, answered or not, so a
//     server that falls behind shows it in its delivery times and late
//     answers rather than slowing the publisher (one connection keeps the
//     server's order the publisher's). Each body is
//     "run=R seq=S t=UNIXNANO xxx..." padded to --size; the id in the
//     answer is kept, and the time to the answer reported. Server CPU over this
//     phase comes from /proc/PID/task/*/schedstat (nanoseconds;
//     utime+stime from /proc/PID/stat, 10 ms ticks, is reported beside it)
//     and is divided by the deliveries, and by the floor for the ratio.
//  6. Deliveries: workers decode HTTP chunking when the server uses it,
//     parse the SSE stream (id/event/data lines, blank-line dispatch,
//     comments ignored), and stamp each event with time.Now().UnixNano() on
//     arrival; latency = arrival - t, on one machine and one clock. Per
//     connection they check every event of this run arrives exactly once,
//     in sequence order, with increasing SSE ids equal to the ids the
//     publisher got back. Latencies go into log-linear histograms (1.6%
//     resolution; first and last are exact) that the parent merges. The
//     time to the last subscriber is reported per event and as its median
//     over the events.
//  7. Drain: the parent waits until every worker has every event on every
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
// track.go (order and loss), hist.go, payload.go, publish.go, ids.go,
// procstat_linux.go (the process tree), floor_linux.go (the kernel floor),
// machine.go, report.go (table and JSON), compare.go (side by side),
// reportmd.go (docs/BENCH.md), chart.go (the SVG), drain.go (the drain
// report), storm.go, storm_worker_linux.go and storm_sample.go (the
// reconnect storm), kernmem.go (kernel memory, idle CPU).
package main
