#!/usr/bin/env bash
# compare.sh: ssedge, the goroutine-per-connection net/http peer and Nchan
# (nginx + libnginx-mod-nchan, bench/nchan/nginx.conf.tmpl), side by side,
# driven by the same load generator (cmd/ssedge-load).
#
# For each connection count, event rate, run and server it starts a fresh
# server (so the RSS baseline is a cold process), connects N subscribers,
# publishes EVENTS events to all of them at RATE events/s, stops the
# server, and finally prints the medians and the ratios ssedge/nethttp and
# ssedge/nchan. bench/run.sh drives it for docs/BENCH.md.
#
#   bench/compare.sh                       # 5000 conns, 1 event/s, 3 runs, 1 event
#   CONNS="1000 5000 15000" RATES="1 10" EVENTS=10 RUNS=5 bench/compare.sh
#   SERVERS=nethttp bench/compare.sh       # the peer alone
#
# Environment: CONNS (list, default 5000), RATES (events/s, list, default
# 1), RUNS (3), EVENTS (1), SIZE (100), SERVERS ("ssedge nethttp nchan"),
# PORT (18080), LOADFLAGS (extra ssedge-load flags), NCHAN_LOADFLAGS (extra
# flags for the nchan runs only), NCHAN_MODULE (the nchan .so),
# NCHAN_WORKERS (nginx worker_processes, auto), OUT (the
# results directory, default bench/out/<time>/).
#
# --server-pid is the process compare.sh starts: ssedge-load sums it with
# its descendants, so for Nchan that is nginx's master and its worker.
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS=${CONNS:-5000}
RUNS=${RUNS:-3}
EVENTS=${EVENTS:-1}
RATES=${RATES:-1}
SIZE=${SIZE:-100}
SERVERS=${SERVERS:-ssedge nethttp nchan}
PORT=${PORT:-18080}
LOADFLAGS=${LOADFLAGS:-}
NCHAN_LOADFLAGS=${NCHAN_LOADFLAGS:-}
OUT=${OUT:-bench/out/$(date +%Y%m%d-%H%M%S)}
NCHAN_MODULE=${NCHAN_MODULE:-/usr/lib/nginx/modules/ngx_nchan_module.so}
NCHAN_WORKERS=${NCHAN_WORKERS:-auto}
NCHAN_DIR=
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
	if [ "$s" = nchan ] && ! { command -v nginx >/dev/null && [ -f "$NCHAN_MODULE" ]; }; then
		echo "!! nchan needs nginx and $NCHAN_MODULE (apt-get install -y nginx libnginx-mod-nchan); comparing without it" >&2
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

# server_pid is the process compare.sh started, stops, and measures (with
# its descendants).
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
	if [ -n "$NCHAN_DIR" ]; then
		rm -rf "$NCHAN_DIR"
		NCHAN_DIR=
	fi
}

# start_nchan LOG: nginx in the foreground (daemon off) in a fresh prefix
# directory, from bench/nchan/nginx.conf.tmpl.
start_nchan() {
	local log=$1 nofile
	nofile=$(ulimit -n)
	NCHAN_DIR=$(mktemp -d /tmp/ssedge-compare-nchan.XXXXXX)
	sed -e "s#@PREFIX@#$NCHAN_DIR#g" -e "s#@PORT@#$PORT#g" -e "s#@SOCK@#$SOCK#g" \
		-e "s#@MODULE@#$NCHAN_MODULE#g" -e "s#@WORKERS@#$NCHAN_WORKERS#g" -e "s#@NOFILE@#$nofile#g" -e "s#@CONNS@#$((nofile - 100))#g" \
		bench/nchan/nginx.conf.tmpl >"$NCHAN_DIR/nginx.conf"
	nginx -p "$NCHAN_DIR" -c "$NCHAN_DIR/nginx.conf" -g 'daemon off;' >"$log" 2>&1 &
}

# has_child PID: nginx's master has started its worker.
has_child() {
	[ -n "$(ps -o pid= --ppid "$1" 2>/dev/null)" ]
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
	nchan) start_nchan "$log" ;;
	*) echo "unknown server $name" >&2; return 1 ;;
	esac
	server_pid=$!
	for _ in $(seq 100); do
		if [ -S "$SOCK" ] && (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
			if [ "$name" = nchan ] && ! has_child "$server_pid"; then
				sleep 0.1
				continue
			fi
			return 0
		fi
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "!! $name did not come up; its log:" >&2
	cat "$log" >&2
	if [ -n "$NCHAN_DIR" ] && [ -f "$NCHAN_DIR/error.log" ]; then cat "$NCHAN_DIR/error.log" >&2; fi
	return 1
}

# interval RATE: the time between events, as a Go duration.
interval() {
	echo "$((1000000 / $1))us"
}

# run_one SERVER CONNS RATE RUN: one fresh server, one load run. A run
# that fails (a lost event, a connection refused) sets failed and the
# matrix goes on.
failed=0
run_one() {
	local s=$1 n=$2 rate=$3 run=$4 base flags
	base="$OUT/$s-$n-r$rate-$run"
	echo "== $s, $n conns, $rate events/s, run $run"
	flags=$LOADFLAGS
	[ "$s" != nchan ] || flags="$flags $NCHAN_LOADFLAGS"
	if ! start_server "$s" "$base.server.log"; then
		failed=1
		stop_server
		return 0
	fi
	# shellcheck disable=SC2086 # flags is a list of flags
	if ! bin/ssedge-load --url "http://127.0.0.1:$PORT/events?channel=bench" --conns "$n" \
		--publish-socket "$SOCK" --events "$EVENTS" --interval "$(interval "$rate")" --size "$SIZE" \
		--server-pid "$server_pid" --label "$s" --json "$base.json" --quiet $flags \
		| tee "$base.txt" | grep -E '^(server|connect|kernel floor|publish|deliveries|last|result)'; then
		failed=1
	fi
	if [ -n "$NCHAN_DIR" ] && [ -s "$NCHAN_DIR/error.log" ]; then
		cp "$NCHAN_DIR/error.log" "$base.nginx-error.log"
	fi
	stop_server
}

for n in $CONNS; do
	for rate in $RATES; do
		for run in $(seq "$RUNS"); do
			for s in "${servers[@]}"; do
				run_one "$s" "$n" "$rate" "$run"
			done
		done
	done
done

echo "== side by side ($OUT)"
for peer in "${servers[@]}"; do
	[ "$peer" != ssedge ] || continue
	ls "$OUT"/"$peer"-*.json >/dev/null 2>&1 || { echo "!! no results from $peer" >&2; continue; }
	bin/ssedge-load compare --base "$peer" "$OUT"/*.json | tee -a "$OUT/compare.txt"
done
if [ "$failed" != 0 ]; then
	echo "!! some runs failed; see $OUT/*.txt" >&2
	exit 1
fi
