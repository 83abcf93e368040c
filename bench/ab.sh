#!/usr/bin/env bash
# ab.sh: a before/after comparison of ssedge binaries in one sitting. It
# runs the same ssedge-load command as compare.sh against each binary in
# turn, RUNS rounds, a fresh server for every run, and prints the medians
# side by side with the ratios to the first binary.
#
#   git worktree add /tmp/before HEAD~3 && (cd /tmp/before && go build -o /tmp/ssedge-before ./cmd/ssedge)
#   go build -o /tmp/ssedge-after ./cmd/ssedge
#   BINS="before=/tmp/ssedge-before after=/tmp/ssedge-after" bench/ab.sh
#
# Environment: BINS (label=path, space-separated; the first is the base),
# CONNS (15000), EVENTS (10), INTERVAL (100ms), SIZE (100), RUNS (3), PORT
# (18090), OUT (results directory, default bench/out/ab-<time>).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${BINS:?set BINS=\"label=path label=path\"}"
CONNS=${CONNS:-15000}
EVENTS=${EVENTS:-10}
INTERVAL=${INTERVAL:-100ms}
SIZE=${SIZE:-100}
RUNS=${RUNS:-3}
PORT=${PORT:-18090}
OUT=${OUT:-bench/out/ab-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT" bin
go build -o bin/ssedge-load ./cmd/ssedge-load
ulimit -n "$(ulimit -Hn)"
if [ "$(id -u)" = 0 ]; then
	sysctl -q -w net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65535
fi
base=${BINS%%=*}
for run in $(seq "$RUNS"); do
	for pair in $BINS; do
		label=${pair%%=*} bin=${pair#*=}
		sock=$(mktemp -u /tmp/ssedge-ab.XXXXXX.sock)
		"$bin" serve --listen "127.0.0.1:$PORT" --publish-socket "$sock" >"$OUT/$label-$run.server.log" 2>&1 &
		pid=$!
		for _ in $(seq 100); do
			[ -S "$sock" ] && (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
			sleep 0.1
		done
		bin/ssedge-load --url "http://127.0.0.1:$PORT/events?channel=bench" --conns "$CONNS" --publish-socket "$sock" \
			--events "$EVENTS" --interval "$INTERVAL" --size "$SIZE" --server-pid "$pid" --label "$label" \
			--json "$OUT/$label-$run.json" --quiet >"$OUT/$label-$run.txt" 2>&1 || echo "!! $label run $run failed: $OUT/$label-$run.txt" >&2
		kill "$pid"
		wait "$pid" 2>/dev/null || true
		rm -f "$sock"
		grep -E '^(server CPU|deliveries|result)' "$OUT/$label-$run.txt" | sed "s/^/$label-$run: /"
	done
done
bin/ssedge-load compare --base "$base" "$OUT"/*.json | tee "$OUT/compare.txt"
