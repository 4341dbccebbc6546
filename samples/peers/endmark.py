#!/usr/bin/env python3
"""Rewrite a classic pcap as pcapng that records when capturing stopped.

Usage: endmark.py IN.pcap END_EPOCH_SECONDS OUT.pcapng

tcpdump writes classic pcap, which cannot say when the capture stopped; a
sample whose point is the silence after the last packet needs that instant
(the spec judges at the capture's recorded end). This writes the same
packets, unchanged, as pcapng (one Section Header, one Interface Description
with the pcap's link type and snaplen and if_tsresol 6, one Enhanced Packet
Block per packet) and closes with an Interface Statistics Block carrying
isb_endtime = END (microseconds, as dumpcap writes it). END comes from
record.sh (meta.tsv capture_end: when tcpdump was told to stop).
"""
import struct
import sys


def block(btype, body):
    pad = (-len(body)) % 4
    total = 12 + len(body) + pad
    return struct.pack("<II", btype, total) + body + b"\0" * pad + struct.pack("<I", total)


def option(code, value):
    pad = (-len(value)) % 4
    return struct.pack("<HH", code, len(value)) + value + b"\0" * pad


def main():
    src, end, dst = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    data = open(src, "rb").read()
    magic = data[:4]
    if magic != b"\xd4\xc3\xb2\xa1":
        sys.exit("endmark.py: %s: expected a little-endian microsecond pcap" % src)
    _, _, _, _, snaplen, linktype = struct.unpack("<HHiIII", data[4:24])
    out = [block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + option(0, b""))]
    idb = struct.pack("<HHI", linktype, 0, snaplen) + option(9, b"\x06") + option(0, b"")
    out.append(block(1, idb))
    off = 24
    while off + 16 <= len(data):
        sec, usec, caplen, origlen = struct.unpack("<IIII", data[off:off + 16])
        pkt = data[off + 16:off + 16 + caplen]
        ts = sec * 1_000_000 + usec
        body = struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, caplen, origlen) + pkt
        body += b"\0" * ((-len(pkt)) % 4)
        out.append(block(6, body))
        off += 16 + caplen
    end_us = round(end * 1_000_000)
    isb = struct.pack("<III", 0, end_us >> 32, end_us & 0xFFFFFFFF)
    isb += option(3, struct.pack("<II", end_us >> 32, end_us & 0xFFFFFFFF)) + option(0, b"")
    out.append(block(5, isb))
    open(dst, "wb").write(b"".join(out))


if __name__ == "__main__":
    main()
