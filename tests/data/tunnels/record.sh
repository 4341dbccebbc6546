#!/usr/bin/env bash
# Record WebSocket exchanges carried in real Linux VXLAN tunnels, captured on
# the underlay (what VPC Traffic Mirroring or a VTEP's uplink shows):
#
#   sudo tests/data/tunnels/record.sh
#
# Writes, next to this script:
#   vxlan.pcap          one exchange in VNI 100: handshake, 3 client texts
#                       answered, server Pings every 0.5 s, a clean close.
#   vxlan-twins.pcap    two exchanges at once, VNI 100 and VNI 200, with the
#                       same inner addresses and ports (192.168.77.2:40000 ->
#                       192.168.77.1:8080): two connections, not one.
#
# Layout: the VXLAN devices are made in two underlay namespaces joined by a
# veth pair (10.200.0.1 <-> 10.200.0.2), then moved into one namespace per
# peer; a VXLAN device keeps its UDP socket in the namespace it was made in,
# so each peer pair has its own overlay over the same underlay. The peers
# are samples/peers/{server,client}.py (Debian python3-websockets 10.x).
# Every namespace is named wt-tun-* and removed on exit; each run is bounded
# by timeout(1).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PEERS=$(cd "$HERE/../../../samples/peers" && pwd)
PY=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1
U1=wt-tun-u1
U2=wt-tun-u2
NSS=(wt-tun-u1 wt-tun-u2 wt-tun-c1 wt-tun-s1 wt-tun-c2 wt-tun-s2)
WORK=$(mktemp -d /tmp/wt-tun.XXXXXX)
PIDS=()

die() { echo "record.sh: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "run as root"
for t in ip tcpdump timeout; do command -v "$t" >/dev/null || die "missing tool: $t"; done

stop_peers() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}

cleanup() {
  set +e
  stop_peers
  for ns in "${NSS[@]}"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT

up() {
  for ns in "${NSS[@]}"; do ip netns del "$ns" 2>/dev/null || true; ip netns add "$ns"; done
  for ns in "${NSS[@]}"; do ip -n "$ns" link set lo up; done
  ip link add wt-tun-a type veth peer name wt-tun-b
  ip link set wt-tun-a netns "$U1"
  ip link set wt-tun-b netns "$U2"
  ip -n "$U1" addr add 10.200.0.1/24 dev wt-tun-a
  ip -n "$U2" addr add 10.200.0.2/24 dev wt-tun-b
  ip -n "$U1" link set wt-tun-a up
  ip -n "$U2" link set wt-tun-b up
  if command -v ethtool >/dev/null; then
    # Segments as the wire carries them, with software checksums.
    ip netns exec "$U1" ethtool -K wt-tun-a tso off gso off gro off tx off >/dev/null 2>&1 || true
    ip netns exec "$U2" ethtool -K wt-tun-b tso off gso off gro off tx off >/dev/null 2>&1 || true
  fi
}

# overlay VNI CLIENT_NS SERVER_NS: a VXLAN segment between the two peers.
overlay() {
  local vni=$1 cns=$2 sns=$3
  ip -n "$U1" link add "vx$vni" type vxlan id "$vni" dstport 4789 \
    local 10.200.0.1 remote 10.200.0.2
  ip -n "$U2" link add "vx$vni" type vxlan id "$vni" dstport 4789 \
    local 10.200.0.2 remote 10.200.0.1
  ip -n "$U1" link set "vx$vni" netns "$cns"
  ip -n "$U2" link set "vx$vni" netns "$sns"
  ip -n "$cns" addr add 192.168.77.2/24 dev "vx$vni"
  ip -n "$sns" addr add 192.168.77.1/24 dev "vx$vni"
  ip -n "$cns" link set "vx$vni" up
  ip -n "$sns" link set "vx$vni" up
}

# exchange NAME CLIENT_NS SERVER_NS: server, then client, until it closes.
exchange() {
  local name=$1 cns=$2 sns=$3
  timeout 20 ip netns exec "$sns" "$PY" "$PEERS/server.py" --host 192.168.77.1 \
    --port 8080 --log "$WORK/$name.server.log" --ping-interval 0.5 --reply \
    --push-interval 0 >/dev/null 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 50); do
    ip netns exec "$sns" ss -ltn | grep -q ':8080 ' && break
    sleep 0.1
  done
  timeout 20 ip netns exec "$cns" "$PY" "$PEERS/client.py" \
    --uri ws://192.168.77.1:8080/ --log "$WORK/$name.client.log" --src-port 40000 \
    --send-interval 0.3 --send-count 3 --close-after 2.5 --max-life 4 >/dev/null 2>&1 &
  PIDS+=($!)
}

record() {
  local out=$1
  shift
  timeout 30 ip netns exec "$U1" tcpdump -i wt-tun-a -s 0 -U -w "$WORK/out.pcap" \
    udp port 4789 >/dev/null 2>&1 &
  local dump=$!
  sleep 0.5
  "$@"
  sleep 5
  kill -INT "$dump"
  wait "$dump" || true
  stop_peers
  mv "$WORK/out.pcap" "$HERE/$out"
}

one() {
  overlay 100 wt-tun-c1 wt-tun-s1
  exchange one wt-tun-c1 wt-tun-s1
}

twins() {
  overlay 100 wt-tun-c1 wt-tun-s1
  overlay 200 wt-tun-c2 wt-tun-s2
  exchange a wt-tun-c1 wt-tun-s1
  exchange b wt-tun-c2 wt-tun-s2
}

up
record vxlan.pcap one
up
record vxlan-twins.pcap twins
echo "wrote $HERE/vxlan.pcap $HERE/vxlan-twins.pcap"
