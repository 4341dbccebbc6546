//! The second pass behind `--report FILE.html`: the chosen connections'
//! packets, read again, through the same TCP → WebSocket stages, recorded
//! as the bounded time series their timelines draw
//! ([`crate::report::html::series`]).
//!
//! A verdict is known only when a connection retires or the input ends,
//! so the report's pass only chooses (each connection's addresses and its
//! first and last frame, as `--extract` does); [`collect`] then reads the
//! inputs once more and feeds every packet of a chosen connection, from
//! its first frame to its last, to a fresh flow table whose consumers
//! record instead of judge. Stdin cannot be read twice, so `--report`
//! refuses it ([`check`]).

use std::cell::Cell;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use super::Ingest;
use crate::capture::file::Input;
use crate::capture::set::read_set;
use crate::config::AnalyzeConfig;
use crate::decode::{decode, Segment};
use crate::evidence::{FrameRef, Moment};
use crate::report::html::series::{MarkKind, Series};
use crate::side::Side;
use crate::tcp::{RoleSource, StreamObserver, TcpEvent};
use crate::time::Timestamp;
use crate::websocket::app::{AppEvent, Beat};
use crate::websocket::frame::Opcode;
use crate::websocket::tls::KeyStore;
use crate::websocket::{Session, SessionSetup, WsEvent};

/// An endpoint: address and port.
pub type Endpoint = (IpAddr, u16);

/// A connection whose timeline the report draws: its real endpoints (as
/// on the wire, before any `--redact` pseudonym; never printed), its first
/// and last frames, and the time range its timeline covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wanted {
    pub client: Endpoint,
    pub server: Endpoint,
    pub first: FrameRef,
    pub last: FrameRef,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// Refuses what `--report` cannot do before the report is made: stdin
/// (it cannot be read twice), and a FILE that is an input, a directory
/// or in no directory. Errors are one line.
pub fn check(inputs: &[Input], path: &Path) -> Result<(), String> {
    if inputs.contains(&Input::Stdin) {
        return Err("--report reads the inputs twice and stdin cannot be read again: save the capture to a file first (tcpdump -w FILE)".into());
    }
    let shown = path.display();
    if path.is_dir() {
        return Err(format!(
            "--report {shown}: is a directory; give a file name"
        ));
    }
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    if dir.is_some_and(|d| !d.is_dir()) {
        return Err(format!("--report {shown}: no such directory"));
    }
    if let Ok(out) = path.canonicalize() {
        for input in inputs {
            if let Input::Path(p) = input {
                if p.canonicalize().is_ok_and(|c| c == out) {
                    return Err(format!(
                        "--report {shown}: that is an input capture; refusing to overwrite it"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// A chosen connection's consumer in the second pass: its WebSocket
/// session, and the series it fills.
struct Recorder {
    index: usize,
    session: Session,
    series: Series,
}

fn hash(payload: Option<&[u8]>) -> u64 {
    let mut h = DefaultHasher::new();
    payload.hash(&mut h);
    h.finish()
}

fn record_ws(series: &mut Series, side: Side, at: Timestamp, event: WsEvent<'_>) {
    match event {
        WsEvent::Frame {
            header,
            control_payload,
        } => {
            let control = header.opcode.is_control();
            series.frame(side, at, control, header.payload_len);
            match header.opcode {
                Opcode::Ping => series.ping(side, at, hash(control_payload)),
                Opcode::Pong => series.pong(side, at, hash(control_payload)),
                Opcode::Close => series.mark(side, at, MarkKind::Close),
                _ => {}
            }
        }
        WsEvent::App(AppEvent::Beat { beat, .. }) => {
            let kind = match beat {
                Beat::Ping => MarkKind::AppPing,
                Beat::Pong => MarkKind::AppPong,
                Beat::OneWay => MarkKind::AppOneWay,
            };
            series.mark(side, at, kind);
        }
        _ => {}
    }
}

impl StreamObserver for Recorder {
    fn on_data(&mut self, side: Side, bytes: &[u8], now: Moment) {
        let series = &mut self.series;
        self.session.on_data(side, bytes, now, &mut |side, e| {
            record_ws(series, side, now.at, e)
        });
    }

    fn on_gap(&mut self, side: Side, len: u64, now: Moment) {
        let series = &mut self.series;
        self.session
            .on_gap(side, len, &mut |side, e| record_ws(series, side, now.at, e));
    }

    fn on_tcp(&mut self, side: Side, event: TcpEvent, now: Moment) {
        let (s, at) = (&mut self.series, now.at);
        match event {
            TcpEvent::Sent {
                retransmission,
                in_flight,
                ..
            } => s.sent(side, at, retransmission, in_flight),
            TcpEvent::Acked { in_flight, .. } => s.backlog(side, at, in_flight),
            TcpEvent::Window { window, .. } => s.window(side, at, window),
            TcpEvent::Probe { .. } => s.probe(side, at),
            TcpEvent::Fin => s.mark(side, at, MarkKind::Fin),
            TcpEvent::Rst => s.mark(side, at, MarkKind::Rst),
            TcpEvent::Missed { .. } | TcpEvent::Conflict { .. } => {}
        }
    }

    fn swap_sides(&mut self) {
        self.session.swap_sides();
        self.series.swap_sides();
    }

    fn client_evidence(&self) -> Option<(Side, RoleSource)> {
        self.session.client_evidence()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Before,
    Within,
    Done,
}

fn pair(a: Endpoint, b: Endpoint) -> (Endpoint, Endpoint) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// Reads `config`'s inputs again and records the series of each of
/// `wanted`, by index; `end` is the evaluation time (connections still
/// open are finished there). A connection whose packets the pass did not
/// find again gets `None`. Errors (one line): an input that cannot be
/// opened; damage part-way gives the series of what came before.
pub fn collect(
    config: &AnalyzeConfig,
    keys: Option<&Arc<KeyStore>>,
    wanted: &[Wanted],
    end: Timestamp,
) -> Result<Vec<Option<Series>>, String> {
    let mut ingest: Ingest<Recorder> = Ingest::new(
        config.limits,
        config.server_ports(),
        config.selectors.clone(),
        config.filter.as_deref(),
    )?;
    let mut by_pair: HashMap<(Endpoint, Endpoint), Vec<usize>> = HashMap::new();
    for (i, w) in wanted.iter().enumerate() {
        by_pair.entry(pair(w.client, w.server)).or_default().push(i);
    }
    let mut state = vec![State::Before; wanted.len()];
    let mut out: Vec<Option<Series>> = vec![None; wanted.len()];
    let current = Cell::new(0usize);
    let on =
        |ports: &[u16], seg: &Segment<'_>| ports.contains(&seg.src.1) || ports.contains(&seg.dst.1);
    let new_observer = |seg: &Segment<'_>| {
        let w = &wanted[current.get()];
        let setup = SessionSetup {
            roles_known: seg.flags.syn() || on(&config.ws_ports, seg) || on(&config.tls_ports, seg),
            ws_port: on(&config.ws_ports, seg),
            tls_port: on(&config.tls_ports, seg),
        };
        Recorder {
            index: current.get(),
            session: Session::new(setup, keys.cloned()),
            series: Series::new(w.start, w.end),
        }
    };
    let mut retire = |r: crate::tcp::Retired<Recorder>| {
        let Recorder {
            index, mut series, ..
        } = r.conn.observer;
        if (r.conn.client, r.conn.server) != (wanted[index].client, wanted[index].server) {
            // The roles the report named are the ones drawn.
            series.swap_sides();
        }
        series.finish();
        out[index] = Some(series);
    };
    let _ = read_set(
        &config.inputs,
        None,
        &mut |packet| {
            let at = ingest.stamp(packet);
            let Ok(seg) = decode(packet) else { return };
            let Some(candidates) = by_pair.get(&pair(seg.src, seg.dst)) else {
                return;
            };
            let Some(&i) = candidates.iter().find(|&&i| {
                if state[i] == State::Before && packet.frame == wanted[i].first {
                    state[i] = State::Within;
                }
                state[i] == State::Within
            }) else {
                return;
            };
            if packet.frame == wanted[i].last {
                state[i] = State::Done;
            }
            current.set(i);
            ingest.apply(packet, at, new_observer, &mut retire);
        },
        &mut |_, _| {},
    )
    .map_err(|e| e.to_string())?;
    let end = Moment {
        at: end,
        frame: ingest.last_routed().frame,
    };
    ingest.table.finish(end, &mut retire);
    Ok(out)
}

/// Writes the `--report` page at `path` (atomically, as `-o` writes):
/// reads the inputs again for the series of the connections `report`
/// draws, judged at `end`. Returns what stderr says of it. Errors (one
/// line): an input that cannot be read again, a page that cannot be
/// written.
pub fn write_report(
    config: &AnalyzeConfig,
    keys: Option<&Arc<KeyStore>>,
    path: &Path,
    mut report: crate::report::html::HtmlReport<Wanted>,
    end: Timestamp,
    page: &crate::report::html::Page<'_>,
) -> Result<String, String> {
    let wanted: Vec<Wanted> = report.chosen().into_iter().copied().collect();
    let mut series = if wanted.is_empty() {
        Vec::new()
    } else {
        collect(config, keys, &wanted, end)?
    };
    // Errors name the flag: the page is not the report on stdout or -o.
    let named = |e: String| format!("--report: {e}");
    let mut sink = crate::sink::Sink::open(Some(path), false).map_err(named)?;
    if let Err(e) = sink.write(|out| report.write(&mut series, page, out)) {
        sink.abort();
        return Err(named(e));
    }
    sink.finish().map_err(named)?;
    let n = report.timelines();
    let picked = config
        .html
        .as_ref()
        .is_some_and(|h| !h.connections.is_empty());
    Ok(format!(
        "--report {}: {n} timeline{} (the connections not alive{}){}",
        path.display(),
        if n == 1 { "" } else { "s" },
        if picked {
            " and those --connection picked"
        } else {
            ""
        },
        missing_picks(config, &report.missing())
    ))
}

/// The `--connection` ids a run found no judged WebSocket connection for,
/// as a clause for its stderr note (empty when there are none); an id
/// `--port`/`--host` leave out is said to be outside the selection.
pub fn missing_picks(config: &AnalyzeConfig, missing: &[u64]) -> String {
    if missing.is_empty() {
        return String::new();
    }
    let ids: Vec<String> = missing.iter().map(|id| format!("#{id}")).collect();
    format!(
        "; no judged WebSocket connection {}{}",
        ids.join(", "),
        if config.selectors.is_empty() {
            ""
        } else {
            " among those --port/--host select"
        }
    )
}
