//! The in-sync decoder: [`FrameDecoder`] follows frame boundaries through
//! header, control payload and skipped data payload, has each frame checked
//! against RFC 6455 (the rules are in `violation`) and reports [`Event`]s.
//! Hunting for a boundary after a gap or mid-stream is in `hunt`; this file
//! acts on what it finds.

use super::coding::{unmask, Opcode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use super::header::{header_len_from_second, FrameHeader, Role};
use super::hunt::{find_boundary, Boundary, Tentative};
use super::violation::{self, check_close_body, Fragments, Violation};

/// What was negotiated for the connection (RFC 6455 §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecoderConfig {
    /// permessage-deflate (RFC 7692) was agreed: RSV1 is allowed on the first
    /// frame of a Text or Binary message.
    pub permessage_deflate: bool,
}

/// What a [`FrameDecoder`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// A frame. Data frames are reported as soon as their header is complete
    /// (the payload is then skipped); control frames once their payload is,
    /// or once a gap cuts it (see [`FrameDecoder::on_gap`]).
    Frame {
        header: FrameHeader,
        /// Stream offset of the header's first byte.
        start: u64,
        /// The unmasked payload of a control frame of at most 125 bytes.
        /// When a gap cut it (`payload_complete` false): the bytes seen
        /// before the gap, or `None` if none were.
        control_payload: Option<&'a [u8]>,
        /// False when bytes the capture did not hold (a gap) cut the payload
        /// of this control frame: the frame is reported anyway, its payload
        /// unknown beyond `control_payload`. True otherwise, and always for
        /// data frames, whose payload is never carried.
        payload_complete: bool,
    },
    /// A rule broken by the frame starting at stream offset `at`. Violations
    /// about a header come before its `Frame` event, those about a Close
    /// body after it.
    Violation { violation: Violation, at: u64 },
    /// Locked onto frame boundaries again; `skipped` stream bytes (seen or
    /// lost in gaps) lie between where sync was lost and the next `Frame`.
    Resynced { skipped: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// In sync, collecting the next header into `hdr`.
    Header,
    /// Collecting the payload of a control frame (≤ 125 bytes) into `ctl`.
    Control { header: FrameHeader, start: u64 },
    /// Skipping `remaining` payload bytes.
    Skip { remaining: u64 },
    /// Looking for a frame boundary.
    Hunt,
}

/// Decodes one direction of a WebSocket connection.
///
/// Invariants: `hdr_len <= MAX_HEADER_LEN`; in `State::Control`, `ctl_len <
/// header.payload_len <= 125`; `offset` is the stream offset of the next
/// byte `on_data` will see. Every call consumes all its input.
///
/// Resync rule (hunting, after [`new_midstream`](Self::new_midstream) or a
/// gap): candidate offsets are tried in order from the start of the chunk,
/// since frames often begin a TCP segment. A candidate must be
/// [plausible](FrameHeader) (known opcode; RSV 0, or only RSV1 on Text/Binary
/// with permessage-deflate; control frames final and ≤ 125 bytes; minimal
/// length below [`HUNT_MAX_PAYLOAD`](super::HUNT_MAX_PAYLOAD); MASK matching
/// the role when known).
/// The decoder locks on, emitting `Resynced`, at the first candidate that is
/// *confirmed*: either the header right after its payload is plausible with
/// the same MASK bit (a chain of two), or its payload ends exactly at the end
/// of the chunk (frames often end a segment). If no candidate is confirmed,
/// the first one whose chain reaches past the chunk (or a plausible one at
/// the chunk start, which is tried before any later offset) is followed
/// *tentatively*: its payload is skipped, and the header after it decides.
/// Payloads are never buffered, so when that header is implausible the
/// bytes in between are gone, and hunting restarts at the current position.
/// A candidate is thus never accepted on its own: a chain of two, or one
/// frame ending a segment, is required.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    pub(super) role: Option<Role>,
    pub(super) cfg: DecoderConfig,
    pub(super) state: State,
    pub(super) offset: u64,
    hdr: [u8; MAX_HEADER_LEN],
    pub(super) hdr_len: u8,
    /// Stream offset of the header being collected.
    hdr_start: u64,
    /// Allocated with the first control payload: a direction that never
    /// sends a Ping, Pong or Close does not pay for it.
    ctl: Option<Box<[u8; MAX_CONTROL_PAYLOAD]>>,
    /// Bytes of `ctl` holding the control payload being read, or last read:
    /// all of it, unless a gap cut it.
    ctl_len: u8,
    pub(super) fragments: Fragments,
    pub(super) close_seen: bool,
    pub(super) inferred_masked: Option<bool>,
    pub(super) tentative: Option<Tentative>,
    /// Where sync was lost: `Resynced::skipped` counts from here.
    hunt_from: u64,
}

impl FrameDecoder {
    /// A decoder for a stream that starts at a frame boundary (right after
    /// the HTTP Upgrade handshake), sent by `role`.
    pub fn new(role: Role, cfg: DecoderConfig) -> Self {
        FrameDecoder {
            role: Some(role),
            cfg,
            state: State::Header,
            offset: 0,
            hdr: [0; MAX_HEADER_LEN],
            hdr_len: 0,
            hdr_start: 0,
            ctl: None,
            ctl_len: 0,
            fragments: Fragments::Idle,
            close_seen: false,
            inferred_masked: None,
            tentative: None,
            hunt_from: 0,
        }
    }

    /// A decoder for a stream caught mid-way (no handshake seen): it hunts
    /// for a frame boundary first. `role` is the sender when known. Without
    /// a handshake the extensions are unknown: pass `permessage_deflate: true`
    /// unless known otherwise, or compressed frames (RSV1) are never locked on.
    pub fn new_midstream(role: Option<Role>, cfg: DecoderConfig) -> Self {
        let mut d = FrameDecoder::new(Role::Client, cfg);
        d.role = role;
        d.state = State::Hunt;
        d.fragments = Fragments::Unknown;
        d
    }

    /// Stream offset of the next byte expected by [`on_data`](Self::on_data).
    pub fn stream_offset(&self) -> u64 {
        self.offset
    }

    /// Whether the decoder currently follows frame boundaries (a tentative
    /// lock-on counts as not yet in sync).
    pub fn in_sync(&self) -> bool {
        self.state != State::Hunt && self.tentative.is_none()
    }

    /// The MASK bit of the frames decoded in sync so far (the first frame
    /// after a lock-on, or the first frame of the stream), so that a caller
    /// without a handshake can tell the client: its frames are masked (§5.1).
    pub fn inferred_masked(&self) -> Option<bool> {
        self.inferred_masked
    }

    /// The sender: as given, else as inferred from masking.
    pub fn role(&self) -> Option<Role> {
        self.role.or(self.inferred_masked.map(Role::from_masked))
    }

    /// Feeds the next in-order bytes of the stream.
    pub fn on_data(&mut self, bytes: &[u8], out: &mut impl FnMut(Event<'_>)) {
        let mut rest = bytes;
        let mut chunk_start = true;
        while !rest.is_empty() {
            let used = match self.state {
                State::Header => self.step_header(rest, out),
                State::Control { .. } => self.step_control(rest, out),
                State::Skip { remaining } => self.step_skip(rest, remaining),
                State::Hunt => self.step_hunt(rest, chunk_start, out),
            };
            // Each step uses at most what it was given; a step that uses
            // nothing changes state, so the loop progresses.
            let used = used.min(rest.len());
            self.offset += used as u64;
            rest = rest.get(used..).unwrap_or_default();
            chunk_start = false;
        }
    }

    /// `len` bytes of the stream were never seen (the capture did not hold
    /// them). Where they fall decides what follows:
    ///
    /// - Inside a payload whose length the header gave, ending within it (or
    ///   at its end): frame boundaries are still known. A data payload being
    ///   skipped just has fewer bytes left. A control frame is reported now,
    ///   with `payload_complete: false` and the payload bytes seen before
    ///   the gap; the rest of its payload is skipped.
    /// - Running past the end of the current frame: the frame is still
    ///   reported, since its header was seen (a data frame already was; a
    ///   control frame is, its payload incomplete), then frame boundaries are
    ///   lost and the decoder hunts after the gap.
    /// - Inside a header or at a frame boundary: frame boundaries are lost
    ///   and the decoder hunts again.
    ///
    /// A frame followed tentatively while hunting is reported only once the
    /// header after it confirms it, as in [`on_data`](Self::on_data).
    pub fn on_gap(&mut self, len: u64, out: &mut impl FnMut(Event<'_>)) {
        if len == 0 {
            return;
        }
        let gap_start = self.offset;
        self.offset = self.offset.saturating_add(len);
        match self.state {
            State::Skip { remaining } => self.gap_in_payload(len, remaining, gap_start),
            State::Control { header, start } => {
                // `ctl_len < payload_len` in this state.
                let remaining = header.payload_len - u64::from(self.ctl_len);
                self.state = State::Header;
                self.frame_done(header, start, out);
                self.gap_in_payload(len, remaining, gap_start);
            }
            State::Hunt => {}
            State::Header if self.hdr_len == 0 => self.lose_sync(gap_start),
            State::Header => self.lose_sync(self.hdr_start),
        }
    }

    /// A gap of `len` bytes at `gap_start`, where the current frame has
    /// `remaining` payload bytes left and has been reported (or is awaiting
    /// confirmation): skip what is left after the gap, or hunt after it.
    fn gap_in_payload(&mut self, len: u64, remaining: u64, gap_start: u64) {
        self.state = match remaining.checked_sub(len) {
            Some(0) => State::Header,
            Some(left) => State::Skip { remaining: left },
            // The frame ends inside the gap: sync is lost from its end.
            None => return self.lose_sync(gap_start.saturating_add(remaining)),
        };
    }

    /// Starts hunting; `from` is where the undecoded bytes begin.
    fn lose_sync(&mut self, from: u64) {
        if self.tentative.take().is_none() {
            // Still counting from the first loss while a lock-on is unconfirmed.
            self.hunt_from = from;
        }
        self.state = State::Hunt;
        self.hdr_len = 0;
        self.fragments = Fragments::Unknown;
    }

    /// The MASK bit frames of this stream are expected to carry.
    fn expected_mask(&self) -> Option<bool> {
        self.role.map(Role::masks).or(self.inferred_masked)
    }

    fn step_skip(&mut self, data: &[u8], remaining: u64) -> usize {
        let avail = data.len() as u64;
        if avail < remaining {
            self.state = State::Skip {
                remaining: remaining - avail,
            };
            data.len()
        } else {
            self.state = State::Header;
            // `remaining <= avail`, so it fits in usize.
            remaining as usize
        }
    }

    fn step_header(&mut self, data: &[u8], out: &mut impl FnMut(Event<'_>)) -> usize {
        if self.hdr_len == 0 {
            self.hdr_start = self.offset;
        }
        let have = usize::from(self.hdr_len);
        let need = if have < 2 {
            2
        } else {
            usize::from(header_len_from_second(self.hdr[1]))
        };
        let take = need.saturating_sub(have).min(data.len());
        let (Some(dst), Some(src)) = (self.hdr.get_mut(have..have + take), data.get(..take)) else {
            return data.len();
        };
        dst.copy_from_slice(src);
        self.hdr_len += take as u8;
        let Some(header) = FrameHeader::parse_lenient(&self.hdr[..usize::from(self.hdr_len)])
        else {
            return take;
        };
        self.hdr_len = 0;
        self.on_header(header, out);
        take
    }

    fn step_control(&mut self, data: &[u8], out: &mut impl FnMut(Event<'_>)) -> usize {
        let State::Control { header, start } = self.state else {
            return data.len();
        };
        let len = header.payload_len as usize; // ≤ 125 in this state
        let have = usize::from(self.ctl_len);
        let take = len.saturating_sub(have).min(data.len());
        if take == 0 {
            // Only when the payload is already whole (`data` is never
            // empty here): finish it, so the caller's loop moves on.
            self.state = State::Header;
            self.frame_done(header, start, out);
            return 0;
        }
        if have == 0 && take == len && self.tentative.is_none() {
            // Whole in this read and reported at once: no buffer to keep.
            let mut buf = [0; MAX_CONTROL_PAYLOAD];
            unmask(&mut buf[..len], &data[..len], header.mask, 0);
            self.ctl_len = len as u8;
            self.state = State::Header;
            self.emit_payload(header, start, &buf[..len], true, out);
            return take;
        }
        let ctl = self
            .ctl
            .get_or_insert_with(|| Box::new([0; MAX_CONTROL_PAYLOAD]));
        let (Some(dst), Some(src)) = (ctl.get_mut(have..have + take), data.get(..take)) else {
            return data.len();
        };
        unmask(dst, src, header.mask, have);
        self.ctl_len = (have + take) as u8;
        if have + take == len {
            self.state = State::Header;
            self.frame_done(header, start, out);
        }
        take
    }

    /// A control payload has been read in full, or cut by a gap: `ctl_len`
    /// says how much of it is in `ctl`.
    fn frame_done(&mut self, header: FrameHeader, start: u64, out: &mut impl FnMut(Event<'_>)) {
        if let Some(Tentative::Candidate) = self.tentative {
            // Reported once the next header confirms the candidate.
            self.tentative = Some(Tentative::AwaitNext { header, start });
            return;
        }
        self.emit_control(header, start, out);
    }

    fn emit_control(&mut self, header: FrameHeader, start: u64, out: &mut impl FnMut(Event<'_>)) {
        // The buffer goes with the frame: a connection idle between
        // heartbeats does not keep 125 bytes per direction for nothing.
        let ctl = self.ctl.take();
        let payload = ctl
            .as_deref()
            .and_then(|c| c.get(..usize::from(self.ctl_len)))
            .unwrap_or_default();
        let complete = u64::from(self.ctl_len) == header.payload_len;
        self.emit_payload(header, start, payload, complete, out);
    }

    /// Reports a control frame with `payload`, unmasked (all of it when
    /// `complete`), and checks a Close body.
    fn emit_payload(
        &mut self,
        header: FrameHeader,
        start: u64,
        payload: &[u8],
        complete: bool,
        out: &mut impl FnMut(Event<'_>),
    ) {
        out(Event::Frame {
            header,
            start,
            control_payload: (complete || !payload.is_empty()).then_some(payload),
            payload_complete: complete,
        });
        if header.opcode != Opcode::Close {
            return;
        }
        self.close_seen = true;
        check_close_body(payload, header.payload_len, &mut |violation| {
            out(Event::Violation {
                violation,
                at: start,
            })
        });
    }

    /// A complete header at `self.hdr_start`.
    fn on_header(&mut self, header: FrameHeader, out: &mut impl FnMut(Event<'_>)) {
        let start = self.hdr_start;
        match self.tentative {
            Some(Tentative::Candidate) => {
                if !header.plausible(self.cfg, self.expected_mask()) {
                    // Only reachable when the candidate's header straddled a chunk.
                    self.lose_sync(start);
                    return;
                }
                self.begin_payload(header, start, out);
                return;
            }
            Some(Tentative::AwaitNext {
                header: cand,
                start: cand_start,
            }) => {
                let masked = Some(cand.mask.is_some());
                if !header.plausible(self.cfg, masked) {
                    // The chain is broken and the payload bytes are gone:
                    // hunt again from here.
                    self.lose_sync(start);
                    return;
                }
                self.tentative = None;
                out(Event::Resynced {
                    skipped: cand_start.saturating_sub(self.hunt_from),
                });
                self.inferred_masked = masked;
                self.check_header(&cand, cand_start, out);
                if cand.opcode.is_control() {
                    self.emit_control(cand, cand_start, out);
                } else {
                    out(Event::Frame {
                        header: cand,
                        start: cand_start,
                        control_payload: None,
                        payload_complete: true,
                    });
                }
            }
            None => {}
        }
        if header.length_top_bit_set() {
            // RFC 6455 §5.2: not a length any sender can mean; the stream
            // is garbage or out of sync.
            out(Event::Violation {
                violation: Violation::LengthTopBitSet,
                at: start,
            });
            self.lose_sync(start);
            return;
        }
        if self.inferred_masked.is_none() {
            self.inferred_masked = Some(header.mask.is_some());
        }
        self.check_header(&header, start, out);
        self.begin_payload(header, start, out);
    }

    /// Moves past a header: collect a control payload or skip a payload.
    fn begin_payload(&mut self, header: FrameHeader, start: u64, out: &mut impl FnMut(Event<'_>)) {
        let candidate = self.tentative.is_some();
        if header.opcode.is_control() && header.payload_len <= MAX_CONTROL_PAYLOAD as u64 {
            self.state = State::Control { header, start };
            self.ctl_len = 0;
            if header.payload_len == 0 {
                self.state = State::Header;
                self.frame_done(header, start, out);
            }
            return;
        }
        if candidate {
            self.tentative = Some(Tentative::AwaitNext { header, start });
        } else {
            out(Event::Frame {
                header,
                start,
                control_payload: None,
                payload_complete: true,
            });
        }
        self.state = if header.payload_len == 0 {
            State::Header
        } else {
            State::Skip {
                remaining: header.payload_len,
            }
        };
    }

    /// The per-header rules of RFC 6455 §5, each reported as a violation.
    fn check_header(&mut self, h: &FrameHeader, at: u64, out: &mut impl FnMut(Event<'_>)) {
        let role = self.role();
        let mut flag = |violation| out(Event::Violation { violation, at });
        violation::check_header(
            h,
            role,
            self.cfg,
            self.close_seen,
            &mut self.fragments,
            &mut flag,
        );
    }

    /// Looks for a frame boundary in `data` (see the resync rule above).
    fn step_hunt(
        &mut self,
        data: &[u8],
        chunk_start: bool,
        out: &mut impl FnMut(Event<'_>),
    ) -> usize {
        match find_boundary(data, chunk_start, self.cfg, self.expected_mask()) {
            Some(Boundary::Lock {
                at,
                header,
                confirmed,
            }) => {
                self.lock(at, header, confirmed, out);
                at
            }
            Some(Boundary::Fallback { at }) => {
                self.tentative = Some(Tentative::Candidate);
                self.state = State::Header;
                at
            }
            None => data.len(),
        }
    }

    /// Locks onto the candidate at `i` bytes from the current offset; the
    /// `Header` state then decodes it.
    fn lock(&mut self, i: usize, h: FrameHeader, confirmed: bool, out: &mut impl FnMut(Event<'_>)) {
        self.state = State::Header;
        self.hdr_len = 0;
        if confirmed {
            let start = self.offset + i as u64;
            out(Event::Resynced {
                skipped: start.saturating_sub(self.hunt_from),
            });
            self.inferred_masked = Some(h.mask.is_some());
            self.tentative = None;
        } else {
            self.tentative = Some(Tentative::Candidate);
        }
    }
}
