#!/usr/bin/env bash
# Record the application-heartbeat samples: real Socket.IO, graphql-ws, MQTT
# and STOMP implementations over a real Linux TCP stack, in two private
# network namespaces joined by a veth pair (the same set-up as record.sh).
#
#   sudo samples/record-app.sh [SCENARIO...]     (no argument = all scenarios)
#
# Writes samples/app/NAME.pcap (tcpdump inside the server namespace),
# samples/app/NAME.truth.json (built by peers/app/mktruth_app.py from the
# peers' own logs, never from the pcap) and samples/app/logs/NAME.tar.gz.
# WSP_KEEP_LOGS=DIR keeps the raw logs and peer output under DIR/NAME/.
#
# Needs: root, ip, tcpdump, ethtool, timeout, strace and cc (MQTT), node + npm (the peers' packages are
# installed from samples/peers/app/package-lock.json with `npm ci` if
# node_modules is missing), Debian mosquitto and python3-paho-mqtt for the
# MQTT scenarios (installed with apt if missing).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PEERS=$HERE/peers/app
OUT=$HERE/app
PY=/usr/bin/python3
NODE=$(command -v node || true)
export PYTHONDONTWRITEBYTECODE=1
SNS=wh-srv
CNS=wh-cli
SVETH=wh-s
CVETH=wh-c
SIP=10.81.0.1
CIP=10.81.0.2
PORT=8080
FAULT_AFTER=8      # seconds after the connection opens
AFTER_FAULT=14     # seconds of capture after the fault
HEALTHY=20         # seconds of capture for the healthy scenarios

ALL=()
for p in sio gql mqtt stomp; do
  for s in healthy client-frozen server-frozen app-pings-dropped; do ALL+=("$p-$s"); done
done

die() { echo "record-app.sh: $*" >&2; exit 1; }
note() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
now() { date -u +%s.%6N; }

[[ $(id -u) -eq 0 ]] || die "run as root (sudo samples/record-app.sh)"
for t in ip tcpdump timeout ethtool; do
  command -v "$t" >/dev/null || die "missing tool: $t"
done
[[ -n $NODE ]] || die "missing tool: node"
if [[ ! -d $PEERS/node_modules ]]; then
  note "installing the peers' npm packages (npm ci)"
  (cd "$PEERS" && timeout 300 npm ci --no-audit --no-fund >/dev/null) || die "npm ci failed in $PEERS"
fi

WORK=$(mktemp -d /tmp/wh-rec.XXXXXX)
PIDS=()
TCPDUMP_PID=""

ns_down() {
  ip netns del "$SNS" 2>/dev/null || true
  ip netns del "$CNS" 2>/dev/null || true
}

kill_all() {
  local p
  for p in "${PIDS[@]}"; do
    kill -CONT "$p" 2>/dev/null || true
    kill -TERM "$p" 2>/dev/null || true
  done
  for _ in $(seq 1 20); do
    local alive=0
    for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [[ $alive -eq 0 ]] && break
    sleep 0.1
  done
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
  if [[ -n $TCPDUMP_PID ]]; then
    kill -INT "$TCPDUMP_PID" 2>/dev/null || true
    sleep 0.3
    kill -KILL "$TCPDUMP_PID" 2>/dev/null || true
    wait "$TCPDUMP_PID" 2>/dev/null || true
    TCPDUMP_PID=""
  fi
}

cleanup() {
  local rc=$?
  set +e
  kill_all
  ns_down
  if [[ -z ${WSP_KEEP_WORK:-} ]]; then rm -rf "$WORK"; else note "work dir kept: $WORK"; fi
  [[ $rc -ne 0 ]] && note "FAILED (exit $rc)"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ns_up() {
  ns_down
  ip netns add "$SNS"
  ip netns add "$CNS"
  ip link add "$SVETH" mtu 1500 type veth peer name "$CVETH" mtu 1500
  ip link set "$SVETH" netns "$SNS"
  ip link set "$CVETH" netns "$CNS"
  local ns dev ip4
  for ns in "$SNS" "$CNS"; do
    if [[ $ns == "$SNS" ]]; then dev=$SVETH ip4=$SIP; else dev=$CVETH ip4=$CIP; fi
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$ip4/24" dev "$dev"
    ip -n "$ns" link set "$dev" up
    # tx off: checksums computed in software so the pcap has valid ones
    ip netns exec "$ns" ethtool -K "$dev" tso off gso off gro off tx off >/dev/null 2>&1 \
      || note "ethtool -K failed on $dev"
  done
  local i
  for i in $(seq 1 50); do
    ip netns exec "$CNS" $PY -c 'import socket,sys
s=socket.socket(); s.settimeout(0.5)
try: s.connect((sys.argv[1], 9))
except ConnectionRefusedError: sys.exit(0)
except OSError: sys.exit(1)' "$SIP" && return 0
    sleep 0.1
  done
  die "namespaces up but $SIP not reachable"
}

D=""
meta() { printf '%s\t%s\n' "$1" "$2" >>"$D/meta.tsv"; }

start_capture() {  # NAME
  ip netns exec "$SNS" timeout 120 tcpdump -i "$SVETH" --immediate-mode -U -s 0 -w "$D/$1.pcap" tcp >"$D/tcpdump.out" 2>&1 &
  TCPDUMP_PID=$!
  local i
  for i in $(seq 1 50); do
    grep -q "listening on" "$D/tcpdump.out" 2>/dev/null && { meta capture_start "$(now)"; return 0; }
    sleep 0.1
  done
  die "tcpdump did not start: $(cat "$D/tcpdump.out")"
}

stop_capture() {
  # frames written before this instant are the ones on the wire in the
  # capture (the truth counts those); the recorded end comes after tcpdump exits
  meta capture_stop_signal "$(now)"
  kill -INT "$TCPDUMP_PID" 2>/dev/null || true
  local i
  for i in $(seq 1 30); do
    kill -0 "$TCPDUMP_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$TCPDUMP_PID" 2>/dev/null || true
  wait "$TCPDUMP_PID" 2>/dev/null || true
  TCPDUMP_PID=""
  # taken once tcpdump has exited, so that no captured packet is later than
  # the recorded end (the pcapng's isb_endtime, the evaluation time)
  meta capture_end "$(now)"
  tail -n 3 "$D/tcpdump.out" | sed 's/^/  tcpdump: /' >&2
}

LAST_PID=""
spawn() {  # NS NAME cmd...   (exec'd by ip netns exec: $! is the peer's pid)
  local ns=$1 name=$2
  shift 2
  ip netns exec "$ns" "$@" >"$D/$name.out" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

wait_for() {  # FILE PATTERN COUNT SECONDS
  local f=$1 pat=$2 cnt=$3 secs=$4 i
  for i in $(seq 1 $((secs * 10))); do
    if [[ -f $f ]] && [[ $(grep -c -- "$pat" "$f" || true) -ge $cnt ]]; then return 0; fi
    sleep 0.1
  done
  die "timeout waiting for '$pat' x$cnt in $f ($(tail -n 5 "$D"/*.out 2>/dev/null | tr '\n' ' '))"
}

finish() {  # NAME
  local name=$1
  if [[ -f $D/mosquitto.strace ]]; then
    $PY "$PEERS/strace2log.py" "$D/mosquitto.strace" "$D/server.jsonl"
  fi
  $PY "$PEERS/mktruth_app.py" --dir "$D" --out "$OUT/$name.truth.json"
  # pcapng with isb_endtime: a frozen peer's point is the silence after the
  # last packet, which only the recorded end of the capture shows
  $PY "$HERE/peers/endmark.py" "$D/$name.pcap" \
    "$(awk -F'\t' '$1=="capture_end"{print $2}' "$D/meta.tsv")" "$OUT/$name.pcapng"
  mkdir -p "$OUT/logs"
  (cd "$D" && tar -czf "$OUT/logs/$name.tar.gz" --owner=0 --group=0 --numeric-owner ./*.jsonl meta.tsv $(cd "$D" && ls ./*.log 2>/dev/null))
  chmod 644 "$OUT/$name.pcapng" "$OUT/$name.truth.json" "$OUT/logs/$name.tar.gz"
  if [[ -n ${WSP_KEEP_LOGS:-} ]]; then
    mkdir -p "$WSP_KEEP_LOGS/$name"
    cp "$D"/*.jsonl "$D"/meta.tsv "$D"/*.out "$WSP_KEEP_LOGS/$name/" 2>/dev/null || true
  fi
  note "$name: $(stat -c %s "$OUT/$name.pcapng") bytes"
}

# --- the peers, per protocol ---------------------------------------------------
# Each start_PROTO SCENARIO starts the server and the client for a scenario and
# sets SERVER_PID and CLIENT_PID (the processes a freeze stops).
SERVER_PID=""
CLIENT_PID=""
LIFE=60

start_sio() {
  local sargs=(--ping-interval 2000 --ping-timeout 1000) cargs=()
  case $1 in
    app-pings-dropped)
      # pingTimeout 20 s so that Engine.IO does not close the connection 1 s
      # after the first unanswered ping: the fault stays visible on the wire
      sargs=(--ping-interval 2000 --ping-timeout 20000 --ws-ping-interval 2000)
      cargs=(--drop-app-pings-after "$FAULT_AFTER") ;;
  esac
  spawn "$SNS" server $NODE "$PEERS/sio-server.js" --log "$D/server.jsonl" --port $PORT --lifetime $LIFE "${sargs[@]}"
  SERVER_PID=$LAST_PID
  wait_for "$D/server.jsonl" '"ev":"listening"' 1 10
  spawn "$CNS" client $NODE "$PEERS/sio-client.js" --log "$D/client.jsonl" --url "http://$SIP:$PORT" --lifetime $LIFE "${cargs[@]}"
  CLIENT_PID=$LAST_PID
}

start_gql() {
  local sargs=() cargs=()
  case $1 in
    app-pings-dropped)
      sargs=(--drop-app-pongs-after "$FAULT_AFTER")
      cargs=(--ws-ping-interval 2000) ;;
  esac
  spawn "$SNS" server $NODE "$PEERS/gql-server.js" --log "$D/server.jsonl" --port $PORT --lifetime $LIFE "${sargs[@]}"
  SERVER_PID=$LAST_PID
  wait_for "$D/server.jsonl" '"ev":"listening"' 1 10
  spawn "$CNS" client $NODE "$PEERS/gql-client.js" --log "$D/client.jsonl" --url "ws://$SIP:$PORT/graphql" --lifetime $LIFE "${cargs[@]}"
  CLIENT_PID=$LAST_PID
}

describe() {  # PROTO SCENARIO -> the truth's description
  local what
  case $1 in
    sio) what="Socket.IO 4 (npm socket.io/socket.io-client, Engine.IO v4, transports websocket only, reconnection off; pingInterval 2000 ms): the server sends the Engine.IO ping '2', the client answers '3'" ;;
    gql) what="graphql-transport-ws (npm graphql-ws useServer on ws with its WebSocket keep-alive off; client createClient keepAlive 2000 ms, lazy false, retryAttempts 0): the client sends {\"type\":\"ping\"} 2 s after each pong, the server answers {\"type\":\"pong\"}" ;;
    mqtt) what="MQTT 3.1.1 over WebSocket (Debian mosquitto, listener 9001 protocol websockets; client python3-paho-mqtt transport websockets, keepalive 2 s): the client sends PINGREQ (C0 00) when it has sent nothing for 2 s, mosquitto answers PINGRESP (D0 00)" ;;
    stomp) what="STOMP 1.2 over WebSocket (client npm @stomp/stompjs over ws, heartbeatOutgoing/Incoming 2000 ms, reconnectDelay 0; server: a small STOMP 1.2 peer written for these samples from the documented wire format, samples/peers/app/stomp-server.js, because no registry broker negotiated heart-beats both ways), heart-beat 2000,2000 both ways: each side sends an end-of-line heart-beat every 2 s, one way, never answered; stompjs closes when nothing came from the server for 4 s, the server peer never closes a silent client" ;;
  esac
  case $2 in
    healthy) echo "$what. Healthy for ${HEALTHY} s with only application heartbeats (no WebSocket Pings at all, no data), left open." ;;
    client-frozen) echo "$what. Healthy for ${FAULT_AFTER} s, then the client process is SIGSTOPped (its kernel still ACKs); capture runs ${AFTER_FAULT} s more." ;;
    server-frozen) echo "$what. Healthy for ${FAULT_AFTER} s, then the server process is SIGSTOPped (its kernel still ACKs); capture runs ${AFTER_FAULT} s more." ;;
    app-pings-dropped)
      if [[ $1 == stomp ]]; then
        echo "$what. The server also sends WebSocket Pings every 2 s; after ${FAULT_AFTER} s the client's application stops sending heart-beats (its WebSocket send drops \"\\n\", see stomp-client.js) while its ws library keeps answering the WebSocket Pings; capture runs ${AFTER_FAULT} s more."
        return
      fi
      echo "$what. Both the application heartbeat and WebSocket Pings every 2 s (the side that does not ping at the application level sends them); after ${FAULT_AFTER} s the answering side's application stops answering application pings (monkeypatched, see its peer) while its WebSocket library keeps answering WebSocket Pings; capture runs ${AFTER_FAULT} s more." ;;
  esac
}

start_mqtt() {
  PORT=9001
  meta server_port "$PORT"
  # mosquitto cannot be tapped from inside: strace records the bytes of its
  # write/send calls, peers/app/strace2log.py turns them into frames
  meta server_frames_from strace
  local cargs=()
  [[ $1 == app-pings-dropped ]] && cargs=(--ws-ping-interval 2)
  cp "$PEERS/mosquitto.conf" "$D/mosquitto.conf"
  printf 'log_dest file %s\n' "$D/mosquitto.log" >>"$D/mosquitto.conf"
  local pre=()
  if [[ $1 == app-pings-dropped ]]; then
    # the broker's MQTT layer stops answering PINGREQ: a preloaded shim drops
    # its PINGRESP writes (peers/app/droppingresp.c), see there
    pre=(env LD_PRELOAD="$D/droppingresp.so" WSP_DROP_AFTER="$FAULT_AFTER" WSP_DROP_LOG="$D/dropped.jsonl")
    cc -shared -fPIC -O2 -o "$D/droppingresp.so" "$PEERS/droppingresp.c" -ldl || die "cannot build droppingresp.so"
  fi
  spawn "$SNS" server strace -f -ttt -xx -s 65536 -e trace=network,write,writev,close,shutdown \
    -o "$D/mosquitto.strace" "${pre[@]}" mosquitto -c "$D/mosquitto.conf"
  local i
  for i in $(seq 1 50); do
    SERVER_PID=$(pgrep -P "$LAST_PID" | head -n1 || true)
    [[ -n $SERVER_PID ]] && grep -q "mosquitto version .* running" "$D/mosquitto.log" 2>/dev/null && break
    sleep 0.1
  done
  [[ -n $SERVER_PID ]] || die "mosquitto did not start: $(tail -n 3 "$D/server.out")"
  PIDS+=("$SERVER_PID")
  sleep 0.3
  spawn "$CNS" client $PY "$PEERS/mqtt-client.py" --log "$D/client.jsonl" --host "$SIP" --port "$PORT" --keepalive 2 \
    --lifetime $LIFE "${cargs[@]}"
  CLIENT_PID=$LAST_PID
}

start_stomp() {
  local sargs=() cargs=()
  case $1 in
    app-pings-dropped)
      sargs=(--ws-ping-interval 2000)
      cargs=(--drop-beats-after "$FAULT_AFTER") ;;
  esac
  spawn "$SNS" server $NODE "$PEERS/stomp-server.js" --log "$D/server.jsonl" --port $PORT --lifetime $LIFE "${sargs[@]}"
  SERVER_PID=$LAST_PID
  wait_for "$D/server.jsonl" '"ev":"listening"' 1 10
  spawn "$CNS" client $NODE "$PEERS/stomp-client.js" --log "$D/client.jsonl" --url "ws://$SIP:$PORT/stomp" --lifetime $LIFE "${cargs[@]}"
  CLIENT_PID=$LAST_PID
}

# --- scenarios --------------------------------------------------------------------
run() {  # PROTO-SCENARIO
  local name=$1 proto=${1%%-*} scen=${1#*-}
  D=$WORK/$name
  rm -rf "$D"; mkdir -p "$D"
  note "=== $name"
  ns_up
  meta name "$name"
  meta protocol "$proto"
  meta scenario "$scen"
  meta server_ip "$SIP"
  PORT=8080
  meta server_port "$PORT"
  meta description "$(describe "$proto" "$scen")"
  start_capture "$name"
  "start_$proto" "$scen"
  wait_for "$D/client.jsonl" '"ev":"ws_open"' 1 10
  local t_open
  t_open=$(now)
  case $scen in
    healthy)
      meta fault none
      sleep $HEALTHY ;;
    client-frozen|server-frozen)
      sleep $FAULT_AFTER
      local victim=$CLIENT_PID side=client
      [[ $scen == server-frozen ]] && victim=$SERVER_PID side=server
      kill -STOP "$victim"
      meta fault_at "$(now)"
      meta fault sigstop
      meta failed_side $side
      sleep $AFTER_FAULT ;;
    app-pings-dropped)
      # the peer drops its application pongs from FAULT_AFTER after the
      # open; the time it did is in its log (app_*_dropped_from)
      meta fault app-pongs-dropped
      sleep $((FAULT_AFTER + AFTER_FAULT)) ;;
  esac
  stop_capture
  kill_all
  ns_down
  finish "$name"
}

if [[ $# -eq 0 ]]; then set -- "${ALL[@]}"; fi
for s in "$@"; do
  printf '%s\n' "${ALL[@]}" | grep -qx -- "$s" || die "unknown scenario: $s (known: ${ALL[*]})"
  declare -F "start_${s%%-*}" >/dev/null || die "no peers for $s yet"
done
mkdir -p "$OUT"
START=$(date +%s)
for s in "$@"; do run "$s"; done
note "done: $# scenario(s) in $(( $(date +%s) - START )) s"
