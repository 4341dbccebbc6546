//! Throughput of each stage of the passive path, on captures held in memory
//! (`cargo bench --bench stages`). Each benchmark adds one stage to the one
//! before, so the cost of a stage is its time minus the previous one's:
//!
//! | benchmark    | what one iteration does, for every input capture               |
//! |--------------|-----------------------------------------------------------------|
//! | `walk`       | capture::file reads every record (pcap-parser over the bytes)  |
//! | `decode`     | decode::decode of every packet (read beforehand)               |
//! | `reassembly` | + a tcp::FlowTable with the `()` observer, then its end        |
//! | `frames`     | + a websocket::Session per connection reading its streams       |
//! | `judge`      | + the liveness judge per connection, and its verdict at the end |
//! | `json`       | + each connection's findings serialized as JSON (to a sink)     |
//!
//! Throughput is in bytes of captured packet data. The input is, in order of
//! preference: the file named by `WSPULSE_BENCH_PCAP`; `bench/caps/sample.pcap`
//! (500 real connections recorded by `bench/gen.sh sample`, about 2 MB); the
//! crafted captures under `samples/` (small, unusual cases).

use std::hint::black_box;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use wspulse::capture::file::read_stream;
use wspulse::capture::OwnedPacket;
use wspulse::decode::{decode, Segment};
use wspulse::evidence::Moment;
use wspulse::liveness::Thresholds;
use wspulse::pipeline::{Judging, Tracked};
use wspulse::report::findings::{judged_at, ConnectionFindings};
use wspulse::side::Side;
use wspulse::tcp::{FlowTable, Limits, Retired, Retirement, RoleSource, StreamObserver};
use wspulse::websocket::tls::KeyStore;
use wspulse::websocket::{Session, WsEvent};

/// One capture file's bytes and its packets, copied out of the reader.
struct Input {
    bytes: &'static [u8],
    packets: Vec<OwnedPacket>,
}

fn input_paths() -> Vec<PathBuf> {
    if let Some(p) = std::env::var_os("WSPULSE_BENCH_PCAP") {
        return vec![PathBuf::from(p)];
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sample = root.join("bench/caps/sample.pcap");
    if sample.is_file() {
        return vec![sample];
    }
    let mut found = Vec::new();
    let mut dirs = vec![root.join("samples")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = entry.path();
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
            if p.is_dir() {
                dirs.push(p);
            } else if matches!(ext, "pcap" | "pcapng") {
                found.push(p);
            }
        }
    }
    found.sort();
    found
}

fn load() -> Vec<Input> {
    let inputs: Vec<Input> = input_paths()
        .iter()
        .filter_map(|path| {
            let bytes: &'static [u8] = Box::leak(std::fs::read(path).ok()?.into_boxed_slice());
            let mut packets = Vec::new();
            read_stream(reader(bytes), path.display().to_string(), 0, &mut |p| {
                packets.push(OwnedPacket::new(p))
            })
            .ok()?;
            Some(Input { bytes, packets })
        })
        .collect();
    assert!(!inputs.is_empty(), "no readable capture to benchmark");
    inputs
}

fn reader(bytes: &'static [u8]) -> Box<dyn Read + Send> {
    Box::new(Cursor::new(bytes))
}

fn now(p: &OwnedPacket) -> Moment {
    Moment {
        at: p.at,
        frame: p.frame,
    }
}

/// Routes every packet of `input` through a flow table of `O`, ends it, and
/// hands every connection to `retired`.
fn route<O: StreamObserver>(
    input: &Input,
    new_observer: impl Fn(&Segment<'_>) -> O,
    retired: &mut dyn FnMut(Retired<O>),
) {
    let mut table = FlowTable::new(Limits::default(), Vec::new());
    let mut last = None;
    for p in &input.packets {
        let packet = p.packet();
        if let Ok(seg) = decode(&packet) {
            table.on_segment(&seg, now(p), &new_observer, retired);
            last = Some(now(p));
        }
    }
    if let Some(end) = last {
        table.finish(end, retired);
    }
}

/// The WebSocket session alone: frames decoded, nothing judged.
struct Framing {
    session: Session,
    events: u64,
}

impl StreamObserver for Framing {
    fn on_data(&mut self, side: Side, bytes: &[u8], now: Moment) {
        let events = &mut self.events;
        self.session
            .on_data(side, bytes, now, &mut |_, e: WsEvent<'_>| {
                black_box(&e);
                *events += 1;
            });
    }
    fn on_gap(&mut self, side: Side, len: u64, _now: Moment) {
        let events = &mut self.events;
        self.session.on_gap(side, len, &mut |_, _| *events += 1);
    }
    fn swap_sides(&mut self) {
        self.session.swap_sides();
    }
    fn client_evidence(&self) -> Option<(Side, RoleSource)> {
        self.session.client_evidence()
    }
}

fn judging() -> Judging {
    let keys = Arc::new(KeyStore::default());
    Judging::new(Thresholds::default(), false, Some("bench"), &[], &[], keys)
        .expect("a key from a passphrase needs no random source")
}

fn stages(c: &mut Criterion) {
    let inputs = load();
    let bytes: u64 = inputs
        .iter()
        .flat_map(|i| &i.packets)
        .map(|p| p.data.len() as u64)
        .sum();
    let mut g = c.benchmark_group("stages");
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("walk", |b| {
        b.iter(|| {
            let mut seen = 0usize;
            for input in &inputs {
                let read = read_stream(reader(input.bytes), String::new(), 0, &mut |p| {
                    seen += p.data.len()
                });
                black_box(read.is_ok());
            }
            seen
        })
    });
    g.bench_function("decode", |b| {
        b.iter(|| {
            let mut decoded = 0usize;
            for p in inputs.iter().flat_map(|i| &i.packets) {
                decoded += usize::from(black_box(decode(&p.packet())).is_ok());
            }
            decoded
        })
    });
    g.bench_function("reassembly", |b| {
        b.iter(|| {
            let mut connections = 0usize;
            for input in &inputs {
                route(input, |_| (), &mut |_| connections += 1);
            }
            connections
        })
    });
    let j = judging();
    g.bench_function("frames", |b| {
        b.iter(|| {
            let mut events = 0u64;
            for input in &inputs {
                let observer = |seg: &Segment<'_>| Framing {
                    session: j.observer(seg).session,
                    events: 0,
                };
                route(input, observer, &mut |r| events += r.conn.observer.events);
            }
            events
        })
    });
    let judge_one = |r: &Retired<Tracked>| {
        let retired = (r.cause != Retirement::Open).then_some(r.cause);
        let at = judged_at(&r.conn.observer.judge, retired, r.at);
        (retired, at)
    };
    g.bench_function("judge", |b| {
        b.iter(|| {
            for input in &inputs {
                route(input, |seg| j.observer(seg), &mut |r: Retired<Tracked>| {
                    let (_, at) = judge_one(&r);
                    black_box(r.conn.observer.judge.judge(at).verdict);
                });
            }
        })
    });
    g.bench_function("json", |b| {
        b.iter(|| {
            let mut out = std::io::sink();
            for input in &inputs {
                route(input, |seg| j.observer(seg), &mut |r: Retired<Tracked>| {
                    if !r.conn.observer.session.is_judged() {
                        return;
                    }
                    let (retired, at) = judge_one(&r);
                    let c = ConnectionFindings::new(r.id, &r.conn, at, retired, &j.redact);
                    serde_json::to_writer(&mut out, &c).expect("a sink takes anything");
                });
            }
        })
    });
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
