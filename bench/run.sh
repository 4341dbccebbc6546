#!/bin/bash
# The whole-command benchmark, side by side in one run, with the targets.
#
# Usage: sudo bench/run.sh [small|big|wide|million|all]...     (default: small)
#
# From a fresh checkout, one command: builds wspulse (release) and the
# bench tools, makes each capture that is missing (bench/gen.sh: real
# traffic recorded between two network namespaces; the million capture is
# replicated from a recorded sample), then times on each capture:
#   floor      bench/replicate's pcap_walk: a bare record walk, the floor
#   wspulse    wspulse analyze --format json -o /dev/null CAPTURE
#   tcptrace   tcptrace -l -n CAPTURE > /dev/null        (if installed)
#   tshark     tshark -r CAPTURE -Y websocket -T fields -e frame.number > /dev/null
#              (one run: minutes and gigabytes on the big files)
# tcptrace and tshark keep every connection: on million they are run only
# with COMPARE_MILLION=1 (tens of GB; no target needs them there).
# and prints wall time (median), MB/s, million packets/s and peak RSS (GNU
# time's maximum resident set size), then each target with its figure and
# whether it holds. MB and GB are decimal (10^6, 10^9 bytes); RSS too.
#
# Env: CAPS     where captures live and are made (default bench/caps,
#               git-ignored; e.g. CAPS=/tmp/bench reuses captures there)
#      RUNS     timed runs per case except tshark (default 3; million: 1)
#      RUN_TIMEOUT   bound on one run in seconds (default 900); a run cut
#               off is reported as such
#      WSPULSE  a wspulse binary to measure instead of building one
#      SHARED   the shared tree holding bench/loadgen (default ../shared)
# Needs: cargo, GNU time (apt-get install time), tshark, capinfos; root to
# record captures; tcptrace optional. Results are also appended to
# $RESULTS (default bench/caps/results.md).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export CAPS=${CAPS:-$HERE/caps}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
RUN_TIMEOUT=${RUN_TIMEOUT:-900}
PROFILES=("$@")
[ ${#PROFILES[@]} -eq 0 ] && PROFILES=(small)
[ "${PROFILES[*]}" = all ] && PROFILES=(small big wide million)
for p in "${PROFILES[@]}"; do
    case $p in small | big | wide | million) ;; *) echo "run: unknown capture $p (small, big, wide, million, all)" >&2; exit 2 ;; esac
done
[ -x /usr/bin/time ] || { echo "run: needs GNU time: apt-get install time" >&2; exit 1; }
command -v tshark >/dev/null || { echo "run: needs tshark" >&2; exit 1; }
mkdir -p "$CAPS"

echo "run: building wspulse and the bench tools"
if [ -z "${WSPULSE:-}" ]; then
    (cd "$ROOT" && cargo build --release -q) || exit 1
    WSPULSE=$CARGO_TARGET_DIR/release/wspulse
fi
(cd "$HERE/replicate" && cargo build --release -q) || exit 1
WALK=$CARGO_TARGET_DIR/release/pcap_walk

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
REPORT=${RESULTS:-$HERE/caps/results.md}
mkdir -p "$(dirname "$REPORT")"
say() { echo "$*" | tee -a "$REPORT"; }

# one_run CMD... -> "wall_s rss_kib rc" (wall from the monotonic-ish
# nanosecond clock around the run, RSS from GNU time)
one_run() {
    local t0 t1 rc
    t0=$(date +%s.%N)
    /usr/bin/time -f "%M" -o "$TMP/time" timeout -s KILL "$RUN_TIMEOUT" "$@" >/dev/null 2>"$TMP/stderr"
    rc=$?
    t1=$(date +%s.%N)
    echo "$t0 $t1 $(tail -1 "$TMP/time") $rc" | awk '{printf "%.4f %d %d\n", $2 - $1, $3, $4}'
}

# bench LABEL RUNS CMD...: runs CMD RUNS times; sets WALL[LABEL], RSS[LABEL]
# (KiB, the largest), OK[LABEL] and prints the table row.
declare -A WALL RSS OK
bench() {
    local label=$1 n=$2 i line walls=() rss=0 bad=0
    shift 2
    for ((i = 1; i <= n; i++)); do
        read -r w r rc <<<"$(one_run "$@")"
        if [ "$rc" -ne 0 ]; then
            bad=$((bad + 1))
            echo "run: $label exited $rc: $(head -c 300 "$TMP/stderr")" >&2
            continue
        fi
        walls+=("$w")
        [ "$r" -gt "$rss" ] && rss=$r
    done
    if [ ${#walls[@]} -eq 0 ]; then
        OK[$label]=0
        say "| $label | 0 of $n | failed or cut off after ${RUN_TIMEOUT} s | | | |"
        return
    fi
    WALL[$label]=$(printf '%s\n' "${walls[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}')
    RSS[$label]=$rss
    OK[$label]=1
    line=$(awk -v l="$label" -v k=${#walls[@]} -v bad=$bad -v w="${WALL[$label]}" -v r="$rss" -v s="$SIZE" -v p="$PKTS" 'BEGIN {
        printf "| %s | %d%s | %.3f | %.0f | %.2f | %.1f |", l, k, bad ? " (" bad " failed)" : "", w, s/1e6/w, p/1e6/w, r*1024/1e6 }')
    say "$line"
}

verdict() { awk -v ok="$1" 'BEGIN { print (ok ? "holds" : "does not hold") }'; }

for PROFILE in "${PROFILES[@]}"; do
    unset WALL RSS OK
    declare -A WALL RSS OK
    CAP=$CAPS/$PROFILE.pcap
    if [ ! -s "$CAP" ]; then
        [ "$(id -u)" -eq 0 ] || { echo "run: $CAP is missing and recording it needs root" >&2; exit 1; }
        "$HERE/gen.sh" "$PROFILE" "$CAP" || { echo "run: could not make $CAP" >&2; exit 1; }
    fi
    N=${RUNS:-3}
    EXTRA=()
    if [ "$PROFILE" = million ]; then N=${RUNS:-1}; EXTRA=(--max-flows 2000000); fi
    SIZE=$(stat -L -c %s "$CAP")
    PKTS=$("$WALK" "$CAP" | sed -n 's/.*packets=\([0-9]*\).*/\1/p')
    cat "$CAP" >/dev/null   # the page cache warm for every case alike
    say ""
    say "## $PROFILE: $CAP, $(awk -v s="$SIZE" 'BEGIN {printf "%.1f MB", s/1e6}'), $PKTS packets"
    say ""
    say "$(date -u +%FT%TZ); $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(awk '/MemTotal/ {printf "%.0f GB", $2*1024/1e9}' /proc/meminfo) RAM; load average before: $(cut -d' ' -f1-3 /proc/loadavg); wspulse $(cd "$ROOT" && git describe --always --dirty 2>/dev/null)"
    say ""
    say "| case | runs | wall s (median) | MB/s | M packets/s | peak RSS MB |"
    say "|---|---|---:|---:|---:|---:|"
    bench floor "$N" "$WALK" "$CAP"
    # One thread: --threads' default may be more.
    bench wspulse "$N" "$WSPULSE" analyze --threads 1 --format json -o /dev/null "${EXTRA[@]}" "$CAP"
    if [ "$PROFILE" = million ] && [ "${COMPARE_MILLION:-0}" != 1 ]; then
        say "| tcptrace | not run on million (COMPARE_MILLION=1 runs it; it keeps every connection) | | | | |"
    elif command -v tcptrace >/dev/null; then
        # shellcheck disable=SC2016 # $1 is expanded by the inner sh
        bench tcptrace "$N" sh -c 'exec tcptrace -l -n "$1" >/dev/null' sh "$CAP"
    else
        say "| tcptrace | not installed (apt-get install tcptrace) | | | | |"
    fi
    if [ "$PROFILE" != million ] || [ "${COMPARE_MILLION:-0}" = 1 ]; then
        # shellcheck disable=SC2016 # $1 is expanded by the inner sh
        bench tshark 1 sh -c 'exec tshark -n -r "$1" -Y websocket -T fields -e frame.number >/dev/null' sh "$CAP"
    else
        OK[tshark]=0
        say "| tshark | not run on million (COMPARE_MILLION=1 runs it; it needs tens of GB there) | | | | |"
    fi

    # The JSON report once more, through a pipe: its size, its connections,
    # and how many were still open when the capture ended.
    timeout -s KILL "$RUN_TIMEOUT" "$WSPULSE" analyze --format json "${EXTRA[@]}" "$CAP" 2>/dev/null |
        tee >(tail -c 20000 >"$TMP/tail") | wc -c >"$TMP/bytes"
    sleep 1
    JSON_BYTES=$(cat "$TMP/bytes")
    CONNS=$(awk '/"summary": \{/ {s=1} s && /"connections":/ {gsub(/[^0-9]/, "", $2); print $2; exit}' "$TMP/tail")
    PEAK=$(awk '/"peak_connections":/ {gsub(/[^0-9]/, "", $2); print $2; exit}' "$TMP/tail")
    say ""
    say "Targets ($PROFILE):"
    if [ -n "$CONNS" ] && [ "$CONNS" -gt 0 ]; then
        say "- JSON bytes per connection: $(awk -v b="$JSON_BYTES" -v c="$CONNS" 'BEGIN {printf "%.0f", b/c}') ($JSON_BYTES bytes for $CONNS WebSocket connections; at most $PEAK connections open at once)"
    else
        say "- JSON bytes per connection: no connection in the report ($JSON_BYTES bytes)"
    fi
    if [ "${OK[wspulse]}" != 1 ]; then
        say "- wspulse did not finish: no target holds"
        continue
    fi
    MBS=$(awk -v s="$SIZE" -v w="${WALL[wspulse]}" 'BEGIN {printf "%.0f", s/1e6/w}')
    MPPS=$(awk -v p="$PKTS" -v w="${WALL[wspulse]}" 'BEGIN {printf "%.2f", p/1e6/w}')
    RSS_MB=$(awk -v r="${RSS[wspulse]}" 'BEGIN {printf "%.1f", r*1024/1e6}')
    case $PROFILE in
    big)
        say "- one thread >= 1000 MB/s and >= 3 M packets/s: $MBS MB/s, $MPPS M packets/s: $(verdict "$(awk -v a="$MBS" -v b="$MPPS" 'BEGIN {print (a >= 1000 && b >= 3)}')")"
        if "$WSPULSE" analyze --help 2>/dev/null | grep -q -- '--threads'; then
            bench wspulse-2-threads "$N" "$WSPULSE" analyze --threads 2 --format json -o /dev/null "$CAP"
            RATIO=$(awk -v one="${WALL[wspulse]}" -v two="${WALL[wspulse-2-threads]:-0}" 'BEGIN {printf "%.2f", two ? one/two : 0}')
            say "- two threads >= 1.6x one thread: $(awk -v s="$SIZE" -v w="${WALL[wspulse-2-threads]:-0}" 'BEGIN {printf "%.0f MB/s", w ? s/1e6/w : 0}'), ${RATIO}x: $(verdict "$(awk -v r="$RATIO" 'BEGIN {print (r >= 1.6)}')")"
        else
            say "- two threads: not built (analyze has no --threads)"
        fi
        ;;
    wide)
        if [ "${OK[tshark]}" = 1 ]; then
            RATIO=$(awk -v t="${WALL[tshark]}" -v w="${WALL[wspulse]}" 'BEGIN {printf "%.1f", t/w}')
            say "- >= 50x tshark's WebSocket decode: ${RATIO}x: $(verdict "$(awk -v r="$RATIO" 'BEGIN {print (r >= 50)}')")"
        else
            say "- >= 50x tshark's WebSocket decode: tshark did not finish"
        fi
        say "- >= 400 MB/s: $MBS MB/s: $(verdict "$(awk -v a="$MBS" 'BEGIN {print (a >= 400)}')")"
        say "- peak RSS <= 64 MB with JSON output: $RSS_MB MB: $(verdict "$(awk -v a="$RSS_MB" 'BEGIN {print (a <= 64)}')")"
        ;;
    million)
        # Baseline: the same binary on the recorded sample (a few hundred
        # connections): what a run costs before connections do.
        BASE_KIB=0
        if [ -s "$CAPS/sample.pcap" ]; then
            read -r _ BASE_KIB _ <<<"$(one_run "$WSPULSE" analyze --format json -o /dev/null "$CAPS/sample.pcap")"
        fi
        say "- 1,000,000 connections open at once: $PEAK open at the peak, $CONNS judged: $(verdict "$(awk -v p="${PEAK:-0}" 'BEGIN {print (p >= 1000000)}')")"
        say "- peak RSS under 1 GB: $RSS_MB MB: $(verdict "$(awk -v a="$RSS_MB" 'BEGIN {print (a < 1000)}')")"
        say "- bytes per open connection, (peak RSS - baseline RSS) / 1e6: $(awk -v r="${RSS[wspulse]}" -v b="$BASE_KIB" 'BEGIN {printf "%.0f", (r-b)*1024/1e6}') (baseline $(awk -v b="$BASE_KIB" 'BEGIN {printf "%.1f MB", b*1024/1e6}') on sample.pcap)"
        ;;
    small)
        if [ "${OK[tshark]}" = 1 ]; then
            say "- (no target) $(awk -v t="${WALL[tshark]}" -v w="${WALL[wspulse]}" 'BEGIN {printf "%.1fx", t/w}') tshark's WebSocket decode, $MBS MB/s, $RSS_MB MB RSS"
        fi
        ;;
    esac
done
