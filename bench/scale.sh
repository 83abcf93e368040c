#!/usr/bin/env bash
# bench/scale.sh: many streams on one box, server and load generator on
# the same machine: per-stream memory (ssedge and kernel) and idle CPU at
# each count, one event to every stream, or a reconnect storm. Run as root
# on a bare box; one fresh `ssedge serve --procs P` per count.
#
#   bench/scale.sh                                   # 1k 10k 100k 200k, one event each
#   CONNS=1000000 HEARTBEAT=15s bench/scale.sh       # the 1M run of docs/BENCH.md
#   MODE=storm CONNS=200000 bench/scale.sh           # reconnect storm (ssedge-load --storm)
#
# Environment: CONNS (counts, space-separated), MODE (event|storm), SPROCS
# (ssedge processes; default one per 16,000 streams), HEARTBEAT (serve
# --heartbeat; default: ssedge's own, read from its --help), IDLE (idle CPU measurement, default 30s),
# EVENTS, INTERVAL, SIZE, STORM_AFTER, STORM_CONC, HISTORY (serve
# --history-per-channel), TUNE (1: `ssedge tune apply` first, the default
# as root), PORT, OUT. Results: $OUT/<conns>-<mode>.{txt,json,log}.
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS=${CONNS:-"1000 10000 100000 200000"}
MODE=${MODE:-event}
IDLE=${IDLE:-30s}
SIZE=${SIZE:-100}
PORT=${PORT:-18080}
SOCK=${SOCK:-/tmp/ssedge-scale.sock}
OUT=${OUT:-bench/out/scale-$(date +%Y%m%d-%H%M%S)}
TUNE=${TUNE:-$([ "$(id -u)" = 0 ] && echo 1 || echo 0)}
mkdir -p "$OUT" bin
go build -o bin/ssedge ./cmd/ssedge
go build -o bin/ssedge-load ./cmd/ssedge-load
ulimit -n "$(ulimit -Hn)"

max=0
for n in $CONNS; do [ "$n" -gt "$max" ] && max=$n; done
sprocs() { echo "${SPROCS:-$(( ($1 + 15999) / 16000 ))}"; }
if [ "$TUNE" = 1 ]; then
	bin/ssedge tune apply --conns "$max" --procs "$(sprocs "$max")" --backup "$OUT/sysctl-backup.conf" | tee "$OUT/tune-apply.txt"
fi
bin/ssedge tune check --conns "$max" --procs "$(sprocs "$max")" >"$OUT/tune-check.txt" || true

# The heartbeat the servers run with: HEARTBEAT, or ssedge's default.
HEARTBEAT=${HEARTBEAT:-$(bin/ssedge serve --help 2>&1 | grep -A1 -- '--heartbeat' | sed -n 's/.*(default \(.*\))$/\1/p')}

server_pid=
stop_server() {
	[ -n "$server_pid" ] || return 0
	kill -TERM "$server_pid" 2>/dev/null || true
	for _ in $(seq 300); do
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	server_pid=
	rm -f "$SOCK"
}
trap stop_server EXIT

for n in $CONNS; do
	p=$(sprocs "$n")
	args=(serve --procs "$p" --listen "127.0.0.1:$PORT" --publish-socket "$SOCK" --conns "$n")
	args+=(--heartbeat "$HEARTBEAT")
	[ -n "${HISTORY:-}" ] && args+=(--history-per-channel "$HISTORY")
	rm -f "$SOCK"
	bin/ssedge "${args[@]}" >"$OUT/$n-$MODE.log" 2>&1 &
	server_pid=$!
	# Up when the publish socket exists and every worker listens (one
	# listener per loop, at least one per worker): the baseline RSS must
	# count every process.
	for _ in $(seq 600); do
		if [ -S "$SOCK" ] && [ "$(ss -Hltn "sport = :$PORT" | wc -l)" -ge "$p" ]; then break; fi
		sleep 0.1
	done
	load=(--url "http://127.0.0.1:$PORT/events?channel=scale" --publish-socket "$SOCK" --conns "$n"
		--server-pid "$server_pid" --size "$SIZE" --settle 5s --floor-pairs 0 --json "$OUT/$n-$MODE.json"
		--label "ssedge-$n" --connect-timeout 60s --drain 120s --heartbeat "$HEARTBEAT")
	if [ "$MODE" = storm ]; then
		# Events keep going through the storm: slow enough that one event's
		# fan-out fits in the interval at this count on 2 cores.
		load+=(--storm --events "${EVENTS:-40}" --interval "${INTERVAL:-$(( n / 50000 + 1 ))s}" --storm-after "${STORM_AFTER:-5}")
		[ -n "${STORM_CONC:-}" ] && load+=(--storm-concurrency "$STORM_CONC")
	else
		load+=(--idle "$IDLE" --events "${EVENTS:-3}" --interval "${INTERVAL:-$(( n / 50000 + 2 ))s}")
	fi
	echo "== $n streams, $p ssedge process(es), mode $MODE: bin/ssedge ${args[*]}; bin/ssedge-load ${load[*]}" | tee "$OUT/$n-$MODE.txt"
	rc=0
	bin/ssedge-load "${load[@]}" | tee -a "$OUT/$n-$MODE.txt" || rc=$?
	[ "$rc" = 0 ] || echo "!! ssedge-load exited $rc at $n" | tee -a "$OUT/$n-$MODE.txt"
	stop_server
done
echo "results in $OUT"
