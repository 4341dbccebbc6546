//! What the HTML timeline of one connection draws, gathered from its
//! packets in a bounded shape: time buckets per side, Ping → Pong arcs,
//! zero-window spans and a few dated marks.
//!
//! Bounds, per connection, whatever the capture's length: at most
//! [`MAX_BUCKETS`] time buckets (each side's frames, bytes,
//! retransmissions, unacked backlog and advertised window in that slice
//! of time), [`MAX_ARCS`] answered Ping → Pong arcs (the latest kept),
//! [`MAX_UNANSWERED`] unanswered Pings (the earliest kept: the first one
//! is where the trouble began), [`MAX_SPANS`] zero-window spans and
//! [`MAX_MARKS`] other marks (FIN, RST, Close, application heartbeats).
//! What does not fit is counted in `dropped`.
//!
//! It holds no payload byte: a control frame's payload is reduced to a
//! 64-bit hash, used only to pair a Pong with its Ping (RFC 6455 §5.5.3:
//! a Pong echoes the Ping's application data) and never printed.

use std::collections::VecDeque;

use crate::side::{PerSide, Side};
use crate::time::Timestamp;

/// Time buckets per connection.
pub const MAX_BUCKETS: usize = 400;
/// Answered Ping → Pong arcs kept per connection (the latest).
pub const MAX_ARCS: usize = 160;
/// Unanswered Pings kept per connection (the earliest).
pub const MAX_UNANSWERED: usize = 32;
/// Zero-window spans kept per connection (the earliest).
pub const MAX_SPANS: usize = 64;
/// FIN, RST, Close and application-heartbeat marks kept per connection
/// (the earliest).
pub const MAX_MARKS: usize = 240;
/// Pings awaiting a Pong held per side for pairing (the latest).
const MAX_OUTSTANDING: usize = 64;

/// One side's activity within one time bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Data frames (text, binary, continuation) this side sent.
    pub data_frames: u32,
    /// Control frames (Ping, Pong, Close) this side sent.
    pub control_frames: u32,
    /// Payload bytes of this side's data frames.
    pub data_bytes: u64,
    /// TCP segments this side retransmitted, and the first one's time.
    pub retransmissions: u32,
    pub first_retransmission: Option<Timestamp>,
    /// Zero-window probes and keep-alives this side sent (RFC 9293
    /// §3.8.6.1, §3.8.4).
    pub probes: u32,
    /// The most bytes this side had sent and not yet seen acknowledged,
    /// and the last such reading in the bucket (`None`: no reading).
    pub backlog_max: Option<u32>,
    pub backlog_last: Option<u32>,
    /// The smallest receive window this side advertised, and its last
    /// (bytes; scaled when the handshake was seen, RFC 7323 §2.2).
    pub window_min: Option<u32>,
    pub window_last: Option<u32>,
}

/// A Ping and the Pong that answered it, if one did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PingArc {
    /// The side that sent the Ping.
    pub side: Side,
    pub ping: Timestamp,
    /// `None`: no Pong answered it by the end of the connection's packets.
    pub pong: Option<Timestamp>,
}

/// A span of time when `side` advertised a zero receive window (RFC 9293
/// §3.8.6): its peer could send nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZeroWindow {
    pub side: Side,
    pub start: Timestamp,
    /// `None`: the window was still zero at the connection's last packet.
    pub end: Option<Timestamp>,
}

/// What a dated mark shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkKind {
    /// TCP FIN (RFC 9293 §3.6).
    Fin,
    /// TCP RST (RFC 9293 §3.10.7.3).
    Rst,
    /// A WebSocket Close frame (RFC 6455 §5.5.1).
    Close,
    /// A Pong no outstanding Ping asked for (RFC 6455 §5.5.3 allows them).
    UnsolicitedPong,
    /// An application heartbeat: a ping, its answer, or a one-way beat.
    AppPing,
    AppPong,
    AppOneWay,
}

impl MarkKind {
    /// The short code the HTML's `data-mark` carries.
    pub fn code(self) -> &'static str {
        match self {
            MarkKind::Fin => "fin",
            MarkKind::Rst => "rst",
            MarkKind::Close => "close",
            MarkKind::UnsolicitedPong => "unsolicited_pong",
            MarkKind::AppPing => "app_ping",
            MarkKind::AppPong => "app_pong",
            MarkKind::AppOneWay => "app_one_way",
        }
    }

    /// The mark in words, for the side that sent it.
    pub fn words(self) -> &'static str {
        match self {
            MarkKind::Fin => "TCP FIN",
            MarkKind::Rst => "TCP RST",
            MarkKind::Close => "WebSocket Close",
            MarkKind::UnsolicitedPong => "Pong nobody asked for",
            MarkKind::AppPing => "application ping",
            MarkKind::AppPong => "application pong",
            MarkKind::AppOneWay => "application heartbeat",
        }
    }
}

/// One dated mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    pub side: Side,
    pub at: Timestamp,
    pub kind: MarkKind,
}

/// One connection's drawable history between `start` and `end`.
///
/// Invariant: `buckets` has [`MAX_BUCKETS`] entries, bucket `i` covering
/// `[start + i·width, start + (i+1)·width)`; times outside `[start, end]`
/// fall in the first or last bucket.
#[derive(Clone, Debug)]
pub struct Series {
    pub start: Timestamp,
    pub end: Timestamp,
    /// Nanoseconds per bucket, at least 1.
    pub width_ns: i64,
    pub buckets: Vec<PerSide<Bucket>>,
    /// Answered arcs (the latest [`MAX_ARCS`]) then, after
    /// [`Series::finish`], unanswered Pings; in time order of the Ping.
    pub arcs: Vec<PingArc>,
    pub zero_windows: Vec<ZeroWindow>,
    pub marks: Vec<Mark>,
    /// Arcs, spans and marks left out by the bounds above.
    pub dropped: u64,
    answered: VecDeque<PingArc>,
    outstanding: PerSide<VecDeque<(Timestamp, u64)>>,
    open_zero: PerSide<Option<usize>>,
    finished: bool,
}

impl Series {
    /// An empty history of `[start, end]` (`end` before `start` is taken
    /// as `start`).
    pub fn new(start: Timestamp, end: Timestamp) -> Self {
        let end = end.max(start);
        let span = end.since(start).nanos();
        let width_ns = (span / MAX_BUCKETS as i64 + 1).max(1);
        Series {
            start,
            end,
            width_ns,
            buckets: vec![PerSide::default(); MAX_BUCKETS],
            arcs: Vec::new(),
            zero_windows: Vec::new(),
            marks: Vec::new(),
            dropped: 0,
            answered: VecDeque::new(),
            outstanding: PerSide::default(),
            open_zero: PerSide::default(),
            finished: false,
        }
    }

    /// The bucket index of `at`, clamped to the range.
    pub fn bucket_of(&self, at: Timestamp) -> usize {
        let offset = at.since(self.start).nanos().max(0) / self.width_ns;
        (offset as usize).min(MAX_BUCKETS - 1)
    }

    /// The start of bucket `i`.
    pub fn bucket_start(&self, i: usize) -> Timestamp {
        self.start + crate::time::Span::from_nanos(self.width_ns.saturating_mul(i as i64))
    }

    fn bucket(&mut self, side: Side, at: Timestamp) -> &mut Bucket {
        let i = self.bucket_of(at);
        &mut self.buckets[i][side]
    }

    /// `side` sent a WebSocket frame: data (with `payload_len` bytes) or
    /// control.
    pub fn frame(&mut self, side: Side, at: Timestamp, control: bool, payload_len: u64) {
        let b = self.bucket(side, at);
        if control {
            b.control_frames = b.control_frames.saturating_add(1);
        } else {
            b.data_frames = b.data_frames.saturating_add(1);
            b.data_bytes = b.data_bytes.saturating_add(payload_len);
        }
    }

    /// `side` sent a Ping whose payload hashes to `payload`.
    pub fn ping(&mut self, side: Side, at: Timestamp, payload: u64) {
        let q = &mut self.outstanding[side];
        if q.len() == MAX_OUTSTANDING {
            q.pop_front();
            self.dropped += 1;
        }
        q.push_back((at, payload));
    }

    /// `side` sent a Pong whose payload hashes to `payload`: it answers
    /// the other side's latest Ping with the same payload, and the older
    /// ones it supersedes (RFC 6455 §5.5.3: an endpoint may answer only
    /// the most recent Ping); with no such Ping it is unsolicited.
    pub fn pong(&mut self, side: Side, at: Timestamp, payload: u64) {
        let pinger = side.other();
        let q = &mut self.outstanding[pinger];
        let Some(i) = q.iter().rposition(|&(_, p)| p == payload) else {
            self.mark(side, at, MarkKind::UnsolicitedPong);
            return;
        };
        let (ping, _) = q[i];
        q.drain(..=i);
        if self.answered.len() == MAX_ARCS {
            self.answered.pop_front();
            self.dropped += 1;
        }
        self.answered.push_back(PingArc {
            side: pinger,
            ping,
            pong: Some(at),
        });
    }

    /// `side` sent `retransmission`s or new payload; `in_flight` is its
    /// unacknowledged bytes afterwards.
    pub fn sent(&mut self, side: Side, at: Timestamp, retransmission: bool, in_flight: u32) {
        let b = self.bucket(side, at);
        if retransmission {
            b.retransmissions = b.retransmissions.saturating_add(1);
            b.first_retransmission.get_or_insert(at);
        }
        Self::backlog_into(b, in_flight);
    }

    /// `side`'s unacknowledged bytes, after an ACK from its peer.
    pub fn backlog(&mut self, side: Side, at: Timestamp, in_flight: u32) {
        Self::backlog_into(self.bucket(side, at), in_flight);
    }

    fn backlog_into(b: &mut Bucket, in_flight: u32) {
        b.backlog_max = Some(b.backlog_max.map_or(in_flight, |m| m.max(in_flight)));
        b.backlog_last = Some(in_flight);
    }

    /// The receive window `side` advertised; zero opens a zero-window
    /// span, a non-zero window closes it.
    pub fn window(&mut self, side: Side, at: Timestamp, window: u32) {
        let b = self.bucket(side, at);
        b.window_min = Some(b.window_min.map_or(window, |m| m.min(window)));
        b.window_last = Some(window);
        match (window, self.open_zero[side]) {
            (0, None) => {
                if self.zero_windows.len() < MAX_SPANS {
                    self.open_zero[side] = Some(self.zero_windows.len());
                    self.zero_windows.push(ZeroWindow {
                        side,
                        start: at,
                        end: None,
                    });
                } else {
                    self.dropped += 1;
                }
            }
            (1.., Some(i)) => {
                self.zero_windows[i].end = Some(at);
                self.open_zero[side] = None;
            }
            _ => {}
        }
    }

    /// `side` sent a keep-alive or zero-window probe.
    pub fn probe(&mut self, side: Side, at: Timestamp) {
        let b = self.bucket(side, at);
        b.probes = b.probes.saturating_add(1);
    }

    /// A dated mark, while fewer than [`MAX_MARKS`] are kept.
    pub fn mark(&mut self, side: Side, at: Timestamp, kind: MarkKind) {
        if self.marks.len() < MAX_MARKS {
            self.marks.push(Mark { side, at, kind });
        } else {
            self.dropped += 1;
        }
    }

    /// The roles were swapped after the first packets: every per-side
    /// record follows.
    pub fn swap_sides(&mut self) {
        for b in &mut self.buckets {
            b.swap();
        }
        self.outstanding.swap();
        self.open_zero.swap();
        let flip = |s: &mut Side| *s = s.other();
        self.answered.iter_mut().for_each(|a| flip(&mut a.side));
        self.zero_windows.iter_mut().for_each(|z| flip(&mut z.side));
        self.marks.iter_mut().for_each(|m| flip(&mut m.side));
    }

    /// Ends the record: Pings still awaiting a Pong become unanswered
    /// arcs (the earliest [`MAX_UNANSWERED`]), all arcs in Ping order.
    /// Idempotent.
    pub fn finish(&mut self) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        self.arcs.extend(self.answered.drain(..));
        let mut unanswered: Vec<PingArc> = Vec::new();
        for side in [Side::Client, Side::Server] {
            let pings = self.outstanding[side].drain(..);
            unanswered.extend(pings.map(|(ping, _)| PingArc {
                side,
                ping,
                pong: None,
            }));
        }
        unanswered.sort_by_key(|a| a.ping);
        if unanswered.len() > MAX_UNANSWERED {
            self.dropped += (unanswered.len() - MAX_UNANSWERED) as u64;
            unanswered.truncate(MAX_UNANSWERED);
        }
        self.arcs.extend(unanswered);
        self.arcs.sort_by_key(|a| a.ping);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: i64) -> Timestamp {
        Timestamp::from_nanos(1_764_000_000_000_000_000 + ms * 1_000_000)
    }

    #[test]
    fn a_long_connection_stays_within_its_buckets() {
        let mut s = Series::new(t(0), t(3_600_000));
        for i in 0..100_000 {
            s.frame(Side::Server, t(i * 36), false, 10);
        }
        s.frame(Side::Server, t(10_000_000), false, 10);
        assert_eq!(s.buckets.len(), MAX_BUCKETS);
        let frames: u32 = s.buckets.iter().map(|b| b[Side::Server].data_frames).sum();
        assert_eq!(frames, 100_001);
        assert_eq!(s.bucket_of(t(-5)), 0);
    }

    #[test]
    fn a_pong_answers_the_ping_it_echoes_and_the_rest_stay_unanswered() {
        let mut s = Series::new(t(0), t(10_000));
        s.ping(Side::Server, t(1000), 7);
        s.pong(Side::Client, t(1020), 7);
        s.ping(Side::Server, t(3000), 8);
        s.pong(Side::Client, t(3010), 99);
        s.finish();
        assert_eq!(
            s.arcs,
            vec![
                PingArc {
                    side: Side::Server,
                    ping: t(1000),
                    pong: Some(t(1020))
                },
                PingArc {
                    side: Side::Server,
                    ping: t(3000),
                    pong: None
                },
            ]
        );
        assert_eq!(s.marks[0].kind, MarkKind::UnsolicitedPong);
    }

    #[test]
    fn unanswered_pings_beyond_the_bound_are_counted_not_kept() {
        let mut s = Series::new(t(0), t(100_000));
        for i in 0..50 {
            s.ping(Side::Client, t(i * 1000), i as u64);
        }
        s.finish();
        assert_eq!(s.arcs.len(), MAX_UNANSWERED);
        assert_eq!(s.arcs[0].ping, t(0));
        assert_eq!(s.dropped, 50 - MAX_UNANSWERED as u64);
    }

    #[test]
    fn a_zero_window_span_opens_and_closes_with_the_window() {
        let mut s = Series::new(t(0), t(10_000));
        s.window(Side::Client, t(100), 4096);
        s.window(Side::Client, t(200), 0);
        s.window(Side::Client, t(300), 0);
        s.window(Side::Client, t(900), 512);
        s.window(Side::Client, t(950), 0);
        assert_eq!(
            s.zero_windows,
            vec![
                ZeroWindow {
                    side: Side::Client,
                    start: t(200),
                    end: Some(t(900))
                },
                ZeroWindow {
                    side: Side::Client,
                    start: t(950),
                    end: None
                }
            ]
        );
    }
}
