#!/usr/bin/env bash
# idle.sh: what idle streams cost ssedge, for one binary or a before/after
# pair in one sitting. For each binary in turn (RUNS rounds, a fresh server
# each time) it opens CONNS streams with ssedge-load, publishes nothing,
# and over WINDOW seconds reads the server's CPU (utime+stime of the
# supervisor and its workers, /proc/PID/stat) and the heartbeats it sent
# (ssedge_writes_total from the admin endpoint: with nothing published,
# every write is a heartbeat). It prints CPU per stream-second and per
# heartbeat, and the ratios to the first binary.
#
#   (mkdir /tmp/base && git archive main | tar -x -C /tmp/base && cd /tmp/base && go build -o /tmp/ssedge-base ./cmd/ssedge)
#   go build -o bin/ssedge ./cmd/ssedge
#   BINS="base=/tmp/ssedge-base new=bin/ssedge" CONNS=30000 HEARTBEAT=1s bench/idle.sh
#
# A short heartbeat amplifies the cost per heartbeat above the noise of a
# shared box; HEARTBEAT=default runs each binary with its own default,
# what a deployment pays.
#
# Environment: BINS (label=path, space-separated; the first is the base;
# default "ssedge=bin/ssedge"), CONNS (30000), HEARTBEAT (1s, or default), WINDOW
# (20, seconds), SETTLE (3, seconds after the last stream connects), RUNS
# (2), PORT (18095), ADMIN (18096), OUT (default bench/out/idle-<time>).
set -euo pipefail
cd "$(dirname "$0")/.."
BINS=${BINS:-ssedge=bin/ssedge}
CONNS=${CONNS:-30000}
HEARTBEAT=${HEARTBEAT:-1s}
WINDOW=${WINDOW:-20}
SETTLE=${SETTLE:-3}
RUNS=${RUNS:-2}
PORT=${PORT:-18095}
ADMIN=${ADMIN:-18096}
OUT=${OUT:-bench/out/idle-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT" bin
go build -o bin/ssedge-load ./cmd/ssedge-load
[ -x bin/ssedge ] || go build -o bin/ssedge ./cmd/ssedge
ulimit -n "$(ulimit -Hn)"
if [ "$(id -u)" = 0 ]; then
	sysctl -q -w net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65535
fi
procs=$(((CONNS + 15999) / 16000)) # each process under the 20,000-file limit
hz=$(getconf CLK_TCK)

# ticks PID: CPU ticks of PID and its children (the workers).
ticks() {
	local t=0 p stat
	for p in "$1" $(pgrep -P "$1" || true); do
		stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		set -- ${stat##*) } # fields from 3 on: utime is 14, stime 15
		t=$((t + ${12} + ${13}))
	done
	echo "$t"
}
# metric NAME [LABEL]: the sum of a family's samples on the admin endpoint.
metric() {
	curl -fsS "http://127.0.0.1:$ADMIN/metrics" | awk -v n="$1" -v l="${2:-}" \
		'$1 ~ "^"n"({|$)" && (l == "" || index($1, l)) { s += $NF } END { printf "%d\n", s }'
}

server=
load=
stop() {
	if [ -n "$load" ]; then kill "$load" 2>/dev/null || true; wait "$load" 2>/dev/null || true; fi
	if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
	load= server=
}
trap stop EXIT

printf '%-10s %4s %8s %10s %12s %14s %14s\n' binary run streams "cpu %" heartbeats/s "µs/stream-s" "µs/heartbeat" | tee "$OUT/idle.txt"
for run in $(seq "$RUNS"); do
	for pair in $BINS; do
		label=${pair%%=*} bin=${pair#*=}
		sock=$(mktemp -u /tmp/ssedge-idle.XXXXXX.sock)
		hbflag=(--heartbeat "$HEARTBEAT")
		[ "$HEARTBEAT" = default ] && hbflag=()
		"$bin" serve --procs "$procs" --conns "$CONNS" "${hbflag[@]}" --listen "127.0.0.1:$PORT" \
			--publish-socket "$sock" --admin-listen "127.0.0.1:$ADMIN" >"$OUT/$label-$run.server.log" 2>&1 &
		server=$!
		for _ in $(seq 300); do
			[ -S "$sock" ] && curl -fsS -o /dev/null "http://127.0.0.1:$ADMIN/healthz" 2>/dev/null && break
			sleep 0.1
		done
		# ssedge-load idles far longer than the window; it is stopped after.
		bin/ssedge-load --url "http://127.0.0.1:$PORT/events?channel=idle" --conns "$CONNS" --publish-socket "$sock" \
			--events 1 --server-pid "$server" --idle "$((WINDOW * 3 + 60))s" --connect-timeout 120s --floor-pairs 0 \
			--quiet >"$OUT/$label-$run.load.txt" 2>&1 &
		load=$!
		for _ in $(seq 1200); do
			[ "$(metric ssedge_connections 'state="streaming"')" -ge "$CONNS" ] && break
			sleep 0.1
		done
		sleep "$SETTLE" # lets the connect burst's work end before the window
		t0=$(date +%s.%N) c0=$(ticks "$server") w0=$(metric ssedge_writes_total)
		sleep "$WINDOW" # the measured interval itself
		t1=$(date +%s.%N) c1=$(ticks "$server") w1=$(metric ssedge_writes_total)
		streams=$(metric ssedge_connections 'state="streaming"')
		stop
		rm -f "$sock"
		awk -v l="$label" -v r="$run" -v n="$streams" -v t0="$t0" -v t1="$t1" -v c="$((c1 - c0))" -v hz="$hz" -v w="$((w1 - w0))" \
			'BEGIN { t = t1 - t0; cpu = c / hz; printf "%-10s %4d %8d %10.1f %12.0f %14.3f %14.2f\n", l, r, n, 100 * cpu / t, w / t, cpu / t / n * 1e6, (w ? cpu / w * 1e6 : 0) }' |
			tee -a "$OUT/idle.txt"
	done
done
# Medians per binary, and the ratio to the base.
awk 'NR > 1 { k = $1; if (!(k in seen)) { order[++n] = k; seen[k] = 1 } c[k, ++m[k]] = $7; s[k, m[k]] = $6 }
	function med(a, k, cnt,   i, j, v, t) { for (i = 1; i <= cnt; i++) v[i] = a[k, i]
		for (i = 1; i <= cnt; i++) for (j = i + 1; j <= cnt; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
		return cnt % 2 ? v[(cnt + 1) / 2] : (v[cnt / 2] + v[cnt / 2 + 1]) / 2 }
	END { printf "\nmedians (ratio to %s)\n", order[1]
		for (i = 1; i <= n; i++) { k = order[i]; hb = med(c, k, m[k]); st = med(s, k, m[k])
			if (i == 1) { hb0 = hb; st0 = st }
			printf "%-10s %8.2f µs/heartbeat (%.2fx)  %8.3f µs/stream-s (%.2fx)\n", k, hb, hb / hb0, st, st / st0 } }' \
	"$OUT/idle.txt" | tee -a "$OUT/idle.txt"
echo "results in $OUT"
