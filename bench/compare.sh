#!/usr/bin/env bash
# compare.sh: ssedge and the goroutine-per-connection net/http peer, side
# by side, driven by the same load generator (cmd/ssedge-load).
#
# For each connection count, each run and each server it starts a fresh
# server (so the RSS baseline is a cold process), connects N subscribers,
# publishes EVENTS events to all of them, stops the server, and finally
# prints the medians and the ratios ssedge/nethttp.
#
#   bench/compare.sh                       # 5000 conns, 3 runs, 1 event
#   CONNS="1000 5000 15000" RUNS=5 bench/compare.sh
#   SERVERS=nethttp bench/compare.sh       # the peer alone
#
# Environment: CONNS (list, default 5000), RUNS (3), EVENTS (1),
# INTERVAL (1s), SIZE (100), SERVERS ("ssedge nethttp"), PORT (18080),
# LOADFLAGS (extra ssedge-load flags). Results: bench/out/<time>/.
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS=${CONNS:-5000}
RUNS=${RUNS:-3}
EVENTS=${EVENTS:-1}
INTERVAL=${INTERVAL:-1s}
SIZE=${SIZE:-100}
SERVERS=${SERVERS:-ssedge nethttp}
PORT=${PORT:-18080}
LOADFLAGS=${LOADFLAGS:-}
OUT=bench/out/$(date +%Y%m%d-%H%M%S)
SOCK=$(mktemp -u /tmp/ssedge-compare.XXXXXX.sock)
mkdir -p "$OUT" bin

echo "== building into bin/"
go build -o bin/ssedge-load ./cmd/ssedge-load
go build -o bin/nethttp ./bench/nethttp
servers=()
for s in $SERVERS; do
	if [ "$s" = ssedge ] && ! go build -o bin/ssedge ./cmd/ssedge; then
		echo "!! cannot build ./cmd/ssedge; comparing without it" >&2
		continue
	fi
	servers+=("$s")
done

ulimit -n "$(ulimit -Hn)"
if [ "$(id -u)" = 0 ]; then
	sysctl -q -w net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65535
else
	echo "!! not root: leaving net.core.somaxconn and tcp_max_syn_backlog as they are" >&2
fi
for n in $CONNS; do
	if [ "$n" -ge "$(ulimit -n)" ]; then
		echo "!! $n connections: a single server process may open only $(ulimit -n) files" >&2
	fi
done

server_pid=
stop_server() {
	[ -n "$server_pid" ] || return 0
	kill -TERM "$server_pid" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	server_pid=
	rm -f "$SOCK"
}
trap stop_server EXIT

# start_server NAME LOG: starts it in the background, sets server_pid,
# and waits until both its ports answer.
start_server() {
	local name=$1 log=$2
	rm -f "$SOCK"
	case $name in
	ssedge) bin/ssedge serve --listen "127.0.0.1:$PORT" --publish-socket "$SOCK" >"$log" 2>&1 & ;;
	nethttp) bin/nethttp --listen "127.0.0.1:$PORT" --publish-socket "$SOCK" >"$log" 2>&1 & ;;
	*) echo "unknown server $name" >&2; return 1 ;;
	esac
	server_pid=$!
	for _ in $(seq 100); do
		if [ -S "$SOCK" ] && (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
			return 0
		fi
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "!! $name did not come up; its log:" >&2
	cat "$log" >&2
	return 1
}

failed=0
for n in $CONNS; do
	for run in $(seq "$RUNS"); do
		for s in "${servers[@]}"; do
			base="$OUT/$s-$n-$run"
			echo "== $s, $n conns, run $run"
			if ! start_server "$s" "$base.server.log"; then
				failed=1
				stop_server
				continue
			fi
			# shellcheck disable=SC2086 # LOADFLAGS is a list of flags
			if ! bin/ssedge-load --url "http://127.0.0.1:$PORT/events?channel=bench" --conns "$n" \
				--publish-socket "$SOCK" --events "$EVENTS" --interval "$INTERVAL" --size "$SIZE" \
				--server-pid "$server_pid" --label "$s" --json "$base.json" --quiet $LOADFLAGS \
				| tee "$base.txt" | grep -E '^(server|connect|deliveries|result)'; then
				failed=1
			fi
			stop_server
		done
	done
done

echo "== side by side ($OUT)"
bin/ssedge-load compare --base nethttp "$OUT"/*.json | tee "$OUT/compare.txt"
if [ "$failed" != 0 ]; then
	echo "!! some runs failed; see $OUT/*.txt" >&2
	exit 1
fi
