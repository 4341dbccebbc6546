#!/usr/bin/env bash
# Records sni-alpn.pcap: one wss connection on loopback port 9555 (a port
# no option names) whose ClientHello carries SNI and ALPN (sni_peers.py).
# Needs root, tcpdump and python3-websockets 10.x. Every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")"
port=9555
tcpdump -i lo -U -s 0 -w sni-alpn.pcap "tcp port $port" 2>/dev/null &
dump=$!
peers=""
trap 'kill $dump $peers 2>/dev/null || true' EXIT
sleep 1
timeout 40 /usr/bin/python3 sni_peers.py "$port" > peers.out &
peers=$!
for _ in $(seq 1 30); do grep -q done peers.out 2>/dev/null && break; sleep 0.5; done
sleep 1
kill -INT $dump; wait $dump || true
kill $peers 2>/dev/null || true
rm -f peers.out
