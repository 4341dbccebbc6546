#!/bin/bash
# Two network namespaces for recording benchmark captures, joined by one
# veth pair:
#   wb-cli (clients: 10.98.0.2/24 and 10.98.0.10-209, veth wb-vc)
#     <->  wb-srv (server: 10.98.0.1/24, veth wb-vs)
# MTU 1500; TSO/GSO/GRO and checksum offload off, so tcpdump on the veth
# sees what a tap on a real wire sees (MTU-sized segments, valid checksums).
# Static neighbour entries: no ARP is needed, so none is recorded.
# Usage: bench/netns.sh up | down        (root; `up` first removes leftovers)
set -u
A=wb-cli B=wb-srv
down() { ip netns del $A 2>/dev/null; ip netns del $B 2>/dev/null; return 0; }
up() {
    down
    ip netns add $A && ip netns add $B || exit 1
    ip -n $A link add wb-vc type veth peer name wb-vs netns $B || exit 1
    for p in "$A wb-vc 10.98.0.2" "$B wb-vs 10.98.0.1"; do
        # shellcheck disable=SC2086 # split into namespace, veth, address
        set -- $p
        ip -n "$1" link set lo up
        ip -n "$1" link set "$2" mtu 1500
        ip netns exec "$1" ethtool -K "$2" tso off gso off gro off tx off rx off >/dev/null 2>&1
        ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
        ip -n "$1" addr add "$3/24" dev "$2"
        ip -n "$1" link set "$2" up
        # room for tens of thousands of connections
        ip netns exec "$1" sysctl -qw net.core.somaxconn=8192
        ip netns exec "$1" sysctl -qw net.ipv4.tcp_max_syn_backlog=8192
    done
    # the whole ephemeral range: 50,000 connections need no port reuse
    ip netns exec $A sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
    local mac_a mac_b
    mac_a=$(ip -n $A -br link show wb-vc | awk '{print $3}')
    mac_b=$(ip -n $B -br link show wb-vs | awk '{print $3}')
    for i in $(seq 10 209); do echo "addr add 10.98.0.$i/24 dev wb-vc"; done | ip -n $A -batch -
    for i in 2 $(seq 10 209); do echo "neigh replace 10.98.0.$i lladdr $mac_a dev wb-vs nud permanent"; done | ip -n $B -batch -
    ip -n $A neigh replace 10.98.0.1 lladdr "$mac_b" dev wb-vc nud permanent
}
case "${1:-}" in
    up) up ;;
    down) down ;;
    *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
