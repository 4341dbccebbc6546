#!/bin/bash
# Makes one benchmark capture from real WebSocket traffic, if it is missing.
#
# Usage: bench/gen.sh small|big|wide|million|sample [OUT.pcap]     (root)
#   small    ~100 MB: 1,000 connections for 13.5 s, recorded
#   big      ~1.1 GB: the same connections for 135 s, recorded
#   wide     ~275 MB: 50,000 connections (2,000 long-lived, 48,000 of
#            0.1-10 s, 7 % of those ending without a Close: bare FIN or RST),
#            120 s, recorded
#   million  1,000,000 connections open at once: 500 connections recorded for
#            8 s (bench/caps/sample.pcap), then copied by bench/replicate:
#            each copy gets its own client address and port, starts 10 us
#            after the previous one, keeps its first 10 packets (2 s at most)
#            and never closes; ~1.5 GB (COPIES=N: N copies)
#   sample   the million capture's recording alone (~2.5 MB), also the input
#            of `cargo bench --bench stages`
# OUT defaults to $CAPS/PROFILE.pcap (CAPS defaults to bench/caps, which git
# ignores); an existing OUT is kept. Logs go beside it.
#
# Traffic: the tokio-tungstenite peers of ../shared/bench/loadgen (wsload;
# SHARED overrides ../shared), between the two network namespaces of
# bench/netns.sh (wb-cli, wb-srv), tcpdump on the server's veth with full
# snaplen. Every process is bounded in time (wsload's --duration and a hard
# `timeout`); the namespaces are removed on exit, interrupted or not.
# Needs root, iproute2, ethtool, tcpdump, cargo.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PROFILE=${1:?usage: bench/gen.sh small|big|wide|million [OUT.pcap]}
CAPS=${CAPS:-$HERE/caps}
OUT=${2:-$CAPS/$PROFILE.pcap}
SHARED=${SHARED:-$ROOT/../shared}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

if [ -s "$OUT" ]; then echo "gen: $OUT exists, kept"; exit 0; fi
mkdir -p "$(dirname "$OUT")"

if [ "$PROFILE" = million ]; then
    SAMPLE=$CAPS/sample.pcap
    "$0" sample "$SAMPLE" || exit 1
    (cd "$HERE/replicate" && cargo build --release -q) || exit 1
    timeout 600 "$CARGO_TARGET_DIR/release/replicate" --copies "${COPIES:-1000000}" \
        --gap-us 10 --window 2 --packets 10 "$SAMPLE" "$OUT.part" || { rm -f "$OUT.part"; exit 1; }
    mv "$OUT.part" "$OUT"
    exit 0
fi

# Per long-lived connection: the server sends --rate small text msgs/s
# (50-500 B, Poisson), a binary msg of 8-64 KiB every --bin-every s on
# average (0: none), a Ping every --ping s; the client sends a masked text
# msg every --client-every s on average; connections start over 5 s and
# close cleanly at --duration. Short-lived ones (wide) live 0.1-10 s.
case $PROFILE in
  small)  ARGS="--duration 13.5 --long 1000 --rate 10 --bin-every 10 --ping 5 --client-every 2" ;;
  big)    ARGS="--duration 135 --long 1000 --rate 10 --bin-every 10 --ping 5 --client-every 2" ;;
  wide)   ARGS="--duration 120 --long 2000 --rate 0.5 --bin-every 300 --ping 5 --client-every 10
                --short 48000 --short-rate 1 --short-bin-every 0 --short-ping 2 --short-client-every 2
                --short-life-min 0.1 --short-life-max 10 --fin-pct 4 --rst-pct 3" ;;
  sample) ARGS="--duration 8 --long 500 --rate 1 --bin-every 0 --ping 5 --client-every 5" ;;
  *) echo "gen: unknown profile $PROFILE (small, big, wide, million, sample)" >&2; exit 2 ;;
esac
DUR=$(echo "$ARGS" | sed -n 's/.*--duration \([0-9]*\).*/\1/p')   # whole seconds

WSLOAD_DIR=$SHARED/bench/loadgen
[ -d "$WSLOAD_DIR" ] || { echo "gen: no load generator at $WSLOAD_DIR (set SHARED)" >&2; exit 1; }
(cd "$WSLOAD_DIR" && cargo build --release -q) || exit 1
WSLOAD=$CARGO_TARGET_DIR/release/wsload

PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    "$HERE/netns.sh" down
}
trap cleanup EXIT
trap 'exit 130' INT TERM
"$HERE/netns.sh" up || exit 1
ulimit -n "$(ulimit -Hn)"      # wide: ~3,000 concurrent sockets per side

rm -f "$OUT.part"
ip netns exec wb-srv timeout $((DUR + 120)) tcpdump -Z root -i wb-vs -s 0 -B 262144 -n -w "$OUT.part" 2>"$OUT.tcpdump.log" &
TCPDUMP=$!; PIDS+=("$TCPDUMP")
sleep 1
ip netns exec wb-srv timeout $((DUR + 90)) "$WSLOAD" server --listen 10.98.0.1:8080 --duration $((DUR + 8)) 2>"$OUT.server.log" &
SERVER=$!; PIDS+=("$SERVER")
sleep 0.5
echo "gen: recording $PROFILE for about $((DUR + 12)) s"
# shellcheck disable=SC2086
ip netns exec wb-cli timeout $((DUR + 60)) "$WSLOAD" client --server 10.98.0.1:8080 \
    --src-base 10.98.0.10 --src-count 200 $ARGS --seed 42 2>"$OUT.client.log"
echo "gen: client exit $?"
sleep 2                        # let the last FIN/ACKs through
wait "$SERVER"                 # exits by itself 8 s after the client's end
sleep 0.5
kill -INT "$TCPDUMP"; wait "$TCPDUMP"
cat "$OUT.client.log" "$OUT.server.log" "$OUT.tcpdump.log"
[ -s "$OUT.part" ] || { echo "gen: nothing recorded" >&2; exit 1; }
mv "$OUT.part" "$OUT"
