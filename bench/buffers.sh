#!/usr/bin/env bash
# bench/buffers.sh: do smaller per-socket buffer defaults cut the kernel's
# memory per idle stream, and do they hurt a burst? For each setting: N
# idle streams (slab and TCP buffer pages per stream, bench/scale.sh), then
# a burst run at 15k (EVENTS events INTERVAL apart). The sysctls are put
# back as they were at the end, whatever happens. Root only.
#
#   bench/buffers.sh                       # 50,000 idle, 15,000 burst
#   N=50000 BURST_CONNS=15000 EVENTS=20 INTERVAL=50ms bench/buffers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-50000}
BURST_CONNS=${BURST_CONNS:-15000}
EVENTS=${EVENTS:-20}
INTERVAL=${INTERVAL:-50ms}
OUT=${OUT:-bench/out/buffers-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
keys="net.ipv4.tcp_rmem net.ipv4.tcp_wmem net.ipv4.tcp_notsent_lowat net.ipv4.tcp_adv_win_scale"
saved=$(for k in $keys; do printf '%s=%s\n' "$k" "$(sysctl -n "$k" | tr '\t' ' ')"; done)
restore() { while IFS= read -r kv; do sysctl -q -w "${kv%%=*}=${kv#*=}"; done <<<"$saved"; }
trap restore EXIT
echo "$saved" >"$OUT/saved.conf"

# name: the settings it writes (on top of the saved ones)
declare -A settings=(
	[default]=""
	[small]="net.ipv4.tcp_rmem=4096 4096 6291456;net.ipv4.tcp_wmem=4096 4096 4194304;net.ipv4.tcp_notsent_lowat=16384"
)
for name in default small; do
	restore
	IFS=';' read -ra kvs <<<"${settings[$name]}"
	for kv in "${kvs[@]}"; do [ -n "$kv" ] && sysctl -q -w "${kv%%=*}=${kv#*=}"; done
	sysctl $keys | tee "$OUT/$name.sysctl"
	TUNE=0 CONNS="$N" IDLE=0 EVENTS=1 OUT="$OUT/$name-idle" bench/scale.sh >/dev/null
	TUNE=0 CONNS="$BURST_CONNS" IDLE=0 EVENTS="$EVENTS" INTERVAL="$INTERVAL" OUT="$OUT/$name-burst" bench/scale.sh >/dev/null
	for f in "$OUT/$name-idle"/*.txt "$OUT/$name-burst"/*.txt; do
		echo "== $name: $f"
		grep -E '^(connect|server RSS|kernel|deliveries|last subscriber|result)' "$f"
	done | tee -a "$OUT/summary.txt"
done
echo "results in $OUT"
