#!/usr/bin/env bash
# Rebuilds the compressed captures in this folder from samples/, with the
# command-line tools users have (gzip, zstd, lz4, xz, bzip2). The readable
# ones are written in two parts (two gzip members, two lz4 frames), as
# `gzip -c part >> file` and writers that flush in frames leave them.
set -euo pipefail
cd "$(dirname "$0")"
src=../../../samples/blackhole-peer.pcap
half=$(( $(stat -c %s "$src") / 2 ))
{ head -c "$half" "$src" | gzip -9 -n; tail -c +"$((half + 1))" "$src" | gzip -9 -n; } > blackhole-peer.pcap.gz
zstd -q -19 -f -c "$src" > blackhole-peer.pcap.zst
{ head -c "$half" "$src" | lz4 -q -9 -c; tail -c +"$((half + 1))" "$src" | lz4 -q -9 -c; } > blackhole-peer.pcap.lz4
xz -c "$src" > blackhole-peer.pcap.xz
bzip2 -c "$src" > blackhole-peer.pcap.bz2
