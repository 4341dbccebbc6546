//! replicate: many connections open at once, made from a recorded sample.
//!
//! Recording a million real WebSocket connections open at once takes more
//! sockets, memory and time than one machine has; recording a few hundred
//! does not. This tool takes such a recording (classic pcap, IPv4/TCP over
//! Ethernet or raw IP) and writes `--copies N` copies of its connections:
//!
//! * only connections whose SYN is in the sample and whose server answered
//!   `HTTP/1.1 101` are copied; each copy keeps that connection's packets from
//!   its SYN up to `--window` seconds or `--packets` packets, and stops before
//!   its first FIN or RST, so every copy is still open at the end;
//! * copy `i` is connection `i mod T` of the T kept, with client address
//!   `--client-net + 1 + i / 64000` and client port `1024 + i mod 64000`
//!   (server address and port, sequence numbers, payloads as recorded), so
//!   no two copies share a 4-tuple;
//! * copy `i` starts at `i x --gap-us` after the sample's first SYN and its
//!   packets keep their recorded spacing; all copies are merged in time
//!   order, so with `N x gap` longer than a copy lasts, every copy is open at
//!   once by the end of the capture;
//! * the IPv4 header checksum and the TCP checksum (with its pseudo-header,
//!   RFC 793 section 3.1) are recomputed for each copy's addresses.
//!
//! Usage: replicate --copies N [--gap-us 10] [--window 2.0] [--packets 12]
//!        [--client-net 10.128.0.0] SAMPLE.pcap OUT.pcap
//! A summary line goes to stderr. Errors are one line and exit status 2.

mod pcap;

use pcap::{Capture, Record};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::Write;
use std::process::ExitCode;

/// Client ports used per client address: 1024..65023.
const PORTS_PER_ADDRESS: u32 = 64_000;
/// More copies than this would leave 10.0.0.0/8 or fill a small disk.
const MAX_COPIES: u64 = 20_000_000;

struct Options {
    copies: u64,
    gap_ns: u64,
    window_ns: u64,
    packets: usize,
    client_net: u32,
    input: String,
    output: String,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        copies: 0,
        gap_ns: 10_000,
        window_ns: 2_000_000_000,
        packets: 12,
        client_net: u32::from_be_bytes([10, 128, 0, 0]),
        input: String::new(),
        output: String::new(),
    };
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let num = |name: &str, v: String| -> Result<f64, String> {
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| format!("{name}: not a non-negative number: {v}"))
        };
        match a.as_str() {
            "--copies" => o.copies = num(a, value(a)?)? as u64,
            "--gap-us" => o.gap_ns = (num(a, value(a)?)? * 1e3) as u64,
            "--window" => o.window_ns = (num(a, value(a)?)? * 1e9) as u64,
            "--packets" => o.packets = num(a, value(a)?)? as usize,
            "--client-net" => {
                let v = value(a)?;
                let ip: std::net::Ipv4Addr = v
                    .parse()
                    .map_err(|_| format!("--client-net: not an IPv4 address: {v}"))?;
                o.client_net = u32::from(ip);
            }
            "-h" | "--help" => return Err(usage()),
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            _ => files.push(a.clone()),
        }
    }
    let [input, output] = <[String; 2]>::try_from(files).map_err(|_| usage())?;
    if o.copies == 0 || o.copies > MAX_COPIES {
        return Err(format!("--copies must be 1..={MAX_COPIES}"));
    }
    if o.packets < 3 {
        return Err("--packets must be at least 3".into());
    }
    let last = u64::from(o.client_net) + 1 + (o.copies - 1) / u64::from(PORTS_PER_ADDRESS);
    if last > u64::from(u32::MAX) {
        return Err("--client-net leaves no room for that many copies".into());
    }
    (o.input, o.output) = (input, output);
    Ok(o)
}

fn usage() -> String {
    "usage: replicate --copies N [--gap-us 10] [--window 2.0] [--packets 12] [--client-net 10.128.0.0] SAMPLE.pcap OUT.pcap".into()
}

/// One packet of a kept connection, ready to be stamped with a copy's client.
struct Template {
    /// Nanoseconds after the connection's SYN.
    after_ns: u64,
    data: Vec<u8>,
    /// Offset of the IPv4 header in `data`.
    ip: usize,
    from_client: bool,
    /// One's complement sums (unfolded) of the IPv4 header and of the TCP
    /// pseudo-header plus segment, each with its checksum field and the
    /// client's address (and port) as zero.
    ip_sum: u32,
    tcp_sum: u32,
}

/// A recorded connection: its SYN time and the packets kept.
struct Flow {
    syn_ns: u64,
    packets: Vec<Template>,
    upgraded: bool,
    done: bool,
}

type Tuple = (u32, u16, u32, u16);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse_args(&args).and_then(|o| run(&o)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("replicate: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(o: &Options) -> Result<(), String> {
    let t0 = std::time::Instant::now();
    let cap = Capture::read(&o.input)?;
    let flows = keep_flows(&cap, o)?;
    let first_syn = flows.iter().map(|f| f.syn_ns).min().unwrap_or(0);
    let file = std::fs::File::create(&o.output).map_err(|e| format!("{}: {e}", o.output))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let write_err = |e: std::io::Error| format!("{}: {e}", o.output);
    out.write_all(&cap.header).map_err(write_err)?;
    // Min-heap of (time, copy, packet index): every copy's next packet.
    let mut heap = BinaryHeap::with_capacity(o.copies.min(MAX_COPIES) as usize);
    for i in 0..o.copies {
        let flow = &flows[(i % flows.len() as u64) as usize];
        heap.push(Reverse((i * o.gap_ns + flow.packets[0].after_ns, i, 0u32)));
    }
    let (mut packets, mut bytes) = (0u64, 0u64);
    let mut buf = Vec::with_capacity(1 << 16);
    let mut last_ns = 0;
    while let Some(Reverse((at, copy, index))) = heap.pop() {
        let flow = &flows[(copy % flows.len() as u64) as usize];
        let t = &flow.packets[index as usize];
        let client = client_of(o.client_net, copy);
        stamp(t, client, &mut buf);
        let ts = first_syn + at;
        cap.write_record(&mut out, ts, &buf).map_err(write_err)?;
        (packets, bytes, last_ns) = (packets + 1, bytes + buf.len() as u64, at);
        if let Some(next) = flow.packets.get(index as usize + 1) {
            heap.push(Reverse((copy * o.gap_ns + next.after_ns, copy, index + 1)));
        }
    }
    out.flush().map_err(write_err)?;
    eprintln!(
        "replicate: {} connections kept from the sample, {} copies, {} packets, {} bytes of packet data, {:.3} s of capture, written in {:.1} s",
        flows.len(),
        o.copies,
        packets,
        bytes,
        last_ns as f64 / 1e9,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The client address and port of copy `i`.
fn client_of(net: u32, i: u64) -> (u32, u16) {
    let p = u64::from(PORTS_PER_ADDRESS);
    (net + 1 + (i / p) as u32, 1024 + (i % p) as u16)
}

/// The recorded connections worth copying, in order of their SYN.
fn keep_flows(cap: &Capture, o: &Options) -> Result<Vec<Flow>, String> {
    let mut flows: Vec<Flow> = Vec::new();
    let mut by_tuple: HashMap<Tuple, (usize, bool)> = HashMap::new();
    for rec in &cap.records {
        let Some(tcp) = parse(rec, cap.ip_offset) else {
            continue;
        };
        let tuple = (tcp.src, tcp.sport, tcp.dst, tcp.dport);
        let reverse = (tcp.dst, tcp.dport, tcp.src, tcp.sport);
        let (index, from_client) = match (by_tuple.get(&tuple), by_tuple.get(&reverse)) {
            (Some(&(i, c)), _) => (i, c),
            (None, Some(&(i, c))) => (i, !c),
            (None, None) if tcp.flags & SYN != 0 && tcp.flags & ACK == 0 => {
                flows.push(Flow {
                    syn_ns: rec.ts_ns,
                    packets: Vec::new(),
                    upgraded: false,
                    done: false,
                });
                by_tuple.insert(tuple, (flows.len() - 1, true));
                (flows.len() - 1, true)
            }
            (None, None) => continue,
        };
        let flow = &mut flows[index];
        let after_ns = rec.ts_ns.saturating_sub(flow.syn_ns);
        if flow.done || tcp.flags & (FIN | RST) != 0 || after_ns > o.window_ns {
            flow.done = true;
            continue;
        }
        let payload = &rec.data[tcp.payload..];
        if !from_client && payload.starts_with(b"HTTP/1.1 101") {
            flow.upgraded = true;
        }
        flow.packets
            .push(template(rec, cap.ip_offset, &tcp, after_ns, from_client));
        flow.done = flow.packets.len() >= o.packets;
    }
    flows.retain(|f| f.upgraded);
    if flows.is_empty() {
        return Err(format!(
            "{}: no connection with its SYN and an HTTP 101 answer in the sample",
            o.input
        ));
    }
    Ok(flows)
}

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;

/// The fields of one IPv4/TCP packet the copies need; `None` for anything
/// else (other protocols, fragments, truncated headers).
struct Tcp {
    src: u32,
    dst: u32,
    sport: u16,
    dport: u16,
    flags: u8,
    /// Offset of the TCP header and of its payload in the record's data.
    tcp: usize,
    payload: usize,
    /// End of the IP packet in the record's data (Ethernet may pad).
    end: usize,
}

fn parse(rec: &Record, ip: usize) -> Option<Tcp> {
    let d = &rec.data;
    if !rec.captured_whole || d.len() < ip + 20 || d[ip] >> 4 != 4 || d[ip + 9] != 6 {
        return None;
    }
    let ihl = usize::from(d[ip] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([d[ip + 2], d[ip + 3]]));
    let frag = u16::from_be_bytes([d[ip + 6], d[ip + 7]]) & 0x3fff;
    let tcp = ip + ihl;
    if ihl < 20 || frag != 0 || ip + total > d.len() || total < ihl + 20 {
        return None;
    }
    let doff = usize::from(d[tcp + 12] >> 4) * 4;
    if doff < 20 || ihl + doff > total {
        return None;
    }
    let word = |at: usize| u32::from_be_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]]);
    let port = |at: usize| u16::from_be_bytes([d[at], d[at + 1]]);
    Some(Tcp {
        src: word(ip + 12),
        dst: word(ip + 16),
        sport: port(tcp),
        dport: port(tcp + 2),
        flags: d[tcp + 13],
        tcp,
        payload: tcp + doff,
        end: ip + total,
    })
}

/// Sum of big-endian 16-bit words (a trailing odd byte padded with zero).
fn sum16(bytes: &[u8]) -> u32 {
    let mut chunks = bytes.chunks_exact(2);
    let mut s: u32 = 0;
    for c in &mut chunks {
        s += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        s += u32::from(*last) << 8;
    }
    s
}

/// One's complement of the folded sum: the Internet checksum (RFC 1071).
fn fold(mut s: u64) -> u16 {
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn template(rec: &Record, ip: usize, tcp: &Tcp, after_ns: u64, from_client: bool) -> Template {
    let mut data = rec.data[..tcp.end].to_vec();
    // Zero the checksums and the client's address and port: a copy adds its own.
    let (addr, port) = if from_client {
        (ip + 12, tcp.tcp)
    } else {
        (ip + 16, tcp.tcp + 2)
    };
    data[ip + 10..ip + 12].fill(0);
    data[tcp.tcp + 16..tcp.tcp + 18].fill(0);
    data[addr..addr + 4].fill(0);
    data[port..port + 2].fill(0);
    let ip_sum = sum16(&data[ip..tcp.tcp]);
    let tcp_len = (tcp.end - tcp.tcp) as u32;
    // Pseudo-header: source, destination, zero, protocol 6, TCP length.
    let tcp_sum = sum16(&data[ip + 12..ip + 20]) + 6 + tcp_len + sum16(&data[tcp.tcp..]);
    Template {
        after_ns,
        data,
        ip,
        from_client,
        ip_sum,
        tcp_sum,
    }
}

/// Writes `t` with `client` as its client's address and port into `buf`.
fn stamp(t: &Template, (addr, port): (u32, u16), buf: &mut Vec<u8>) {
    buf.clear();
    buf.extend_from_slice(&t.data);
    let ip = t.ip;
    let tcp = ip + usize::from(buf[ip] & 0x0f) * 4;
    let (a, p) = if t.from_client {
        (ip + 12, tcp)
    } else {
        (ip + 16, tcp + 2)
    };
    buf[a..a + 4].copy_from_slice(&addr.to_be_bytes());
    buf[p..p + 2].copy_from_slice(&port.to_be_bytes());
    let client = u64::from(addr >> 16) + u64::from(addr & 0xffff);
    let ip_sum = fold(u64::from(t.ip_sum) + client);
    let tcp_sum = fold(u64::from(t.tcp_sum) + client + u64::from(port));
    buf[ip + 10..ip + 12].copy_from_slice(&ip_sum.to_be_bytes());
    buf[tcp + 16..tcp + 18].copy_from_slice(&tcp_sum.to_be_bytes());
}

#[cfg(test)]
mod tests;
