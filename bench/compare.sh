#!/usr/bin/env bash
# Side-by-side throughput of wspulse and tshark on the same capture, in one
# run, so the ratio holds even on a noisy machine.
#
# Usage: bench/compare.sh CAPTURE [RUNS]
#   Builds wspulse in release mode, warms the page cache, then runs each case
#   RUNS times (default 3) in alternation and prints median wall time, MB/s,
#   packets/s and peak RSS (GNU time), plus the wspulse/tshark ratios:
#     tcp: wspulse analyze --tcp --format json  vs  tshark -r F -q -z conv,tcp
#     ws:  wspulse analyze --format json        vs  tshark -r F -Y websocket -T fields -e websocket.opcode
# Needs: tshark, capinfos (wireshark-common), GNU time (package `time`).
# Large captures come from ../shared/bench/gen_capture.sh (real traffic).
set -euo pipefail
CAP=$(readlink -f "${1:?usage: bench/compare.sh CAPTURE [RUNS]}")
RUNS=${2:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ -x /usr/bin/time ] || { echo "needs GNU time: apt-get install time" >&2; exit 1; }
command -v tshark >/dev/null || { echo "needs tshark" >&2; exit 1; }
(cd "$ROOT" && cargo build --release -q)
WSPULSE=$ROOT/target/release/wspulse

SIZE=$(stat -c %s "$CAP")
PKTS=$(capinfos -c -M "$CAP" | awk -F: '/Number of packets/ {gsub(/ /,"",$2); print $2}')
cat "$CAP" >/dev/null

declare -A CMD=(
  [wspulse_tcp]="$WSPULSE analyze --tcp --format json $CAP"
  [tshark_conv]="tshark -n -r $CAP -q -z conv,tcp"
  [wspulse_ws]="$WSPULSE analyze --format json $CAP"
  [tshark_ws]="tshark -n -r $CAP -Y websocket -T fields -e websocket.opcode"
)
ORDER=(wspulse_tcp tshark_conv wspulse_ws tshark_ws)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for run in $(seq "$RUNS"); do
  for case in "${ORDER[@]}"; do
    # wall seconds and max RSS in KiB, appended per run
    /usr/bin/time -f "%e %M" -o "$TMP/t" bash -c "${CMD[$case]} >/dev/null 2>&1" || true
    cat "$TMP/t" >>"$TMP/$case"
  done
done

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
printf 'capture: %s (%.1f MB, %s packets), %s runs each, medians\n\n' "$(basename "$CAP")" "$(echo "$SIZE/1000000" | bc -l)" "$PKTS" "$RUNS"
printf '| case | wall s | MB/s | packets/s | peak RSS MB |\n|---|---:|---:|---:|---:|\n'
declare -A WALL
for case in "${ORDER[@]}"; do
  wall=$(cut -d' ' -f1 "$TMP/$case" | median)
  rss=$(cut -d' ' -f2 "$TMP/$case" | median)
  WALL[$case]=$wall
  awk -v c="$case" -v w="$wall" -v r="$rss" -v s="$SIZE" -v p="$PKTS" 'BEGIN {
    w = (w < 0.001 ? 0.001 : w);
    printf "| %s | %.2f | %.0f | %.0f | %.0f |\n", c, w, s/1e6/w, p/w, r/1024 }'
done
echo
awk -v a="${WALL[tshark_conv]}" -v b="${WALL[wspulse_tcp]}" -v c="${WALL[tshark_ws]}" -v d="${WALL[wspulse_ws]}" 'BEGIN {
  printf "wspulse is %.1fx faster than tshark for the TCP view, %.1fx for WebSocket decoding\n", a/(b<0.001?0.001:b), c/(d<0.001?0.001:d) }'
