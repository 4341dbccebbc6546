#!/usr/bin/env bash
# Peak memory of `wspulse analyze` on two adversarial many-flow captures, made
# on the spot by gen_flows.py (too large to ship). See bench/flows/README.md.
#
#   syn:       1,000,000 SYN-only flows 10 ms apart, --flow-timeout 1s; target < 100 MB
#   upgraded:  1,000,000 upgraded WebSocket flows all open at once,
#              --max-flows 2000000;                                target < 2 GB
#
# Prints, per scenario: flows, input size, wall time, peak RSS (GNU time's
# "Maximum resident set size"), wspulse's exit code and PASS/FAIL. MB and GB
# are decimal (10^6, 10^9 bytes). Exit status: 0 when every scenario passes.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: bench/flows/memory.sh [options]

  --flows N          flows in both scenarios (default 1000000)
  --syn-flows N      flows in the syn scenario only
  --ws-flows N       flows in the upgraded scenario only
  --only SCENARIO    run just `syn` or `upgraded`
  --stream           pipe the generator into `wspulse analyze -` instead of
                     writing the pcaps to a temporary directory (saves ~0.9 GB
                     of disk; wall time then includes generation)
  --mem-cap SIZE     address-space cap for wspulse (ulimit -v), e.g. 8G, 12G,
                     or `none` (default 8G: a runaway fails instead of taking
                     the machine down; wspulse then aborts and the run FAILs)
  --syn-target-mb N  PASS threshold for syn (default 100)
  --ws-target-mb N   PASS threshold for upgraded (default 2000)
  -h, --help         this text

Environment: WSPULSE (default target/release/wspulse; nothing is built),
TMPDIR (where the pcaps go without --stream).
Needs: python3, GNU time (/usr/bin/time; Debian package `time`).
EOF
}

SYN_FLOWS=1000000
WS_FLOWS=1000000
ONLY=
STREAM=0
MEM_CAP=8G
SYN_TARGET_MB=100
WS_TARGET_MB=2000
while [ $# -gt 0 ]; do
  case $1 in
    --flows) SYN_FLOWS=${2:?}; WS_FLOWS=$2; shift 2 ;;
    --syn-flows) SYN_FLOWS=${2:?}; shift 2 ;;
    --ws-flows) WS_FLOWS=${2:?}; shift 2 ;;
    --only) ONLY=${2:?}; shift 2 ;;
    --stream) STREAM=1; shift ;;
    --mem-cap) MEM_CAP=${2:?}; shift 2 ;;
    --syn-target-mb) SYN_TARGET_MB=${2:?}; shift 2 ;;
    --ws-target-mb) WS_TARGET_MB=${2:?}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "memory.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
case $ONLY in ''|syn|upgraded) ;; *) echo "memory.sh: --only takes syn or upgraded" >&2; exit 2 ;; esac
for n in "$SYN_FLOWS" "$WS_FLOWS" "$SYN_TARGET_MB" "$WS_TARGET_MB"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "memory.sh: not a positive integer: $n" >&2; exit 2; }
done

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
GEN=$HERE/gen_flows.py
WSPULSE=${WSPULSE:-$ROOT/target/release/wspulse}
[ -x /usr/bin/time ] || { echo "memory.sh: needs GNU time: apt-get install time" >&2; exit 1; }
command -v python3 >/dev/null || { echo "memory.sh: needs python3" >&2; exit 1; }
[ -x "$WSPULSE" ] || { echo "memory.sh: no wspulse at $WSPULSE (cargo build --release, or set WSPULSE)" >&2; exit 1; }

# ulimit -v takes KiB.
if [ "$MEM_CAP" = none ]; then
  CAP_KIB=unlimited
else
  [[ $MEM_CAP =~ ^([0-9]+)([KMGkmg]?)$ ]] || { echo "memory.sh: --mem-cap takes e.g. 8G, 512M or none" >&2; exit 2; }
  case ${BASH_REMATCH[2]^^} in
    K) CAP_KIB=${BASH_REMATCH[1]} ;;
    M) CAP_KIB=$((BASH_REMATCH[1] * 1024)) ;;
    G) CAP_KIB=$((BASH_REMATCH[1] * 1024 * 1024)) ;;
    *) CAP_KIB=$((BASH_REMATCH[1] / 1024)) ;;
  esac
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/wspulse-flows.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

# Reads wspulse's JSON report from stdin without keeping it (a million
# connections make over 5 GB of JSON): counts its bytes and picks the flow
# table and summary counters out of its head and tail (the top-level objects
# come before the connections in some versions, after them in others; they are
# told apart from per-connection keys by their indentation).
TALLY='
import re, sys
KEEP = 1 << 18
head, tail, total = b"", b"", 0
while True:
    chunk = sys.stdin.buffer.read(1 << 20)
    if not chunk:
        break
    total += len(chunk)
    if len(head) < KEEP:
        head += chunk[:KEEP - len(head)]
    tail = (tail + chunk)[-KEEP:]
text = (head if total <= KEEP else head + b"\n" + tail).decode("utf-8", "replace")
def field(section, indent, name):
    m = re.search(r"\n%s\"%s\": \{" % (" " * indent, section), text)
    m = m and re.search(r"\"%s\":\s*(\d+)" % name, text[m.end():])
    return m.group(1) if m else "?"
print("ws_connections=%s alive=%s other_tcp=%s tracked=%s idle_evictions=%s untracked_packets=%s json_bytes=%d"
      % (field("summary", 2, "connections"), field("verdicts", 4, "alive"),
         field("summary", 2, "other_tcp_connections"), field("flow_table", 4, "connections"),
         field("flow_table", 4, "idle_evictions"), field("flow_table", 4, "untracked_packets"), total))
'

RESULTS=()
FAILED=0

# run NAME FLOWS TARGET_MB GEN_ARGS... -- WSPULSE_ARGS...
run() {
  local name=$1 flows=$2 target_mb=$3
  shift 3
  local gen_args=() ws_args=()
  while [ "$1" != -- ]; do gen_args+=("$1"); shift; done
  shift
  ws_args=("$@")
  local d=$TMP/$name
  mkdir -p "$d"
  # The cap applies to wspulse alone: bash sets it, then execs wspulse, so
  # GNU time measures wspulse itself.
  local capped=(bash -c 'ulimit -v "$0" && exec "$@"' "$CAP_KIB" "$WSPULSE" analyze "${ws_args[@]}")
  local gen_s input_bytes rc=0

  echo "== $name: $flows flows (wspulse analyze ${ws_args[*]})" >&2
  if [ "$STREAM" = 1 ]; then
    set +e
    python3 "$GEN" "${gen_args[@]}" --flows "$flows" -o - 2>"$d/gen.log" \
      | /usr/bin/time -v -o "$d/time.txt" "${capped[@]}" - 2>"$d/stderr" \
      | python3 -c "$TALLY" >"$d/tally"
    set -e
    gen_s=overlapped
  else
    python3 "$GEN" "${gen_args[@]}" --flows "$flows" -o "$d/in.pcap" 2>"$d/gen.log"
    gen_s=$(sed -n 's/.* seconds=\([0-9.]*\).*/\1 s/p' "$d/gen.log")
    set +e
    /usr/bin/time -v -o "$d/time.txt" "${capped[@]}" "$d/in.pcap" 2>"$d/stderr" \
      | python3 -c "$TALLY" >"$d/tally"
    set -e
    rm -f "$d/in.pcap"
  fi
  cat "$d/gen.log" >&2
  # The generator's summary line, or its "closed early after N bytes".
  input_bytes=$(sed -n 's/.* bytes=\([0-9]*\).*/\1/p; s/.*closed early after \([0-9]*\) bytes.*/\1/p' "$d/gen.log")
  local rss_kib wall exit_code signal
  rss_kib=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$d/time.txt")
  wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$d/time.txt")
  exit_code=$(sed -n 's/.*Exit status: //p' "$d/time.txt")
  signal=$(sed -n 's/.*Command terminated by signal //p' "$d/time.txt")
  [ -n "$signal" ] && exit_code="signal $signal"
  local verdict=PASS
  if [ -z "$rss_kib" ] || [ "$exit_code" != 0 ] || [ $((rss_kib * 1024)) -ge $((target_mb * 1000000)) ]; then
    verdict=FAIL
    FAILED=1
  fi
  if [ -s "$d/stderr" ]; then
    echo "   wspulse stderr (last lines):" >&2
    tail -n 5 "$d/stderr" | sed 's/^/   | /' >&2
  fi
  echo "   report: $(cat "$d/tally")" >&2
  RESULTS+=("$(printf '| %s | %s | %.1f MB | %s | %s | %.1f MB | %s | < %s MB | %s |' \
    "$name" "$flows" "$(awk -v b="${input_bytes:-0}" 'BEGIN {print b/1e6}')" "$gen_s" "${wall:-?}" \
    "$(awk -v k="${rss_kib:-0}" 'BEGIN {print k*1024/1e6}')" "${exit_code:-?}" "$target_mb" "$verdict")")
}

if [ -z "$ONLY" ] || [ "$ONLY" = syn ]; then
  run syn "$SYN_FLOWS" "$SYN_TARGET_MB" syn --gap-ms 10 -- --format json --flow-timeout 1s
fi
if [ -z "$ONLY" ] || [ "$ONLY" = upgraded ]; then
  run upgraded "$WS_FLOWS" "$WS_TARGET_MB" upgraded --gap-us 10 -- --format json --max-flows 2000000
fi

echo
echo "wspulse: $WSPULSE ($("$WSPULSE" --version 2>/dev/null || echo '?')); mem cap: $MEM_CAP; $([ "$STREAM" = 1 ] && echo streamed || echo 'from files')"
echo "| scenario | flows | input | generation | wall | peak RSS | exit | target | result |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
printf '%s\n' "${RESULTS[@]}"
if [ "$SYN_FLOWS" -lt 1000000 ] || [ "$WS_FLOWS" -lt 1000000 ]; then
  echo "(the targets are set for 1,000,000 flows; fewer flows is a quick check only)"
fi
exit $FAILED
