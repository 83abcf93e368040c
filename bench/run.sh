#!/usr/bin/env bash
# run.sh: the side-by-side benchmark (ssedge, net/http, Nchan), from a bare machine to
# docs/BENCH.md and docs/bench.svg.
#
#  1. installs nginx and libnginx-mod-nchan when they are missing (root);
#  2. builds bin/ssedge, bin/nethttp and bin/ssedge-load;
#  3. as root, applies the kernel settings SYSCTL.md asks for (ssedge tune
#     apply, which never lowers a value and keeps a backup in the results
#     directory); it checks that somaxconn, tcp_max_syn_backlog and
#     ip_local_port_range are at least what the largest run needs;
#  4. runs the matrix through bench/compare.sh: ssedge, the net/http peer and
#     Nchan, each started fresh for every connection count, event rate and
#     run, one event at a time to every subscriber;
#  5. writes docs/BENCH.md's generated region (ssedge-load report-md; the
#     rest of the file is left as it is) and docs/bench.svg (ssedge-load
#     chart), both from the JSON files alone.
#
#   bench/run.sh                                   # the matrix of docs/BENCH.md
#   CONNS="1000 5000" RATES="1 10" bench/run.sh    # a smaller one
#   NO_DOCS=1 bench/run.sh                         # measure only; docs/ untouched
#   FROM=bench/out/TIME bench/run.sh               # only the docs, from earlier results
#
# Environment: CONNS ("1000 5000 15000"), RATES (events/s, whole numbers,
# "1 10 50"), EVENTS (events per run, 10), RUNS (runs per server and cell,
# 3; medians are taken over them), SIZE (data bytes, 100), SERVERS, PORT,
# LOADFLAGS as for compare.sh;
# OUT (results, bench/out/<time>), DOC (docs/BENCH.md), CHART
# (docs/bench.svg), NOTE (a line for the doc), NO_DOCS, FROM (a results
# directory of an earlier run.sh: write the docs from it, measure nothing).
#
# It exits 0 once the docs are written, also when some runs were not clean
# (a peer that falls behind at 50 events/s loses events): the doc lists
# them. It exits 1 when no run produced a result.
set -euo pipefail
cd "$(dirname "$0")/.."

export CONNS=${CONNS:-1000 5000 15000}
export RATES=${RATES:-1 10 50}
export EVENTS=${EVENTS:-10}
export RUNS=${RUNS:-3}
export SIZE=${SIZE:-100}
export OUT=${FROM:-${OUT:-bench/out/$(date +%Y%m%d-%H%M%S)}}
DOC=${DOC:-docs/BENCH.md}
CHART=${CHART:-docs/bench.svg}
NCHAN_MODULE=${NCHAN_MODULE:-/usr/lib/nginx/modules/ngx_nchan_module.so}
mkdir -p "$OUT" bin

# at_least KEY VALUE: raises a one-number sysctl to VALUE.
at_least() {
	local cur
	cur=$(sysctl -n "$1")
	if [ "$cur" -lt "$2" ]; then
		echo "   $1: $cur -> $2 (revert: sysctl -w $1=$cur)"
		sysctl -q -w "$1=$2"
	fi
}

# measure: everything but the docs. It leaves in $OUT, beside the results,
# what the docs say about how they were made: command.txt, peers.txt and
# notes.txt (one line each).
measure() {
	local root=false max_conns=0 max_rate=0 n r start took command_line built dirty
	[ "$(id -u)" != 0 ] || root=true
	command_line="CONNS=\"$CONNS\" RATES=\"$RATES\" EVENTS=$EVENTS RUNS=$RUNS SIZE=$SIZE bench/run.sh"

	echo "== what it needs"
	if ! command -v nginx >/dev/null || [ ! -f "$NCHAN_MODULE" ]; then
		if $root; then
			DEBIAN_FRONTEND=noninteractive apt-get install -y nginx libnginx-mod-nchan
		else
			echo "!! nginx or $NCHAN_MODULE missing and not root: run apt-get install -y nginx libnginx-mod-nchan; comparing without Nchan" >&2
		fi
	fi
	go build -o bin/ssedge ./cmd/ssedge
	go build -o bin/nethttp ./bench/nethttp
	# What the binaries were built from, for the doc.
	built="commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
	dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -c . || true)
	[ "$dirty" = 0 ] || built="$built with $dirty changed file(s) not yet committed"

	for n in $CONNS; do [ "$n" -le "$max_conns" ] || max_conns=$n; done
	for r in $RATES; do [ "$r" -le "$max_rate" ] || max_rate=$r; done
	echo "== kernel settings for $max_conns connections (SYSCTL.md)"
	if $root; then
		if ! bin/ssedge tune apply --conns "$max_conns" --event-rate "$max_rate" --event-bytes "$SIZE" \
			--backup "$OUT/sysctl-backup.conf" >"$OUT/tune-apply.txt" 2>&1; then
			echo "!! ssedge tune apply failed (see $OUT/tune-apply.txt); setting the accept queues by hand" >&2
		fi
		# The accept queues for connect storms, whatever tune apply decided.
		at_least net.core.somaxconn 65535
		at_least net.ipv4.tcp_max_syn_backlog 65535
		# ssedge-load puts at most 10,000 connections on one source
		# address, so the ephemeral range must hold that many ports toward
		# the one server port; widening it, keep that port out of it.
		read -r lo hi < <(sysctl -n net.ipv4.ip_local_port_range)
		if [ $((hi - lo + 1)) -lt 10000 ]; then
			echo "   net.ipv4.ip_local_port_range: $lo $hi -> 1024 65535 (revert: sysctl -w net.ipv4.ip_local_port_range=\"$lo $hi\")"
			sysctl -q -w net.ipv4.ip_local_port_range="1024 65535"
			sysctl -q -w net.ipv4.ip_local_reserved_ports="${PORT:-18080}"
		fi
	else
		echo "!! not root: leaving the sysctls as they are" >&2
	fi
	bin/ssedge tune check --conns "$max_conns" --event-rate "$max_rate" --event-bytes "$SIZE" >"$OUT/tune-check.txt" 2>&1 || true
	sysctl net.core.somaxconn net.ipv4.tcp_max_syn_backlog net.ipv4.ip_local_port_range | sed 's/^/   /'

	echo "== the matrix: $command_line (results in $OUT)"
	start=$(date +%s)
	bench/compare.sh || echo "!! some runs were not clean; the doc lists them" >&2
	took=$(($(date +%s) - start))
	echo "== the matrix took $took s"

	echo "$command_line" >"$OUT/command.txt"
	{
		printf '%s' "\`bench/nethttp\` (goroutine per connection, frames formatted once, a buffered channel per subscriber)"
		if command -v nginx >/dev/null; then
			# shellcheck disable=SC2016 # the backquotes are markdown
			printf '; nginx %s with libnginx-mod-nchan %s, `worker_processes %s` (`bench/nchan/nginx.conf.tmpl`, NCHAN_WORKERS)' \
				"$(nginx -v 2>&1 | sed 's#.*nginx/##')" "$(dpkg-query -W -f '${Version}' libnginx-mod-nchan 2>/dev/null || echo unknown)" "${NCHAN_WORKERS:-auto}"
		fi
		echo
	} >"$OUT/peers.txt"
	{
		echo "The matrix took $took s of wall time. Other work may share the machine: the load average before each run is in the table above. On this 2-core VM the CPU and latency figures move by ±25 % from run to run; memory repeats within a few percent."
		echo "Kernel settings: \`bin/ssedge tune apply --conns $max_conns --event-rate $max_rate --event-bytes $SIZE\` as root (SYSCTL.md), somaxconn and tcp_max_syn_backlog at least 65535. Built from $built, with $(go version | cut -d' ' -f3)."
		[ -z "${NOTE:-}" ] || echo "$NOTE"
	} >"$OUT/notes.txt"
}

go build -o bin/ssedge-load ./cmd/ssedge-load
if [ -z "${FROM:-}" ]; then
	measure
fi

shopt -s nullglob
results=("$OUT"/*.json)
if [ ${#results[@]} = 0 ]; then
	echo "!! no results in $OUT" >&2
	exit 1
fi
if [ -n "${NO_DOCS:-}" ]; then
	exit 0
fi
notes=()
while IFS= read -r line; do
	notes+=(--note "$line")
done <"$OUT/notes.txt"
# The chart's path in the doc is relative to the doc.
chart_rel=$(realpath --relative-to="$(dirname "$DOC")" "$CHART")
bin/ssedge-load report-md --into "$DOC" --command "$(cat "$OUT/command.txt")" --peers "$(cat "$OUT/peers.txt")" \
	--chart "$chart_rel" "${notes[@]}" "${results[@]}"
bin/ssedge-load chart --out "$CHART" "${results[@]}"
echo "== wrote $DOC and $CHART from $OUT"
