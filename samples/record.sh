#!/usr/bin/env bash
# Record the wspulse sample captures: real WebSocket peers over a real Linux
# TCP stack, in two private network namespaces joined by a veth pair.
#
#   sudo samples/record.sh [SCENARIO...]     (no argument = all scenarios)
#
# Writes samples/NAME.pcap (tcpdump inside the server namespace) and
# samples/NAME.truth.json (built by peers/mktruth.py from the peers' own logs),
# and samples/logs/NAME.tar.gz (those logs). Set WSP_KEEP_LOGS=DIR to also keep
# the raw logs and peer stdout under DIR/NAME/, WSP_KEEP_WORK=1 to keep the work dir.
# The wss scenarios use a self-signed certificate made with openssl(1) in the
# work dir at record time (never kept with the samples).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PEERS=$HERE/peers
PY=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1
# Namespace and veth names, and where samples go, can be set from the
# environment (samples/record-wss.sh records its own scenarios that way).
SNS=${WSP_SNS:-wsp-srv}
CNS=${WSP_CNS:-wsp-cli}
SVETH=${WSP_SVETH:-wsp-s}
CVETH=${WSP_CVETH:-wsp-c}
OUT=${WSP_OUT:-$HERE}
SIP=10.77.0.1
CIP=10.77.0.2
SIP6=fd77::1
CIP6=fd77::2

ALL=(healthy-pings clean-close rst-abort blackhole-peer stopped-reader lossy-alive
     app-stuck-ponging half-close close-unanswered empty-pong idle-no-heartbeat
     midstream-port deflate ipv6 mixed-fates wss-healthy wss-blackhole stall-recovers)

die() { echo "record.sh: $*" >&2; exit 1; }
note() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
now() { date -u +%s.%6N; }

[[ $(id -u) -eq 0 ]] || die "run as root (sudo samples/record.sh)"
for t in ip iptables tcpdump timeout; do
  command -v "$t" >/dev/null || die "missing tool: $t"
done
$PY -c 'import websockets, sys; sys.exit(0 if websockets.__version__.startswith("10.") else 1)' \
  || die "need Debian's python3-websockets 10.x for $PY"
if ! command -v ethtool >/dev/null; then
  note "ethtool missing: installing it (needed to turn off TSO/GSO/GRO on the veths)"
  timeout 120 apt-get install -y -qq ethtool >/dev/null 2>&1 \
    || note "could not install ethtool; offloads stay on (captured segments may exceed the MTU)"
fi
if ! command -v openssl >/dev/null; then
  note "openssl missing: installing it (needed for the wss scenarios' self-signed certificate)"
  timeout 120 apt-get install -y -qq openssl >/dev/null 2>&1 \
    || note "could not install openssl; the wss scenarios will fail"
fi

WORK=$(mktemp -d /tmp/wsp-rec.XXXXXX)
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
  local ns dev ip4 ip6
  for ns in "$SNS" "$CNS"; do
    if [[ $ns == "$SNS" ]]; then dev=$SVETH ip4=$SIP ip6=$SIP6; else dev=$CVETH ip4=$CIP ip6=$CIP6; fi
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$ip4/24" dev "$dev"
    ip -n "$ns" -6 addr add "$ip6/64" dev "$dev" nodad
    ip -n "$ns" link set "$dev" up
    if command -v ethtool >/dev/null; then
      # tx off: checksums computed in software so the pcap has valid ones
      ip netns exec "$ns" ethtool -K "$dev" tso off gso off gro off tx off >/dev/null 2>&1 \
        || note "ethtool -K failed on $dev"
    fi
  done
  local i
  for i in $(seq 1 50); do
    # reachability without ping(8): a refused connection to a closed port proves the path
    ip netns exec "$CNS" $PY -c 'import socket,sys
s=socket.socket(); s.settimeout(0.5)
try: s.connect((sys.argv[1], 9))
except ConnectionRefusedError: sys.exit(0)
except OSError: sys.exit(1)' "$SIP" && return 0
    sleep 0.1
  done
  die "namespaces up but $SIP not reachable"
}

# --- per-scenario state -----------------------------------------------------
D=""       # scenario work dir
meta() { printf '%s\t%s\n' "$1" "$2" >>"$D/meta.tsv"; }

event_time() {  # LOG EVENT: the time of each EVENT a peer logged
  $PY -c 'import json,sys
for l in open(sys.argv[1]):
    e=json.loads(l)
    if e["ev"]==sys.argv[2]: print(e["t"])' "$1" "$2"
}

start_capture() {  # NAME
  local pcap=$D/$1.pcap
  # --immediate-mode: without it libpcap hands packets over in blocks (up to
  # 1 s late) and the last second is lost when tcpdump is interrupted
  ip netns exec "$SNS" tcpdump -i "$SVETH" --immediate-mode -U -s 0 -w "$pcap" tcp >"$D/tcpdump.out" 2>&1 &
  TCPDUMP_PID=$!
  local i
  for i in $(seq 1 50); do
    grep -q "listening on" "$D/tcpdump.out" 2>/dev/null && { meta capture_start "$(now)"; return 0; }
    sleep 0.1
  done
  die "tcpdump did not start: $(cat "$D/tcpdump.out")"
}

stop_capture() {
  local t
  t=$(now)
  kill -INT "$TCPDUMP_PID" 2>/dev/null || true
  meta capture_end "$t"
  local i
  for i in $(seq 1 30); do
    kill -0 "$TCPDUMP_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$TCPDUMP_PID" 2>/dev/null || true
  wait "$TCPDUMP_PID" 2>/dev/null || true
  TCPDUMP_PID=""
  tail -n 3 "$D/tcpdump.out" | sed 's/^/  tcpdump: /' >&2
}

LAST_PID=""
spawn() {  # NS NAME cmd...   (the command is exec'd by ip netns exec: $! is its pid)
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

server() {  # NAME extra-args...  (websockets server in the server ns)
  local name=$1
  shift
  spawn "$SNS" "$name" $PY "$PEERS/server.py" --log "$D/$name.jsonl" "$@"
  wait_for "$D/$name.jsonl" '"ev":"listening"' 1 10
}

raw_server() {
  local name=$1
  shift
  spawn "$SNS" "$name" $PY "$PEERS/rawpeer.py" server --log "$D/$name.jsonl" "$@"
  wait_for "$D/$name.jsonl" '"ev":"listening"' 1 10
}

client() {  # NAME extra-args...  (websockets client in the client ns)
  local name=$1
  shift
  spawn "$CNS" "$name" $PY "$PEERS/client.py" --name "$name" --log "$D/$name.jsonl" "$@"
}

raw_client() {
  local name=$1
  shift
  spawn "$CNS" "$name" $PY "$PEERS/rawpeer.py" client --name "$name" --log "$D/$name.jsonl" "$@"
}

sleep_until() {  # EPOCH (bounded: at most 60 s)
  local d
  d=$($PY -c "import sys,time; print(max(0.0, min(60.0, float(sys.argv[1]) - time.time())))" "$1")
  sleep "$d"
}

open_time() {  # LOGFILE -> epoch of ws_open
  $PY -c 'import json,sys
for l in open(sys.argv[1]):
    e=json.loads(l)
    if e["ev"]=="ws_open": print(e["t"]); break' "$1"
}

log_pid() {  # LOGFILE -> pid from the start event
  $PY -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["pid"])' "$1"
}

# Time a SIGSTOP so that the server's next Ping leaves right after it: the
# stopped client's receive buffer still has room for a moment, so that Ping
# reaches the wire (and stays unanswered) instead of queueing behind data.
next_ping_minus() {  # SERVERLOG CONNKEY MARGIN -> epoch
  $PY - "$@" <<'EOF'
import json, sys, time
log, conn, margin = sys.argv[1], sys.argv[2], float(sys.argv[3])
ts = [e["t"] for e in map(json.loads, open(log))
      if e["ev"] == "tx_frame" and e.get("opcode") == "ping" and e.get("conn") == conn]
now = time.time()
if len(ts) < 2:
    print(now + 0.5); sys.exit()
period = (ts[-1] - ts[0]) / (len(ts) - 1)
t = ts[-1] + period - margin
while t < now + 0.3:
    t += period
print(t)
EOF
}

blackhole_client() {  # the client vanishes: drop everything in and out of its namespace
  ip netns exec "$CNS" iptables -I INPUT -j DROP
  ip netns exec "$CNS" iptables -I OUTPUT -j DROP
  meta fault_at "$(now)"
  meta blackholed client
}

stop_client_before_ping() {  # PID: SIGSTOP the client just before the server's next Ping,
  # so that Ping leaves the server and stays unanswered (rather than queueing
  # behind data that the zero window holds back)
  local key t
  key=$($PY -c 'import json,sys
for l in open(sys.argv[1]):
    e=json.loads(l)
    if e["ev"]=="ws_open": print(e["conn"]); break' "$D/client.jsonl")
  t=$(next_ping_minus "$D/server.jsonl" "$key" 0.12)
  sleep_until "$t"
  kill -STOP "$1"
  meta fault_at "$(now)"
  meta stopped client
}

finish() {  # NAME: build truth, copy outputs
  local name=$1
  $PY "$PEERS/mktruth.py" --dir "$D" --out "$OUT/$name.truth.json"
  local ext=pcap
  if grep -q $'^at_flag\tyes' "$D/meta.tsv"; then
    # The point is the silence after the last packet: keep when tcpdump
    # stopped (pcapng isb_endtime), which classic pcap cannot hold.
    ext=pcapng
    $PY "$PEERS/endmark.py" "$D/$name.pcap" \
      "$(awk -F'\t' '$1=="capture_end"{print $2}' "$D/meta.tsv")" "$OUT/$name.pcapng"
  else
    cp "$D/$name.pcap" "$OUT/$name.pcap"
  fi
  # the peer logs the truth was built from (small, gzipped), so the truth can be
  # rebuilt or audited without recording again: see README.md
  mkdir -p "$OUT/logs"
  (cd "$D" && tar -czf "$OUT/logs/$name.tar.gz" --owner=0 --group=0 --numeric-owner ./*.jsonl meta.tsv)
  chmod 644 "$OUT/$name.$ext" "$OUT/$name.truth.json" "$OUT/logs/$name.tar.gz"
  if [[ -n ${WSP_KEEP_LOGS:-} ]]; then
    mkdir -p "$WSP_KEEP_LOGS/$name"
    cp "$D"/*.jsonl "$D"/meta.tsv "$D"/*.out "$WSP_KEEP_LOGS/$name/" 2>/dev/null || true
  fi
  # a key log the peers wrote (wss samples with keys: throwaway keys)
  if [[ -f $D/keys.log ]]; then
    cp "$D/keys.log" "$OUT/$name.keys"
    chmod 644 "$OUT/$name.keys"
  fi
  note "$name: $(stat -c %s "$OUT/$name.$ext") bytes $ext"
}

begin() {  # NAME DESCRIPTION FAULT FAILED_SIDE
  D=$WORK/$1
  rm -rf "$D"
  mkdir -p "$D"
  note "=== $1"
  ns_up
  meta name "$1"
  meta description "$2"
  meta fault "$3"
  meta failed_side "$4"
  meta server_ip "$SIP"
  meta server_port 8080
}

end_scenario() {
  kill_all
  ns_down
  finish "$1"
}

WS="ws://$SIP:8080/"
WSS="wss://$SIP:8443/"
TLS_PORT=8443

# A throwaway self-signed certificate for the wss scenarios, made once per run
# in the work dir (removed with it on exit; never copied to samples/).
TLS_DIR=""
tls_cert() {
  [[ -n $TLS_DIR ]] && return 0
  command -v openssl >/dev/null || die "missing tool: openssl (needed for the wss scenarios)"
  TLS_DIR=$WORK/tls
  mkdir -p "$TLS_DIR"
  timeout 30 openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$TLS_DIR/key.pem" -out "$TLS_DIR/cert.pem" -days 1 -subj "/CN=wspulse-sample" \
    -addext "subjectAltName=IP:$SIP,IP:$SIP6" >"$TLS_DIR/openssl.out" 2>&1 \
    || die "openssl could not make a certificate: $(tail -n 3 "$TLS_DIR/openssl.out")"
  chmod 600 "$TLS_DIR/key.pem"
}

tls_server() {  # NAME extra-args...  (the websockets server with TLS on $TLS_PORT)
  tls_cert
  local name=$1
  shift
  server "$name" --port "$TLS_PORT" --tls-cert "$TLS_DIR/cert.pem" --tls-key "$TLS_DIR/key.pem" "$@"
}

tls_meta() {  # the truth is judged as wspulse does with --tls-port
  meta server_port "$TLS_PORT"
  meta tls_port "$TLS_PORT"
}

# --- scenarios ----------------------------------------------------------------
sc_healthy-pings() {
  local n=healthy-pings
  begin $n "25 s of healthy traffic: server Pings every 2 s and pushes text every 1 s, client sends text every 1 s and the server replies; left open." none null
  start_capture $n
  server server --reply
  client client --uri "$WS"
  wait_for "$D/client.jsonl" ws_open 1 10
  sleep 25
  stop_capture
  end_scenario $n
}

sc_clean-close() {
  local n=clean-close
  begin $n "Healthy for 9 s, then the client closes with code 1000: Close frames both ways, then FIN both ways (server first)." none null
  start_capture $n
  server server --reply
  client client --uri "$WS" --close-after 9
  wait_for "$D/client.jsonl" ws_open 1 10
  wait_for "$D/client.jsonl" close_done 1 20
  sleep 3
  stop_capture
  end_scenario $n
}

sc_rst-abort() {
  local n=rst-abort
  begin $n "Healthy for 9 s, then the client sets SO_LINGER 0 and closes its socket: the kernel sends a RST, no Close frame." rst client
  start_capture $n
  server server --reply
  client client --uri "$WS" --abort-after 9
  wait_for "$D/client.jsonl" ws_open 1 10
  wait_for "$D/client.jsonl" tx_rst 1 20
  meta fault_at "$(event_time "$D/client.jsonl" tx_rst)"
  sleep 3
  stop_capture
  end_scenario $n
}

sc_blackhole-peer() {
  local n=blackhole-peer
  begin $n "Healthy for 9 s, then iptables in the client namespace drops everything in and out: the client vanishes while the server keeps writing data and Pings, which Linux retransmits with backoff and no ACK ever comes; capture runs 25 s past the fault (client frames written after the fault never reach the wire)." blackhole client
  start_capture $n
  server server --reply
  client client --uri "$WS"
  wait_for "$D/client.jsonl" ws_open 1 10
  sleep 9
  blackhole_client
  sleep 25
  stop_capture
  end_scenario $n
}

sc_stopped-reader() {
  local n=stopped-reader
  begin $n "Client with SO_RCVBUF 4096; the server pushes 2 KB every 100 ms; after ~8 s the client process is SIGSTOPped (just before a server Ping): its kernel fills the tiny receive buffer and advertises a zero window for 25 s while the server sends zero-window probes; data and later Pings pile up unsent in the server's buffers." sigstop client
  start_capture $n
  server server --reply --push-interval 0.1 --push-size 2048
  client client --uri "$WS" --rcvbuf 4096
  wait_for "$D/client.jsonl" ws_open 1 10
  local cpid
  cpid=$(log_pid "$D/client.jsonl")
  sleep 7.5
  stop_client_before_ping "$cpid"
  sleep 25
  stop_capture
  kill -CONT "$cpid" 2>/dev/null || true
  end_scenario $n
}

sc_lossy-alive() {
  local n=lossy-alive
  begin $n "Healthy traffic with 5% random packet loss in both directions (iptables statistic DROP on INPUT and OUTPUT in the client namespace) for 30 s: retransmissions, but every loss is repaired and ACKs advance." loss-5pct null
  start_capture $n
  server server --reply
  client client --uri "$WS"
  wait_for "$D/client.jsonl" ws_open 1 10
  sleep 2
  ip netns exec "$CNS" iptables -I INPUT -p tcp -m statistic --mode random --probability 0.05 -j DROP
  ip netns exec "$CNS" iptables -I OUTPUT -p tcp -m statistic --mode random --probability 0.05 -j DROP
  meta fault_at "$(now)"
  sleep 30
  stop_capture
  end_scenario $n
}

sc_app-stuck-ponging() {
  local n=app-stuck-ponging
  begin $n "Client sends text every 1 s for 8 s, then its application stops sending data for 27 s while the library keeps reading and answering the server's Pings (the server keeps pushing)." app-stall client
  start_capture $n
  server server --reply
  client client --uri "$WS" --stop-sending-after 8.5
  wait_for "$D/client.jsonl" ws_open 1 10
  wait_for "$D/client.jsonl" app_stop_sending 1 15
  meta fault_at "$(event_time "$D/client.jsonl" app_stop_sending)"
  sleep 27
  stop_capture
  end_scenario $n
}

sc_half-close() {
  local n=half-close
  begin $n "Hand-framed client: healthy for 9 s, then shutdown(SHUT_WR) with no Close frame and total silence (no data, no Pongs) while still reading; the server ignores the FIN and keeps pushing and pinging for 23 s." half-close client
  start_capture $n
  server server --reply --keep-open-on-eof
  raw_client client --host "$SIP" --port 8080 --send-interval 1 --half-close-after 9
  wait_for "$D/client.jsonl" ws_open 1 10
  wait_for "$D/client.jsonl" tx_fin 1 15
  meta fault_at "$(event_time "$D/client.jsonl" tx_fin)"
  sleep 23
  stop_capture
  end_scenario $n
}

sc_close-unanswered() {
  local n=close-unanswered
  begin $n "Hand-framed server (Pings every 2 s, pushes every 1 s); after 9 s the websockets client sends Close 1000; the server never answers it (stops Pings and replies but keeps pushing data every 1 s), the client waits (close_timeout 60 s) reading silently, TCP stays open for 23 s." close-ignored server
  start_capture $n
  raw_server server --ping-interval 2 --push-interval 1 --reply --ignore-close
  client client --uri "$WS" --close-after 9 --close-timeout 60
  wait_for "$D/client.jsonl" ws_open 1 10
  wait_for "$D/client.jsonl" close_start 1 15
  meta fault_at "$(event_time "$D/client.jsonl" close_start)"
  sleep 23
  stop_capture
  end_scenario $n
}

sc_empty-pong() {
  local n=empty-pong
  begin $n "Healthy traffic for 20 s, but the hand-framed client answers every server Ping (4-byte payload) with an empty-payload Pong." empty-pong client
  start_capture $n
  server server --reply
  raw_client client --host "$SIP" --port 8080 --send-interval 1 --empty-pong
  wait_for "$D/client.jsonl" ws_open 1 10
  sleep 20
  stop_capture
  end_scenario $n
}

sc_idle-no-heartbeat() {
  local n=idle-no-heartbeat
  begin $n "No Pings either way and no TCP keepalive: the client sends 3 messages (the server replies), then 25 s of total silence on an open connection." none null
  start_capture $n
  server server --reply --ping-interval 0 --push-interval 0
  client client --uri "$WS" --send-count 3
  wait_for "$D/client.jsonl" ws_open 1 10
  wait_for "$D/client.jsonl" app_stop_sending 1 15
  sleep 25
  stop_capture
  meta at_flag yes
  end_scenario $n
}

sc_midstream-port() {
  local n=midstream-port
  begin $n "Healthy traffic on port 9477; tcpdump starts 3 s after the WebSocket handshake (no SYN, no HTTP Upgrade in the capture), then 20 s of capture." none null
  meta server_port 9477
  server server --reply --port 9477
  client client --uri "ws://$SIP:9477/"
  wait_for "$D/client.jsonl" ws_open 1 10
  sleep 3
  start_capture $n
  sleep 20
  stop_capture
  end_scenario $n
}

sc_deflate() {
  local n=deflate
  begin $n "Healthy traffic for 20 s with permessage-deflate negotiated (compressed frames have RSV1 set), compressible text both ways." none null
  start_capture $n
  server server --reply --compression deflate --push-size 400
  client client --uri "$WS" --compression deflate --send-size 300
  wait_for "$D/client.jsonl" ws_open 1 10
  sleep 20
  stop_capture
  end_scenario $n
}

sc_ipv6() {
  local n=ipv6
  begin $n "The healthy scenario over IPv6 (fd77::2 -> [fd77::1]:8080) for 20 s." none null
  meta server_ip "$SIP6"
  start_capture $n
  server server --reply --host ::
  client client --uri "ws://[$SIP6]:8080/"
  wait_for "$D/client.jsonl" ws_open 1 10
  sleep 20
  stop_capture
  end_scenario $n
}

sc_mixed-fates() {
  local n=mixed-fates
  begin $n "One server, six clients with fixed source ports and different fates in one capture: 40001 healthy, 40002 clean close at ~10 s, 40003 RST at ~12 s, 40004 stopped reader (SO_RCVBUF 4096, 2 KB pushes every 100 ms, SIGSTOP at ~10 s), 40005 half-close without Close at ~10 s, 40006 black-holed by port-specific iptables DROP at ~10 s; capture runs ~36 s." mixed null
  start_capture $n
  server server --reply --keep-open-on-eof
  client c1-healthy --uri "$WS" --src-port 40001
  client c2-close --uri "$WS" --src-port 40002 --close-after 10
  client c3-rst --uri "$WS" --src-port 40003 --abort-after 12
  client c4-stopped --uri "${WS}?push_interval=0.1&push_size=2048" --src-port 40004 --rcvbuf 4096
  raw_client c5-halfclose --host "$SIP" --port 8080 --src-port 40005 --send-interval 1 --half-close-after 10
  client c6-blackhole --uri "$WS" --src-port 40006
  local c
  for c in c1-healthy c2-close c3-rst c4-stopped c5-halfclose c6-blackhole; do
    wait_for "$D/$c.jsonl" ws_open 1 10
  done
  local t0 cpid t
  t0=$(open_time "$D/c6-blackhole.jsonl")
  cpid=$(log_pid "$D/c4-stopped.jsonl")
  sleep_until "$($PY -c "print($t0 + 8.5)")"
  t=$(next_ping_minus "$D/server.jsonl" "$CIP:40004" 0.12)
  sleep_until "$t"
  kill -STOP "$cpid"
  meta conn_fault "40004 sigstop $(now)"
  sleep_until "$($PY -c "print($t0 + 10)")"
  ip netns exec "$CNS" iptables -I INPUT -p tcp --dport 40006 -j DROP
  ip netns exec "$CNS" iptables -I OUTPUT -p tcp --sport 40006 -j DROP
  meta conn_fault "40006 blackhole $(now)"
  sleep_until "$($PY -c "print($t0 + 36)")"
  stop_capture
  kill -CONT "$cpid" 2>/dev/null || true
  end_scenario $n
}

sc_wss-healthy() {
  local n=wss-healthy
  begin $n "healthy-pings over wss: TLS (self-signed certificate, not verified by the client) on port 8443; 25 s, server Pings every 2 s and pushes text every 1 s, client sends text every 1 s and the server replies; left open. The frames are inside TLS records, so the wire shows no frames: frame counts in facts are 0 (what wspulse can see), the frames the peers wrote are in facts.frames_inside_tls." none null
  tls_meta
  start_capture $n
  tls_server server --reply
  client client --uri "$WSS" --insecure
  wait_for "$D/client.jsonl" ws_open 1 10
  sleep 25
  stop_capture
  end_scenario $n
}

sc_wss-blackhole() {
  local n=wss-blackhole
  begin $n "blackhole-peer over wss: TLS (self-signed certificate, not verified by the client) on port 8443; healthy for 9 s, then iptables in the client namespace drops everything in and out: the server keeps writing (TLS records with data and Pings), which Linux retransmits with backoff and no ACK ever comes; capture runs 25 s past the fault. The frames are inside TLS records, so the wire shows no frames: frame counts in facts are 0 (what wspulse can see), the frames the peers wrote are in facts.frames_inside_tls; Pings are not visible, so no ping_unanswered." blackhole client
  tls_meta
  meta read_deadline 10
  start_capture $n
  tls_server server --reply
  client client --uri "$WSS" --insecure
  wait_for "$D/client.jsonl" ws_open 1 10
  sleep 9
  blackhole_client
  sleep 25
  stop_capture
  end_scenario $n
}

sc_stall-recovers() {
  local n=stall-recovers
  begin $n "stopped-reader that recovers: client with SO_RCVBUF 4096; the server pushes 512 B every 100 ms (smaller than stopped-reader's 2 KB so that 35 s of flowing data stay under 300 KB of pcap) and Pings every 2 s; after ~8 s the client process is SIGSTOPped (just before a server Ping, which leaves and stays unanswered): its kernel fills the tiny receive buffer and advertises a zero window; ~12 s later it is SIGCONTed: it reads the backlog, reopens its window, answers the Pings and sends again; then ~15 s of healthy traffic and the capture stops with the connection still open. Past stalls are expected_episodes (times from the peers' logs and 100 ms TCP_INFO samples, +-0.5 s)." sigstop client
  start_capture $n
  server server --reply --push-interval 0.1 --push-size 512
  client client --uri "$WS" --rcvbuf 4096
  wait_for "$D/client.jsonl" ws_open 1 10
  local cpid
  cpid=$(log_pid "$D/client.jsonl")
  sleep 7.5
  stop_client_before_ping "$cpid"
  sleep 12
  local pongs
  pongs=$(grep -c '"ev":"tx_frame".*"opcode":"pong"' "$D/client.jsonl" || true)
  kill -CONT "$cpid"
  meta resumed_at "$(now)"
  # the resumed client must really be back: it reads the backlog and answers the Ping
  wait_for "$D/client.jsonl" '"ev":"tx_frame".*"opcode":"pong"' $((pongs + 1)) 5
  sleep 15
  stop_capture
  end_scenario $n
}

# --- main -----------------------------------------------------------------------
# More scenarios from a file (samples/record-wss.sh names itself here).
if [[ -n ${WSP_SCENARIOS:-} ]]; then
  # shellcheck source=/dev/null
  source "$WSP_SCENARIOS"
fi
if [[ $# -eq 0 ]]; then set -- "${ALL[@]}"; fi
for s in "$@"; do
  declare -F "sc_$s" >/dev/null || die "unknown scenario: $s (known: ${ALL[*]})"
done
START=$(date +%s)
for s in "$@"; do
  "sc_$s"
done
note "done: $# scenario(s) in $(( $(date +%s) - START )) s"
