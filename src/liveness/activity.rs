//! What each side of a WebSocket connection wrote, recorded in stream order
//! with bounded memory: frame counts, cadences, Ping/Pong pairing and
//! latency, Close frames, violations. Thresholds are not known here: the
//! rules read this record.

use serde::Serialize;

use super::app::{AppAnswer, AppPing, AppState, Layer, Pace};
use super::cadence::{Cadence, LatencyHistogram, DATA_INTERVALS, HEARTBEAT_INTERVALS};
use super::event::Mark;
pub use super::pings::{Outstanding, Ping, MAX_OUTSTANDING_PINGS};
use crate::secret::{Key, Secret};
use crate::side::{PerSide, Side};
use crate::time::Span;
use crate::websocket::frame::{FrameHeader, Opcode};

/// Violations kept as examples per side; all are counted.
pub const MAX_VIOLATION_SAMPLES: usize = 8;

/// WebSocket frames by opcode, as tshark's dissector counts them.
/// Saturating at 4,294,967,295 (u32): 8 GB of the smallest frames in one
/// direction of one connection before a count stops.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FrameCounts {
    pub text: u32,
    pub binary: u32,
    pub continuation: u32,
    pub close: u32,
    pub ping: u32,
    pub pong: u32,
    /// Reserved opcodes 3–7 and 0xB–0xF (RFC 6455 §5.2).
    pub reserved: u32,
}

/// `*count += 1`, saturating.
fn bump(count: &mut u32) {
    *count = count.saturating_add(1);
}

/// A control payload as evidence: its length and keyed fingerprint, which
/// any report may print, and its first bytes, which only `--show-secrets`
/// shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payload {
    pub len: usize,
    pub fingerprint: u64,
    pub kept: Secret<Vec<u8>>,
}

impl Payload {
    pub fn of(bytes: &[u8], key: &Key) -> Payload {
        Payload {
            len: bytes.len(),
            fingerprint: key.fingerprint(bytes),
            kept: Secret::new(bytes[..bytes.len().min(KEPT_PAYLOAD)].to_vec()),
        }
    }
}

/// Payload bytes of a Ping kept as they are (for `--show-secrets`);
/// longer payloads are matched by fingerprint only.
pub const KEPT_PAYLOAD: usize = 16;

/// A Close frame (RFC 6455 §5.5.1): status code and reason, if present.
#[derive(Clone, Debug)]
pub struct CloseFrame {
    pub code: Option<u16>,
    /// UTF-8 text the peer chose: may carry anything, so kept secret.
    pub reason: Secret<String>,
    pub mark: Mark,
}

/// The first Pong that did not echo its Ping: when, the Ping's payload, the
/// Pong's.
pub type Mismatch = (Mark, Payload, Payload);

/// A Pong that answered a Ping, for the rules that look at answers.
#[derive(Clone, Debug)]
pub struct Answer {
    pub ping: Ping,
    pub latency: Span,
}

/// Data messages a side sent (allocated with the first one).
#[derive(Clone, Debug, Default)]
pub struct DataActivity {
    pub messages: u64,
    /// Payload bytes of data frames (as on the wire: compressed if RSV1).
    pub bytes: u64,
    pub last: Option<Mark>,
    /// The side's blocked time at its last data message.
    pub blocked_at_last: Span,
    pub cadence: Cadence,
    /// Data messages sent after the other side had written since this
    /// side's previous one (replies), and without (unprompted).
    pub replies: u64,
    pub unprompted: u64,
    /// Messages compressed with permessage-deflate (RSV1, RFC 7692):
    /// their first bytes are not read for an application heartbeat.
    pub compressed: u64,
}

/// Pings a side sent and the answers it got, and the Pongs it sent
/// (allocated with the first Ping or Pong). Counts saturate, as frame
/// counts do.
#[derive(Clone, Debug, Default)]
pub struct Heartbeats {
    pub ping_cadence: Cadence,
    /// Pings this side sent that no Pong has answered yet (oldest first).
    pub outstanding: Outstanding,
    /// Pongs the other side sent for this side's Pings.
    pub pongs_received: u32,
    /// Pongs this side sent when no Ping was outstanding: a legal one-way
    /// heartbeat (RFC 6455 §5.5.3).
    pub unsolicited_pongs: u32,
    /// Pongs this side sent whose payload echoed no outstanding Ping.
    pub mismatched_pongs: u32,
    /// Pongs whose payload the capture cut (they answer, unchecked).
    pub pongs_payload_unknown: u32,
    /// Latency of the answers to this side's Pings.
    pub pong_latency: Option<Box<LatencyHistogram>>,
    pub first_mismatch: Option<Box<Mismatch>>,
}

/// What went wrong in a side's stream (allocated with the first problem).
#[derive(Clone, Debug, Default)]
pub struct Trouble {
    pub violations: u32,
    pub violation_samples: Vec<(&'static str, Mark)>,
    /// Stream bytes the capture missed.
    pub gap_bytes: u64,
    pub resyncs: u32,
}

/// What few sides show, allocated with the first of them: a Close frame,
/// trouble in the stream.
#[derive(Clone, Debug, Default)]
struct SideRare {
    close: Option<CloseFrame>,
    trouble: Option<Trouble>,
}

/// One side's WebSocket activity. What most connections never need
/// (data, heartbeats, trouble) is allocated when first used, so a quiet
/// side costs little.
#[derive(Clone, Debug, Default)]
pub struct SideActivity {
    pub frames: FrameCounts,
    pub first_frame: Option<Mark>,
    pub last_frame: Option<Mark>,
    /// This side's blocked time at its last frame (for read gaps).
    pub blocked_at_last_frame: Span,
    pub last_control: Option<Mark>,
    pub data: Option<Box<DataActivity>>,
    pub heartbeats: Option<Box<Heartbeats>>,
    /// The Close frame and stream trouble, in one allocation: most sides
    /// never have either.
    rare: Option<Box<SideRare>>,
    message_open: bool,
    /// The other side wrote a data message or a Ping since this side's
    /// last data message.
    asked: bool,
}

impl SideActivity {
    /// This side's own heartbeat cadence (its Pings), once learned.
    pub fn heartbeat(&self) -> Option<Span> {
        self.heartbeats
            .as_ref()
            .and_then(|h| h.ping_cadence.learned(HEARTBEAT_INTERVALS))
    }

    /// This side's data cadence, once learned (five data messages).
    pub fn data_interval(&self) -> Option<Span> {
        self.data
            .as_ref()
            .and_then(|d| d.cadence.learned(DATA_INTERVALS))
    }

    /// Whether this side only answers: no Pings of its own, and its data
    /// messages (if any) are mostly replies to the other side's.
    pub fn answers_only(&self) -> bool {
        let (replies, unprompted) = self
            .data
            .as_ref()
            .map_or((0, 0), |d| (d.replies, d.unprompted));
        self.frames.ping == 0 && unprompted * 4 <= replies.max(1)
    }

    pub fn pings_sent(&self) -> u64 {
        u64::from(self.frames.ping)
    }

    pub fn data_messages(&self) -> u64 {
        self.data.as_ref().map_or(0, |d| d.messages)
    }

    pub fn last_data(&self) -> Option<Mark> {
        self.data.as_ref().and_then(|d| d.last)
    }

    /// Pings of this side still waiting for a Pong, oldest first.
    pub fn outstanding(&self) -> &[Ping] {
        self.heartbeats
            .as_ref()
            .map_or(&[], |h| h.outstanding.as_slice())
    }

    /// What went wrong in this side's stream, if anything did.
    pub fn trouble(&self) -> Option<&Trouble> {
        self.rare.as_ref().and_then(|r| r.trouble.as_ref())
    }

    fn trouble_mut(&mut self) -> &mut Trouble {
        self.rare
            .get_or_insert_default()
            .trouble
            .get_or_insert_default()
    }

    /// The first Close frame this side sent (RFC 6455 §5.5.1), if any.
    pub fn close(&self) -> Option<&CloseFrame> {
        self.rare.as_ref().and_then(|r| r.close.as_ref())
    }
}

/// Both sides' activity.
#[derive(Clone, Debug, Default)]
pub struct Activity {
    pub sides: PerSide<SideActivity>,
    /// Application heartbeats, once a protocol is recognised (see
    /// [`super::app`]).
    pub app: Option<Box<AppState>>,
}

/// What a frame did, for the judge to hand to the rules.
pub enum Outcome {
    Nothing,
    /// A Pong answered this Ping of the other side.
    Answered(Answer),
}

impl Activity {
    /// Something `side` wrote that counts as hearing from it (a frame, or a
    /// TLS record when frames are not visible).
    pub fn heard(&mut self, side: Side, mark: Mark, blocked: Span) {
        let me = &mut self.sides[side];
        me.first_frame.get_or_insert(mark);
        me.last_frame = Some(mark);
        me.blocked_at_last_frame = blocked;
    }

    /// A TLS record (wss): visible activity without frames. Records pace a
    /// side like data messages do.
    pub fn on_record(&mut self, side: Side, len: u64, mark: Mark, floor: Span) {
        let me = &mut self.sides[side];
        let blocked = me.blocked_at_last_frame;
        let d = me.data.get_or_insert_default();
        d.messages += 1;
        d.bytes += len;
        d.cadence.event(mark.at, floor);
        d.last = Some(mark);
        d.blocked_at_last = blocked;
    }

    /// A frame from `side`; `payload` is a control frame's payload, `None`
    /// when the capture cut it. `owner_blocked` is the other side's blocked
    /// time now (stored with a Ping).
    pub fn on_frame(
        &mut self,
        side: Side,
        header: &FrameHeader,
        payload: Option<&[u8]>,
        mark: Mark,
        (floor, owner_blocked): (Span, Span),
        key: &Key,
    ) -> Outcome {
        let me = &mut self.sides[side];
        match header.opcode {
            Opcode::Text | Opcode::Binary | Opcode::Continuation => {
                match header.opcode {
                    Opcode::Text => bump(&mut me.frames.text),
                    Opcode::Binary => bump(&mut me.frames.binary),
                    _ => bump(&mut me.frames.continuation),
                }
                // RFC 6455 §5.4: a message starts with a Text or Binary
                // frame and ends with the first frame that has FIN set.
                let starts = header.opcode != Opcode::Continuation && !me.message_open;
                let asked = starts && std::mem::take(&mut me.asked);
                me.message_open = !header.fin;
                let blocked = me.blocked_at_last_frame;
                let d = me.data.get_or_insert_default();
                if starts {
                    d.messages += 1;
                    // RFC 7692 §6: RSV1 on a message's first frame.
                    if header.rsv & 0b100 != 0 {
                        d.compressed += 1;
                    }
                    d.cadence.event(mark.at, floor);
                    if asked {
                        d.replies += 1;
                    } else {
                        d.unprompted += 1;
                    }
                }
                d.bytes += header.payload_len;
                d.last = Some(mark);
                d.blocked_at_last = blocked;
                if starts {
                    self.sides[side.other()].asked = true;
                }
                Outcome::Nothing
            }
            Opcode::Ping => {
                bump(&mut me.frames.ping);
                me.last_control = Some(mark);
                let h = me.heartbeats.get_or_insert_default();
                h.ping_cadence.event(mark.at, floor);
                let payload = payload.unwrap_or_default();
                h.outstanding
                    .push(Ping::new(mark, owner_blocked, payload, key));
                self.sides[side.other()].asked = true;
                Outcome::Nothing
            }
            Opcode::Pong => {
                bump(&mut me.frames.pong);
                me.last_control = Some(mark);
                self.on_pong(side, payload, mark, key)
            }
            Opcode::Close => {
                bump(&mut me.frames.close);
                me.last_control = Some(mark);
                let rare = me.rare.get_or_insert_default();
                if rare.close.is_none() {
                    rare.close = Some(close_frame(payload.unwrap_or_default(), mark));
                }
                Outcome::Nothing
            }
            Opcode::Reserved(_) => {
                bump(&mut me.frames.reserved);
                Outcome::Nothing
            }
        }
    }

    /// RFC 6455 §5.5.3: a Pong answers the most recent outstanding Ping with
    /// an equal payload, or else the most recent one (a mismatch, noted; a
    /// payload the capture cut answers the most recent, unchecked).
    /// Answering supersedes every older outstanding Ping, since an endpoint
    /// may answer only the latest.
    fn on_pong(&mut self, ponger: Side, payload: Option<&[u8]>, mark: Mark, key: &Key) -> Outcome {
        let pinger = ponger.other();
        let outstanding = self.sides[pinger].outstanding();
        if outstanding.is_empty() {
            bump(
                &mut self.sides[ponger]
                    .heartbeats
                    .get_or_insert_default()
                    .unsolicited_pongs,
            );
            return Outcome::Nothing;
        }
        let matched = payload.and_then(|p| {
            let fingerprint = key.fingerprint(p);
            outstanding
                .iter()
                .rposition(|o| o.echoed_by(p.len(), fingerprint))
        });
        let index = matched.unwrap_or(outstanding.len() - 1);
        let Some(p) = self.sides[pinger].heartbeats.as_deref_mut() else {
            return Outcome::Nothing;
        };
        // The answered Ping and every older one leave together.
        let Some(ping) = p.outstanding.answer(index) else {
            return Outcome::Nothing;
        };
        bump(&mut p.pongs_received);
        let latency = mark.at.since(ping.mark.at);
        p.pong_latency.get_or_insert_default().record(latency);
        // A Pong that echoes its Ping leaves nothing to record on the
        // ponger's side: its record is allocated only for what it counts.
        let ponger = &mut self.sides[ponger].heartbeats;
        match (payload, matched) {
            (None, _) => bump(&mut ponger.get_or_insert_default().pongs_payload_unknown),
            (Some(got), None) => {
                let me = ponger.get_or_insert_default();
                bump(&mut me.mismatched_pongs);
                if me.first_mismatch.is_none() {
                    let got = Payload::of(got, key);
                    me.first_mismatch = Some(Box::new((mark, ping.payload(), got)));
                }
            }
            (Some(_), Some(_)) => {}
        }
        Outcome::Answered(Answer { ping, latency })
    }

    pub fn on_violation(&mut self, side: Side, code: &'static str, mark: Mark) {
        let t = self.sides[side].trouble_mut();
        t.violations += 1;
        if t.violation_samples.len() < MAX_VIOLATION_SAMPLES {
            t.violation_samples.push((code, mark));
        }
    }

    pub fn on_gap(&mut self, side: Side, len: u64) {
        self.sides[side].trouble_mut().gap_bytes += len;
    }

    pub fn on_resync(&mut self, side: Side) {
        let me = &mut self.sides[side];
        me.trouble_mut().resyncs += 1;
        // Whether a message was open is unknown after a resync.
        me.message_open = false;
    }

    /// Whether either side ever sent a Ping or a Pong, or an application
    /// heartbeat.
    pub fn any_heartbeat(&self) -> bool {
        let (c, s) = (&self.sides.client.frames, &self.sides.server.frames);
        c.ping > 0
            || c.pong > 0
            || s.ping > 0
            || s.pong > 0
            || self.app.as_ref().is_some_and(|a| a.any())
    }

    /// Whether `side` only answers: no Pings or application beats of its
    /// own, and its data messages mostly replies.
    pub fn answers_only(&self, side: Side) -> bool {
        let beats = self.app.as_ref().map_or(0, |a| a.sides[side].beats());
        beats == 0 && self.sides[side].answers_only()
    }

    /// `side`'s application pings not answered yet, oldest first.
    pub fn app_outstanding(&self, side: Side) -> &[AppPing] {
        self.app
            .as_ref()
            .map_or(&[], |a| a.sides[side].outstanding.as_slice())
    }

    /// The heartbeat that paces `side`'s own beats: the application's
    /// (declared, else learned: the spec's cadence rule), else its learned
    /// WebSocket Ping cadence. The application's comes first: its beats
    /// pass through the application, a Pong only through its library.
    pub fn pace(&self, side: Side) -> Option<Pace> {
        self.app.as_ref().and_then(|a| a.pace(side)).or_else(|| {
            self.sides[side]
                .heartbeat()
                .map(|h| Pace::learned(Layer::WebSocket, h))
        })
    }

    /// A cadence of its own to hold `side` to: a heartbeat, or data.
    pub fn has_cadence(&self, side: Side) -> bool {
        self.pace(side).is_some() || self.sides[side].data_interval().is_some()
    }

    /// An application heartbeat event from `side`; an answer returns the
    /// ping it answered.
    pub fn on_app(
        &mut self,
        side: Side,
        event: crate::websocket::app::AppEvent,
        mark: Mark,
        paces: (Span, Span),
    ) -> Option<AppAnswer> {
        use crate::websocket::app::AppEvent;
        match event {
            AppEvent::Recognised { protocol, by } => {
                self.app
                    .get_or_insert_with(|| Box::new(AppState::new(protocol, by)));
                None
            }
            AppEvent::Beat { beat, .. } => self.app.as_mut()?.on_beat(side, beat, mark, paces),
            AppEvent::Declared { declared, .. } => {
                self.app.as_mut()?.on_declared(declared);
                None
            }
        }
    }
}

/// RFC 6455 §5.5.1: an optional 2-byte status code, then a UTF-8 reason.
fn close_frame(payload: &[u8], mark: Mark) -> CloseFrame {
    let code = payload.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let reason = payload
        .get(2..)
        .map(String::from_utf8_lossy)
        .unwrap_or_default()
        .into_owned();
    CloseFrame {
        code,
        reason: Secret::new(reason),
        mark,
    }
}
