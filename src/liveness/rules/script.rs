//! Event sequences for the rules' tests: a connection built event by event
//! with times in milliseconds, no capture needed.

use crate::evidence::{EvidenceRef, FrameRef};
use crate::liveness::event::{Event, Mark, TcpEvent, WsEvent};
use crate::liveness::judge::{Judge, Judgement, Visibility};
use crate::liveness::Code;
use crate::side::Side;
use crate::time::Timestamp;
use crate::websocket::app::{AppEvent, AppProtocol, Beat, Declared, RecognisedBy};
use crate::websocket::frame::{FrameHeader, Opcode};

pub struct Script {
    pub judge: Judge,
    now: i64,
    frame: u64,
}

fn header(opcode: Opcode, len: u64) -> FrameHeader {
    FrameHeader {
        fin: true,
        rsv: 0,
        opcode,
        mask: None,
        payload_len: len,
        header_len: 2,
    }
}

impl Script {
    /// A connection whose handshake was seen, both windows open (64 KiB,
    /// scale known), at t = 0.
    pub fn established() -> Script {
        let mut s = Script {
            judge: Judge::new(
                std::sync::Arc::new(crate::liveness::Settings::default()),
                Visibility::Frames,
            ),
            now: 0,
            frame: 0,
        };
        s.at(0).window(Side::Client, 65535);
        s.at(0).window(Side::Server, 65535);
        s
    }

    pub fn at(&mut self, ms: i64) -> &mut Self {
        self.now = ms;
        self
    }

    fn mark(&mut self) -> Mark {
        self.frame += 1;
        Mark {
            at: Timestamp::from_nanos(self.now * 1_000_000),
            evidence: EvidenceRef::frame(FrameRef::new(0, self.frame)),
        }
    }

    fn tcp(&mut self, side: Side, e: TcpEvent) -> &mut Self {
        let mark = self.mark();
        self.judge.on_event(&Event::tcp(side, mark, e));
        self
    }

    fn ws(&mut self, side: Side, e: WsEvent<'_>) -> &mut Self {
        let mark = self.mark();
        self.judge.on_event(&Event::ws(side, mark, e));
        self
    }

    pub fn window(&mut self, side: Side, window: u32) -> &mut Self {
        self.tcp(
            side,
            TcpEvent::Window {
                window,
                scale_known: true,
            },
        )
    }

    pub fn sent(
        &mut self,
        side: Side,
        len: u32,
        retransmission: bool,
        in_flight: u32,
    ) -> &mut Self {
        self.tcp(
            side,
            TcpEvent::Sent {
                len,
                retransmission,
                in_flight,
            },
        )
    }

    /// `side`'s bytes were acknowledged, `in_flight` left.
    pub fn acked(&mut self, side: Side, in_flight: u32) -> &mut Self {
        self.tcp(
            side,
            TcpEvent::Acked {
                in_flight,
                srtt: None,
            },
        )
    }

    /// As `acked`, with this direction's smoothed RTT in milliseconds.
    pub fn acked_with_srtt(&mut self, side: Side, in_flight: u32, srtt_ms: i64) -> &mut Self {
        self.tcp(
            side,
            TcpEvent::Acked {
                in_flight,
                srtt: Some(crate::time::Span::from_millis(srtt_ms)),
            },
        )
    }

    /// A probe's reading of its own socket (the probe is `side`).
    pub fn tcp_info(&mut self, side: Side, info: crate::liveness::event::TcpInfo) -> &mut Self {
        self.frame += 1;
        let mark = Mark {
            at: Timestamp::from_nanos(self.now * 1_000_000),
            evidence: EvidenceRef::sample(self.frame),
        };
        self.judge.on_event(&Event {
            side,
            mark,
            kind: crate::liveness::event::EventKind::TcpInfo(info),
        });
        self
    }

    pub fn probe(&mut self, side: Side, zero_window: bool) -> &mut Self {
        self.tcp(side, TcpEvent::Probe { zero_window })
    }

    pub fn fin(&mut self, side: Side) -> &mut Self {
        self.tcp(side, TcpEvent::Fin)
    }

    pub fn rst(&mut self, side: Side) -> &mut Self {
        self.tcp(side, TcpEvent::Rst)
    }

    pub fn missed(&mut self, side: Side, bytes: u64) -> &mut Self {
        self.tcp(side, TcpEvent::Missed { bytes })
    }

    pub fn conflict(&mut self, side: Side, bytes: u64) -> &mut Self {
        self.tcp(side, TcpEvent::Conflict { bytes })
    }

    fn control(&mut self, side: Side, opcode: Opcode, payload: Option<&[u8]>) -> &mut Self {
        let len = payload.map_or(4, |p| p.len() as u64);
        self.ws(
            side,
            WsEvent::Frame {
                header: header(opcode, len),
                control_payload: payload,
            },
        )
    }

    pub fn ping(&mut self, side: Side, payload: &[u8]) -> &mut Self {
        self.control(side, Opcode::Ping, Some(payload))
    }

    pub fn pong(&mut self, side: Side, payload: &[u8]) -> &mut Self {
        self.control(side, Opcode::Pong, Some(payload))
    }

    /// A Pong whose payload the capture cut.
    pub fn pong_cut(&mut self, side: Side) -> &mut Self {
        self.control(side, Opcode::Pong, None)
    }

    pub fn close(&mut self, side: Side, code: u16) -> &mut Self {
        let body = code.to_be_bytes();
        self.control(side, Opcode::Close, Some(&body))
    }

    pub fn text(&mut self, side: Side, len: u64) -> &mut Self {
        self.ws(
            side,
            WsEvent::Frame {
                header: header(Opcode::Text, len),
                control_payload: None,
            },
        )
    }

    /// A text message compressed with permessage-deflate (RSV1).
    pub fn compressed_text(&mut self, side: Side, len: u64) -> &mut Self {
        let mut h = header(Opcode::Text, len);
        h.rsv = 0b100;
        self.ws(
            side,
            WsEvent::Frame {
                header: h,
                control_payload: None,
            },
        )
    }

    /// An application message of `protocol` from `side` (a text frame, then
    /// what the sniffer says of it), recognising the protocol first.
    pub fn app(&mut self, side: Side, protocol: AppProtocol, beat: Beat) -> &mut Self {
        self.text(side, 1);
        self.ws(
            side,
            WsEvent::App(AppEvent::Recognised {
                protocol,
                by: RecognisedBy::Subprotocol,
            }),
        );
        self.ws(side, WsEvent::App(AppEvent::Beat { protocol, beat }))
    }

    /// An interval the application declared, in a message from `side`.
    pub fn declared(&mut self, side: Side, protocol: AppProtocol, declared: Declared) -> &mut Self {
        self.text(side, 1);
        self.ws(
            side,
            WsEvent::App(AppEvent::Recognised {
                protocol,
                by: RecognisedBy::Path,
            }),
        );
        self.ws(
            side,
            WsEvent::App(AppEvent::Declared { protocol, declared }),
        )
    }

    /// The judgement at `ms`; every rule test also checks there that the
    /// verdict alone (what the live tap asks at each tick) is the same.
    pub fn judge_at(&self, ms: i64) -> Judgement {
        let at = Timestamp::from_nanos(ms * 1_000_000);
        let judgement = self.judge.judge(at);
        assert_eq!(self.judge.verdict(at), judgement.verdict, "at {ms} ms");
        judgement
    }

    /// The reasons that hold at `ms`, as (code, side), sorted.
    pub fn codes_at(&self, ms: i64) -> Vec<(Code, Option<Side>)> {
        let mut v: Vec<_> = self
            .judge_at(ms)
            .reasons
            .iter()
            .map(|r| (r.code, r.side))
            .collect();
        v.sort_by_key(|(c, s)| (*c, s.map(|s| s == Side::Server)));
        v
    }
}
