//! What each side of a WebSocket connection wrote, recorded in stream order
//! with bounded memory: frame counts, data cadence, Ping/Pong pairing and
//! latency, Close frames, violations, and the past silences (episodes) that
//! cannot be reconstructed at the end.

use serde::Serialize;

use super::cadence::{Cadence, LatencyHistogram};
use super::{Code, Thresholds, DATA_CADENCE_MESSAGES};
use crate::evidence::Moment;
use crate::side::{PerSide, Side};
use crate::time::Span;
use crate::websocket::frame::{FrameHeader, Opcode};

/// Outstanding Pings kept per side; the newest win (the spec's bound).
pub const MAX_OUTSTANDING_PINGS: usize = 8;
/// Past episodes kept per side; later ones are counted, not kept.
pub const MAX_EPISODES: usize = 16;
/// Violations kept as examples per side; all are counted.
pub const MAX_VIOLATION_SAMPLES: usize = 8;

/// WebSocket frames by opcode, as tshark's dissector counts them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FrameCounts {
    pub text: u64,
    pub binary: u64,
    pub continuation: u64,
    pub close: u64,
    pub ping: u64,
    pub pong: u64,
    /// Reserved opcodes 3–7 and 0xB–0xF (RFC 6455 §5.2).
    pub reserved: u64,
}

/// A Ping waiting for its Pong.
#[derive(Clone, Debug)]
pub struct Ping {
    pub at: Moment,
    len: u8,
    payload: [u8; 125],
}

impl Ping {
    pub fn payload(&self) -> &[u8] {
        &self.payload[..self.len as usize]
    }
}

/// A Close frame (RFC 6455 §5.5.1): status code and reason, if present.
#[derive(Clone, Debug, Serialize)]
pub struct CloseFrame {
    pub code: Option<u16>,
    pub reason: String,
    #[serde(flatten)]
    pub at: Moment,
}

/// A past stall or silence that ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PastEpisode {
    pub code: Code,
    pub start: Moment,
    pub end: Moment,
}

#[derive(Clone, Debug, Default)]
pub struct SideActivity {
    pub frames: FrameCounts,
    pub data_messages: u64,
    /// Payload bytes of data frames (as on the wire: compressed if RSV1).
    pub data_bytes: u64,
    message_open: bool,
    pub first_frame: Option<Moment>,
    pub last_frame: Option<Moment>,
    pub last_data: Option<Moment>,
    pub last_control: Option<Moment>,
    pub data_cadence: Cadence,
    pub ping_cadence: Cadence,
    /// Pings this side sent that no Pong has answered yet (oldest first).
    pub outstanding: Vec<Ping>,
    /// Pongs the other side sent for this side's Pings.
    pub pongs_received: u64,
    /// Latency of the answers to this side's Pings; allocated with the
    /// first answer, since usually only one side pings.
    pub pong_latency: Option<Box<LatencyHistogram>>,
    /// Pongs this side sent when no Ping was outstanding: a legal one-way
    /// heartbeat (RFC 6455 §5.5.3).
    pub unsolicited_pongs: u64,
    /// Pongs this side sent whose payload echoed no outstanding Ping.
    pub mismatched_pongs: u32,
    pub first_mismatch: Option<(Moment, Vec<u8>, Vec<u8>)>,
    pub close: Option<CloseFrame>,
    pub violations: u32,
    pub violation_samples: Vec<(&'static str, Moment)>,
    /// Stream bytes the capture missed.
    pub gap_bytes: u64,
    pub resyncs: u32,
    /// Past silences and late answers, with this side at fault.
    pub episodes: Vec<PastEpisode>,
    pub episodes_dropped: u32,
}

impl SideActivity {
    /// A cadence to hold this side to: Pings, or enough data messages.
    pub fn has_cadence(&self) -> bool {
        self.ping_cadence.events >= 2 || self.data_messages >= DATA_CADENCE_MESSAGES
    }

    pub fn pings_sent(&self) -> u64 {
        self.frames.ping
    }

    fn push_episode(&mut self, episode: PastEpisode) {
        if self.episodes.len() < MAX_EPISODES {
            self.episodes.push(episode);
        } else {
            self.episodes_dropped += 1;
        }
    }
}

/// Both sides' activity, plus the thresholds episodes are measured with.
#[derive(Clone, Debug)]
pub struct Activity {
    pub sides: PerSide<SideActivity>,
    thresholds: Thresholds,
}

impl Activity {
    pub fn new(thresholds: Thresholds) -> Self {
        Activity {
            sides: PerSide::default(),
            thresholds,
        }
    }

    pub fn swap_sides(&mut self) {
        self.sides.swap();
    }

    /// The heartbeat interval that paces `side`: its own Pings, or else the
    /// Pings it answers.
    pub fn heartbeat(&self, side: Side) -> Option<Span> {
        self.sides[side]
            .ping_cadence
            .median()
            .or_else(|| self.sides[side.other()].ping_cadence.median())
    }

    /// Whether `side` owes a Pong: the other side has a Ping outstanding.
    pub fn owes_pong(&self, side: Side) -> bool {
        !self.sides[side.other()].outstanding.is_empty()
    }

    pub fn read_deadline(&self, side: Side) -> Span {
        self.thresholds.read_deadline(self.heartbeat(side))
    }

    pub fn pong_timeout(&self, pinger: Side) -> Span {
        self.thresholds
            .pong_timeout(self.sides[pinger].ping_cadence.median())
    }

    /// Something `side` wrote that counts as hearing from it (a frame, or a
    /// TLS record when frames are not visible).
    pub fn heard(&mut self, side: Side, now: Moment) {
        let judged = self.sides[side].has_cadence() || self.owes_pong(side);
        let deadline = self.read_deadline(side);
        let me = &mut self.sides[side];
        if let Some(last) = me.last_frame {
            if judged && now.at.since(last.at) > deadline {
                me.push_episode(PastEpisode {
                    code: Code::ReadGapExceeded,
                    start: last,
                    end: now,
                });
            }
        }
        me.first_frame.get_or_insert(now);
        me.last_frame = Some(now);
    }

    /// A TLS record (wss): visible activity without frames. Records pace a
    /// side like data messages do.
    pub fn on_record(&mut self, side: Side, len: u64, now: Moment) {
        self.heard(side, now);
        let me = &mut self.sides[side];
        me.data_messages += 1;
        me.data_bytes += len;
        me.data_cadence.event(now.at);
        me.last_data = Some(now);
    }

    pub fn on_frame(
        &mut self,
        side: Side,
        header: &FrameHeader,
        payload: Option<&[u8]>,
        now: Moment,
    ) {
        self.heard(side, now);
        let me = &mut self.sides[side];
        match header.opcode {
            Opcode::Text | Opcode::Binary | Opcode::Continuation => {
                match header.opcode {
                    Opcode::Text => me.frames.text += 1,
                    Opcode::Binary => me.frames.binary += 1,
                    _ => me.frames.continuation += 1,
                }
                // RFC 6455 §5.4: a message starts with a Text or Binary
                // frame and ends with the first frame that has FIN set.
                if header.opcode != Opcode::Continuation && !me.message_open {
                    me.data_messages += 1;
                    me.data_cadence.event(now.at);
                }
                me.message_open = !header.fin;
                me.data_bytes += header.payload_len;
                me.last_data = Some(now);
            }
            Opcode::Ping => {
                me.frames.ping += 1;
                me.last_control = Some(now);
                me.ping_cadence.event(now.at);
                if me.outstanding.len() == MAX_OUTSTANDING_PINGS {
                    me.outstanding.remove(0);
                }
                let payload = payload.unwrap_or_default();
                let mut ping = Ping {
                    at: now,
                    len: payload.len().min(125) as u8,
                    payload: [0; 125],
                };
                ping.payload[..ping.len as usize].copy_from_slice(&payload[..ping.len as usize]);
                me.outstanding.push(ping);
            }
            Opcode::Pong => {
                me.frames.pong += 1;
                me.last_control = Some(now);
                self.on_pong(side, payload.unwrap_or_default(), now);
            }
            Opcode::Close => {
                me.frames.close += 1;
                me.last_control = Some(now);
                if me.close.is_none() {
                    me.close = Some(close_frame(payload.unwrap_or_default(), now));
                }
            }
            Opcode::Reserved(_) => me.frames.reserved += 1,
        }
    }

    /// RFC 6455 §5.5.3: a Pong answers the most recent outstanding Ping with
    /// an equal payload, or else the most recent one (a mismatch, noted).
    /// Answering supersedes every older outstanding Ping, since an endpoint
    /// may answer only the latest.
    fn on_pong(&mut self, ponger: Side, payload: &[u8], now: Moment) {
        let pinger = ponger.other();
        let timeout = self.pong_timeout(pinger);
        let outstanding = &self.sides[pinger].outstanding;
        if outstanding.is_empty() {
            self.sides[ponger].unsolicited_pongs += 1;
            return;
        }
        let matched = outstanding.iter().rposition(|p| p.payload() == payload);
        let index = matched.unwrap_or(outstanding.len() - 1);
        let p = &mut self.sides[pinger];
        // The answered Ping and every older one leave together.
        let Some(ping) = p.outstanding.drain(..=index).next_back() else {
            return;
        };
        p.pongs_received += 1;
        let latency = now.at.since(ping.at.at);
        p.pong_latency.get_or_insert_default().record(latency);
        let me = &mut self.sides[ponger];
        if matched.is_none() {
            me.mismatched_pongs += 1;
            if me.first_mismatch.is_none() {
                me.first_mismatch = Some((now, ping.payload().to_vec(), payload.to_vec()));
            }
        }
        if latency > timeout {
            me.push_episode(PastEpisode {
                code: Code::PingUnanswered,
                start: ping.at,
                end: now,
            });
        }
    }

    pub fn on_violation(&mut self, side: Side, code: &'static str, now: Moment) {
        let me = &mut self.sides[side];
        me.violations += 1;
        if me.violation_samples.len() < MAX_VIOLATION_SAMPLES {
            me.violation_samples.push((code, now));
        }
    }

    pub fn on_gap(&mut self, side: Side, len: u64) {
        self.sides[side].gap_bytes += len;
    }

    pub fn on_resync(&mut self, side: Side) {
        let me = &mut self.sides[side];
        me.resyncs += 1;
        // Whether a message was open is unknown after a resync.
        me.message_open = false;
    }

    pub fn any_heartbeat(&self) -> bool {
        Side::BOTH
            .iter()
            .any(|&s| self.sides[s].frames.ping > 0 || self.sides[s].frames.pong > 0)
    }
}

/// RFC 6455 §5.5.1: an optional 2-byte status code, then a UTF-8 reason.
fn close_frame(payload: &[u8], at: Moment) -> CloseFrame {
    let code = payload.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let reason = payload
        .get(2..)
        .map(String::from_utf8_lossy)
        .unwrap_or_default()
        .into_owned();
    CloseFrame { code, reason, at }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::FrameRef;
    use crate::time::Timestamp;

    fn at(ms: i64) -> Moment {
        Moment {
            at: Timestamp::from_nanos(ms * 1_000_000),
            frame: FrameRef {
                file: 0,
                frame: ms as u64,
            },
        }
    }

    fn header(opcode: Opcode, fin: bool, len: u64) -> FrameHeader {
        FrameHeader {
            fin,
            rsv: 0,
            opcode,
            mask: None,
            payload_len: len,
            header_len: 2,
        }
    }

    fn ping(a: &mut Activity, side: Side, payload: &[u8], ms: i64) {
        a.on_frame(
            side,
            &header(Opcode::Ping, true, payload.len() as u64),
            Some(payload),
            at(ms),
        );
    }

    fn pong(a: &mut Activity, side: Side, payload: &[u8], ms: i64) {
        a.on_frame(
            side,
            &header(Opcode::Pong, true, payload.len() as u64),
            Some(payload),
            at(ms),
        );
    }

    #[test]
    fn a_pong_answers_the_latest_equal_ping_and_supersedes_older_ones() {
        let mut a = Activity::new(Thresholds::default());
        ping(&mut a, Side::Server, b"1", 0);
        ping(&mut a, Side::Server, b"2", 2000);
        ping(&mut a, Side::Server, b"3", 4000);
        pong(&mut a, Side::Client, b"2", 4100);
        let s = &a.sides.server;
        assert_eq!(
            s.outstanding.len(),
            1,
            "ping 1 superseded, ping 3 still waits"
        );
        assert_eq!(s.outstanding[0].payload(), b"3");
        assert_eq!(s.pongs_received, 1);
        assert_eq!(
            s.pong_latency.as_ref().unwrap().max,
            Span::from_millis(2100)
        );
        assert_eq!(a.sides.client.mismatched_pongs, 0);
    }

    #[test]
    fn an_unequal_pong_answers_the_latest_and_is_noted() {
        let mut a = Activity::new(Thresholds::default());
        ping(&mut a, Side::Server, b"abc", 0);
        ping(&mut a, Side::Server, b"def", 1000);
        pong(&mut a, Side::Client, b"", 1010);
        assert!(a.sides.server.outstanding.is_empty());
        assert_eq!(a.sides.client.mismatched_pongs, 1);
        let (_, expected, got) = a.sides.client.first_mismatch.clone().unwrap();
        assert_eq!(
            (expected.as_slice(), got.as_slice()),
            (&b"def"[..], &b""[..])
        );
    }

    #[test]
    fn a_pong_with_no_ping_is_a_one_way_heartbeat() {
        let mut a = Activity::new(Thresholds::default());
        pong(&mut a, Side::Client, b"", 0);
        assert_eq!(a.sides.client.unsolicited_pongs, 1);
        assert_eq!(a.sides.client.mismatched_pongs, 0);
    }

    #[test]
    fn outstanding_pings_are_bounded_newest_win() {
        let mut a = Activity::new(Thresholds::default());
        for i in 0..20 {
            ping(&mut a, Side::Client, &[i], i64::from(i) * 1000);
        }
        let out = &a.sides.client.outstanding;
        assert_eq!(out.len(), MAX_OUTSTANDING_PINGS);
        assert_eq!(out.last().unwrap().payload(), &[19]);
    }

    #[test]
    fn a_late_pong_and_a_long_silence_become_episodes() {
        let mut a = Activity::new(Thresholds::default());
        // server pings every 2 s; the client answers, then falls silent 20 s
        for i in 0..5 {
            ping(&mut a, Side::Server, &[i], i64::from(i) * 2000);
            pong(&mut a, Side::Client, &[i], i64::from(i) * 2000 + 5);
        }
        ping(&mut a, Side::Server, b"x", 10_000);
        pong(&mut a, Side::Client, b"x", 30_000);
        let episodes: Vec<Code> = a.sides.client.episodes.iter().map(|e| e.code).collect();
        assert_eq!(episodes, vec![Code::ReadGapExceeded, Code::PingUnanswered]);
        assert_eq!(a.sides.client.episodes[1].start, at(10_000));
    }

    #[test]
    fn fragmented_messages_count_once() {
        let mut a = Activity::new(Thresholds::default());
        a.on_frame(Side::Client, &header(Opcode::Text, false, 10), None, at(0));
        a.on_frame(
            Side::Client,
            &header(Opcode::Continuation, false, 10),
            None,
            at(1),
        );
        a.on_frame(
            Side::Client,
            &header(Opcode::Continuation, true, 5),
            None,
            at(2),
        );
        a.on_frame(Side::Client, &header(Opcode::Binary, true, 7), None, at(3));
        let c = &a.sides.client;
        assert_eq!(c.data_messages, 2);
        assert_eq!(c.data_bytes, 32);
        assert_eq!(
            (c.frames.text, c.frames.continuation, c.frames.binary),
            (1, 2, 1)
        );
    }

    #[test]
    fn close_frames_keep_code_and_reason() {
        let mut a = Activity::new(Thresholds::default());
        let body = [&1001u16.to_be_bytes()[..], b"going away"].concat();
        a.on_frame(
            Side::Server,
            &header(Opcode::Close, true, body.len() as u64),
            Some(&body),
            at(5),
        );
        let close = a.sides.server.close.as_ref().unwrap();
        assert_eq!(close.code, Some(1001));
        assert_eq!(close.reason, "going away");
    }
}
