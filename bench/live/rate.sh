#!/usr/bin/env bash
# shellcheck disable=SC2015  # "check && check || die" is meant: any failed check dies
# The packet rate `wspulse live -i` keeps up with, without kernel drops, on
# real WebSocket traffic: steps of increasing offered load between two
# network namespaces, one wspulse process per step. See bench/live/README.md.
#
#   sudo bench/live/rate.sh [options]
#
# Per step: `wspulse live -i veth_pb --format ndjson --stats-interval 5s
# -o STEP/wspulse.ndjson --duration S+7s tcp port 8080` runs in perf_b (the
# server's namespace) under GNU time, while the wsload server (perf_b) and
# client (perf_a, 200 source addresses) run the "big" profile of
# ../shared/bench/gen_capture.sh with its per-connection rates multiplied
# by the step's factor. tcpdump -w /dev/null with the same kernel buffer
# runs beside it as a reference (--no-tcpdump leaves it out). With
# --replay, further steps send a recorded capture of that traffic again
# with tcpreplay, faster than the TCP peers can make it. The figures per
# step (summarize.py) go to RUN/table.md and the terminal.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: sudo bench/live/rate.sh [options]

  --steps "M ..."   load multipliers of the big profile's per-connection rates,
                    one step each, in order (default "1 2 4 8 16"; "" for none);
                    factor M runs wsload client --rate 10*M --bin-every 10/M
                    --client-every 2/M (Pings stay every 5 s)
  --long N          connections, all open for the whole step (default 1000)
  --secs S          seconds of load per step (default 30; 20 to 300)
  --buffer SIZE     wspulse -B and tcpdump -B (default 32M, wspulse's default)
  --threads N       tokio worker threads of each wsload process (default 2)
  --no-tcpdump      do not run tcpdump -w /dev/null beside wspulse
  --replay "R ..."  after the wsload steps, one step per R: 12 s of the x4 load,
                    recorded once, sent again by tcpreplay at R packets/s in all
                    (`max`: as fast as it goes), new client addresses each loop;
                    needs tcpreplay (apt-get install tcpreplay)
  --replay-senders N  tcpreplay processes sending at once (default 1; 1 to 4)
  --replay-pcap F   replay this capture (TCP port 8080, Ethernet) instead of
                    recording one
  --wspulse PATH    use this wspulse (built with --features live); nothing built
  --wsload PATH     use this wsload; nothing built
  --out DIR         where the step records go (default bench/live/results/<UTC time>)
  --force           run even when the namespaces perf_a / perf_b already exist
                    (another run of netns.sh is using them; this one removes them)
  -h, --help        this text

Environment: CARGO_TARGET_DIR (default: the repository's target/), used for
both builds (release; wspulse with --features live); TMPDIR (the recorded
replay capture, ~0.3 GB, removed on exit).
Needs root, iproute2, ethtool, tcpdump, python3, GNU time (/usr/bin/time),
cargo, libpcap-dev. The default run takes about 3.5 minutes (each --replay
step adds about 40 s, the recording 20 s); every process is bounded by a
hard timeout, and the namespaces are removed on exit.
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/bench/live
SHARED=$ROOT/../shared/bench
STEPS="1 2 4 8 16"
LONG=1000
SECS=30
BUFFER=32M
THREADS=2
TCPDUMP=1
REPLAY=
REPLAY_SENDERS=1
REPLAY_PCAP=
WSPULSE=
WSLOAD=
OUT=
FORCE=0
while [ $# -gt 0 ]; do
  case $1 in
    --steps) STEPS=${2?--steps needs a list}; shift 2 ;;
    --long) LONG=${2:?--long needs a number}; shift 2 ;;
    --secs) SECS=${2:?--secs needs seconds}; shift 2 ;;
    --buffer) BUFFER=${2:?--buffer needs a size}; shift 2 ;;
    --threads) THREADS=${2:?--threads needs a number}; shift 2 ;;
    --no-tcpdump) TCPDUMP=0; shift ;;
    --replay) REPLAY=${2:?--replay needs packet rates}; shift 2 ;;
    --replay-senders) REPLAY_SENDERS=${2:?--replay-senders needs a number}; shift 2 ;;
    --replay-pcap) REPLAY_PCAP=${2:?--replay-pcap needs a file}; shift 2 ;;
    --wspulse) WSPULSE=${2:?--wspulse needs a path}; shift 2 ;;
    --wsload) WSLOAD=${2:?--wsload needs a path}; shift 2 ;;
    --out) OUT=${2:?--out needs a directory}; shift 2 ;;
    --force) FORCE=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "rate.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

die() { echo "rate.sh: $*" >&2; exit 2; }
note() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
[[ $LONG =~ ^[0-9]+$ ]] && [ "$LONG" -ge 1 ] && [ "$LONG" -le 20000 ] || die "--long takes 1 to 20000"
[[ $SECS =~ ^[0-9]+$ ]] && [ "$SECS" -ge 20 ] && [ "$SECS" -le 300 ] || die "--secs takes 20 to 300"
[[ $THREADS =~ ^[0-9]+$ ]] && [ "$THREADS" -ge 1 ] && [ "$THREADS" -le 16 ] || die "--threads takes 1 to 16"
[[ $REPLAY_SENDERS =~ ^[1-4]$ ]] || die "--replay-senders takes 1 to 4"
[[ $BUFFER =~ ^[0-9]+[KMG]?$ ]] || die "--buffer takes a size such as 32M"
NSTEPS=0
for m in $STEPS; do
  [[ $m =~ ^[0-9]+(\.[0-9]+)?$ ]] && awk -v m="$m" 'BEGIN { exit !(m > 0 && m <= 100) }' \
    || die "--steps takes multipliers above 0 and up to 100, e.g. \"1 2 4\" (got $m)"
  NSTEPS=$((NSTEPS + 1))
done
NREPLAY=0
for r in $REPLAY; do
  [ "$r" = max ] || { [[ $r =~ ^[0-9]+$ ]] && [ "$r" -ge 1000 ] && [ "$r" -le 10000000 ]; } \
    || die "--replay takes packet rates from 1000 to 10000000, or max (got $r)"
  NREPLAY=$((NREPLAY + 1))
done
[ $((NSTEPS + NREPLAY)) -ge 1 ] && [ "$NSTEPS" -le 20 ] && [ "$NREPLAY" -le 20 ] \
  || die "--steps and --replay take up to 20 steps each, at least one in all"
[ "$(id -u)" -eq 0 ] || die "run as root (namespaces and capture need it)"
for t in ip ethtool python3 timeout; do command -v "$t" >/dev/null || die "missing tool: $t"; done
[ -x /usr/bin/time ] || die "needs GNU time: apt-get install time"
if [ "$TCPDUMP" -eq 1 ] || { [ "$NREPLAY" -gt 0 ] && [ -z "$REPLAY_PCAP" ]; }; then
  command -v tcpdump >/dev/null || die "missing tool: tcpdump (or pass --no-tcpdump)"
fi
if [ "$NREPLAY" -gt 0 ]; then
  command -v tcpreplay >/dev/null || die "--replay needs tcpreplay: apt-get install tcpreplay"
  command -v iptables >/dev/null || die "--replay needs iptables"
  if [ -n "$REPLAY_PCAP" ]; then
    [ -r "$REPLAY_PCAP" ] || die "cannot read $REPLAY_PCAP"
    REPLAY_PCAP=$(readlink -f "$REPLAY_PCAP")
  fi
fi
[ -x "$SHARED/netns.sh" ] || die "no $SHARED/netns.sh (../shared/bench beside the repository)"
if [ "$FORCE" -eq 0 ] && ip netns list | grep -qE '^perf_(a|b)( |$)'; then
  die "namespace perf_a or perf_b exists: another benchmark is running (--force removes it)"
fi

# the buffer size in KiB, for tcpdump -B
case $BUFFER in
  *G) BUF_KIB=$((${BUFFER%G} * 1024 * 1024)) ;;
  *M) BUF_KIB=$((${BUFFER%M} * 1024)) ;;
  *K) BUF_KIB=${BUFFER%K} ;;
  *) BUF_KIB=$((BUFFER / 1024)) ;;
esac

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
if [ -z "$WSPULSE" ]; then
  note "building wspulse (release, --features live) in $CARGO_TARGET_DIR"
  (cd "$ROOT" && cargo build --release --features live -q) || die "wspulse build failed"
  WSPULSE=$CARGO_TARGET_DIR/release/wspulse
fi
if [ -z "$WSLOAD" ] && { [ "$NSTEPS" -gt 0 ] || [ -z "$REPLAY_PCAP" ]; }; then
  note "building wsload (release) in $CARGO_TARGET_DIR"
  (cd "$SHARED/loadgen" && cargo build --release -q) || die "wsload build failed"
  WSLOAD=$CARGO_TARGET_DIR/release/wsload
fi
[ -x "$WSPULSE" ] || die "no wspulse at $WSPULSE"
[ -z "$WSLOAD" ] || [ -x "$WSLOAD" ] || die "no wsload at $WSLOAD"

OUT=${OUT:-$HERE/results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/wspulse-rate.XXXXXX")
HARD=$((SECS + 60))                     # no process outlives its step by much

# Processes this script started (their timeout wrappers' ids); the trap
# ends exactly these, then removes the namespaces and the work directory.
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  "$SHARED/netns.sh" down
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

note "namespaces perf_a / perf_b up"
"$SHARED/netns.sh" up || die "netns.sh up failed"
ulimit -n "$(ulimit -Hn)"

# veth_pb's counters, seen from perf_b: "rx_packets rx_bytes tx_packets tx_bytes"
iface_counters() {
  ip -n perf_b -s -j link show veth_pb | python3 -c '
import json, sys
s = json.load(sys.stdin)[0]["stats64"]
print(s["rx"]["packets"], s["rx"]["bytes"], s["tx"]["packets"], s["tx"]["bytes"])'
}

# sample_proc PID FILE: every 0.5 s, "unix_time utime_ticks stime_ticks
# rss_kib context_switches" of the process under PID's timeout and GNU time
# wrappers (the grandchild: wspulse itself; switches summed over its
# threads, voluntary and not), until it ends; at most SECS + 70 s.
sample_proc() {
  local top=$1 file=$2 mid="" pid="" stat rss sw f
  for _ in $(seq 40); do
    mid=$(cat "/proc/$top/task/$top/children" 2>/dev/null || true)
    mid=${mid%% *}
    [ -n "$mid" ] && pid=$(cat "/proc/$mid/task/$mid/children" 2>/dev/null || true)
    pid=${pid%% *}
    [ -n "$pid" ] && break
    sleep 0.05
  done
  [ -n "$pid" ] || return 0
  for _ in $(seq $(((SECS + 70) * 2))); do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || break
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) || break
    sw=$(cat "/proc/$pid"/task/*/status 2>/dev/null | awk '/ctxt_switches:/ { n += $2 } END { print n + 0 }')
    stat=${stat##*) }                   # fields from the 3rd on (the name may hold spaces)
    read -r -a f <<<"$stat"
    echo "$(date +%s.%N) ${f[11]} ${f[12]} ${rss:-0} $sw"
    sleep 0.5
  done >"$file"
}

# Records of one step go to $OUT/stepI: meta.env (load, counters before and
# after), wspulse.ndjson, *.time (GNU time: wall, user, sys, max RSS KiB),
# the load's and tcpdump's logs; summarize.py reads them.

# measure_step INDEX LABEL LOAD_FUNCTION ARG: wspulse (and tcpdump) around
# one run of LOAD_FUNCTION, which runs in the foreground, bounded, and sets
# T_START / T_END (wall clock) around the load.
measure_step() {
  local i=$1 label=$2 load=$3 arg=$4 c0 c1 ws sampler td=""
  D=$OUT/step$i
  mkdir -p "$D"
  read -r -a c0 <<<"$(iface_counters)"
  {
    echo "step=$i"
    echo "label=$label"
    echo "loadavg=$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "ncpu=$(nproc)"
    echo "procstat_before=$(head -1 /proc/stat)"
    echo "rx_packets_before=${c0[0]}"
    echo "rx_bytes_before=${c0[1]}"
    echo "tx_packets_before=${c0[2]}"
    echo "tx_bytes_before=${c0[3]}"
  } >"$D/meta.env"

  if [ "$TCPDUMP" -eq 1 ]; then
    ip netns exec perf_b timeout -s KILL "$HARD" /usr/bin/time -f "%e %U %S %M" -o "$D/tcpdump.time" \
      tcpdump -i veth_pb -B "$BUF_KIB" -s 0 -n -w /dev/null tcp port 8080 2>"$D/tcpdump.log" &
    td=$!
    PIDS+=("$td")
  fi
  ip netns exec perf_b timeout -s KILL "$HARD" /usr/bin/time -f "%e %U %S %M" -o "$D/wspulse.time" \
    "$WSPULSE" live -i veth_pb -B "$BUFFER" --format ndjson --stats-interval 5s \
    -o "$D/wspulse.ndjson" --duration "$((SECS + 7))s" tcp port 8080 2>"$D/wspulse.err" &
  ws=$!
  PIDS+=("$ws")
  # the header record says the device is open (at most 10 s)
  for _ in $(seq 100); do
    grep -q '"type":"header"' "$D/wspulse.ndjson" 2>/dev/null && break
    kill -0 "$ws" 2>/dev/null || break
    sleep 0.1
  done
  grep -q '"type":"header"' "$D/wspulse.ndjson" 2>/dev/null || { cat "$D/wspulse.err" >&2; die "wspulse did not start"; }
  sample_proc "$ws" "$D/wspulse.samples" &
  sampler=$!
  PIDS+=("$sampler")

  "$load" "$arg"

  wait "$ws" || note "step $i: wspulse exited $? ($(tail -1 "$D/wspulse.err"))"
  wait "$sampler" || true
  if [ -n "$td" ]; then
    kill -INT "$td" 2>/dev/null || true # timeout hands SIGINT on to tcpdump
    wait "$td" || true
  fi
  PIDS=()
  read -r -a c1 <<<"$(iface_counters)"
  {
    echo "load_start=$T_START"
    echo "load_end=$T_END"
    echo "procstat_after=$(head -1 /proc/stat)"
    echo "rx_packets_after=${c1[0]}"
    echo "rx_bytes_after=${c1[1]}"
    echo "tx_packets_after=${c1[2]}"
    echo "tx_bytes_after=${c1[3]}"
  } >>"$D/meta.env"
  python3 "$HERE/summarize.py" step "$D"
}

# wsload_args MULTIPLIER SECONDS SEED: the big profile, rates times MULTIPLIER
wsload_args() {
  awk -v m="$1" -v s="$2" -v seed="$3" -v long="$LONG" -v th="$THREADS" 'BEGIN {
    printf "--duration %d --long %d --rate %g --bin-every %g --ping 5 --client-every %g --seed %d --threads %d",
      s, long, 10 * m, 10 / m, 2 / m, seed, th }'
}

# load_wsload MULTIPLIER: a wsload server in perf_b, the client in perf_a
# for SECS seconds (connections opened over the first 5 s, closed cleanly
# at the end); the server stops 4 s after the client's end.
load_wsload() {
  local args srv
  args=$(wsload_args "$1" "$SECS" $((42 + ${D##*step})))
  echo "load=wsload client $args" >>"$D/meta.env"
  ip netns exec perf_b timeout -s KILL "$HARD" /usr/bin/time -f "%e %U %S %M" -o "$D/server.time" \
    "$WSLOAD" server --listen 10.98.0.1:8080 --duration $((SECS + 4)) --threads "$THREADS" 2>"$D/server.log" &
  srv=$!
  PIDS+=("$srv")
  sleep 0.5
  T_START=$(date +%s.%N)
  # shellcheck disable=SC2086  # args is a word list
  ip netns exec perf_a timeout -s KILL "$HARD" /usr/bin/time -f "%e %U %S %M" -o "$D/client.time" \
    "$WSLOAD" client --server 10.98.0.1:8080 --src-base 10.98.0.10 --src-count 200 $args \
    2>"$D/client.log" || note "wsload client exited $?"
  T_END=$(date +%s.%N)
  wait "$srv" || note "wsload server exited $?"
}

# load_replay PPS: REPLAY_SENDERS tcpreplay processes in perf_a send the
# recorded capture onto veth_pa for SECS seconds, each at PPS/senders
# packets/s (PPS "max": as fast as they go), new client addresses on every
# loop (--unique-ip), so every loop is new connections, handshake first.
load_replay() {
  local rate=$1 mode j pids=()
  if [ "$rate" = max ]; then
    mode="--topspeed"
  else
    mode="--pps=$((rate / REPLAY_SENDERS)) --pps-multi=20"
  fi
  echo "load=tcpreplay x$REPLAY_SENDERS $mode --unique-ip $(basename "$REPLAY_PCAP")" >>"$D/meta.env"
  T_START=$(date +%s.%N)
  for j in $(seq "$REPLAY_SENDERS"); do
    # SIGINT at the end of the step: tcpreplay prints its counters and stops
    # shellcheck disable=SC2086  # mode is a word list
    ip netns exec perf_a timeout -k 5 -s INT "$SECS" /usr/bin/time -f "%e %U %S %M" -o "$D/sender$j.time" \
      tcpreplay -i veth_pa $mode --loop=1000 --unique-ip --unique-ip-loops="$j" "$REPLAY_PCAP" \
      >"$D/sender$j.log" 2>&1 &
    pids+=("$!")
    PIDS+=("$!")
  done
  for j in "${pids[@]}"; do wait "$j" || true; done
  T_END=$(date +%s.%N)
}

# record_source: 12 s of the x4 load written by tcpdump in perf_b, the
# capture the replay steps send again
record_source() {
  local td srv args
  REPLAY_PCAP=$WORK/source-x4.pcap
  ip netns exec perf_b timeout -s KILL 60 tcpdump -i veth_pb -B 262144 -s 0 -n -U -w "$REPLAY_PCAP" \
    tcp port 8080 2>"$OUT/replay-source.tcpdump.log" &
  td=$!
  PIDS+=("$td")
  sleep 1
  ip netns exec perf_b timeout -s KILL 60 "$WSLOAD" server --listen 10.98.0.1:8080 --duration 16 \
    --threads "$THREADS" 2>"$OUT/replay-source.server.log" &
  srv=$!
  PIDS+=("$srv")
  sleep 0.5
  args=$(wsload_args 4 12 7)
  # shellcheck disable=SC2086
  ip netns exec perf_a timeout -s KILL 60 "$WSLOAD" client --server 10.98.0.1:8080 \
    --src-base 10.98.0.10 --src-count 200 $args 2>"$OUT/replay-source.client.log" || true
  wait "$srv" || true
  sleep 1
  kill -INT "$td" 2>/dev/null || true
  wait "$td" || true
  PIDS=()
  [ -s "$REPLAY_PCAP" ] || die "recording the replay source failed (see $OUT/replay-source.*.log)"
}

{
  echo "# bench/live/rate.sh $(date -u +%FT%TZ)"
  echo "# $(nproc) cpus, loadavg $(cut -d' ' -f1-3 /proc/loadavg); $("$WSPULSE" --version 2>/dev/null || echo wspulse)" \
    "($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'))"
  echo "# wsload steps: ${STEPS:-none} ($LONG connections, wsload threads $THREADS); replay steps: ${REPLAY:-none}" \
    "($REPLAY_SENDERS senders); $SECS s each; -B $BUFFER; tcpdump $([ "$TCPDUMP" -eq 1 ] && echo beside || echo off)"
} >"$OUT/run.txt"
cat "$OUT/run.txt" >&2
i=0
for m in $STEPS; do
  i=$((i + 1))
  note "step $i: wsload x$m ($LONG connections, $SECS s)"
  measure_step "$i" "x$m" load_wsload "$m"
  sleep 2                               # TIME_WAITs and the last ACKs settle
done
if [ "$NREPLAY" -gt 0 ]; then
  if [ -z "$REPLAY_PCAP" ]; then
    note "recording the replay source: 12 s of the x4 load"
    record_source
  fi
  # Nothing in perf_b answers the replayed packets (no RST for connections
  # its stack does not know); the tap sees them before netfilter does.
  ip netns exec perf_b iptables -t raw -I PREROUTING -i veth_pb -j DROP
  for r in $REPLAY; do
    i=$((i + 1))
    note "step $i: tcpreplay at $r packets/s ($REPLAY_SENDERS senders, $SECS s)"
    measure_step "$i" "replay $r" load_replay "$r"
    sleep 1
  done
fi
{
  cat "$OUT/run.txt"
  echo
  python3 "$HERE/summarize.py" table "$OUT"
} >"$OUT/table.md"
echo
cat "$OUT/table.md"
note "records in $OUT"
