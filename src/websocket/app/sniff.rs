//! Per connection: which application protocol it speaks (once known, and
//! how it was found), and the classification of each data message's first
//! bytes into the heartbeat events the judge pairs.

use super::classify::{classify, recognise, Found};
use super::hint::{from_path, from_subprotocol};
use super::{AppProtocol, Beat, Declared, RecognisedBy};
use crate::side::{PerSide, Side};
use crate::time::Span;

/// Data messages per side read for a protocol's shape when nothing in the
/// handshake named one; past them the connection is left alone.
const RECOGNITION_BUDGET: u8 = 32;

/// The first bytes of a data message worth reading: heartbeats and the
/// messages that declare their interval fit in them.
pub const HEAD_LEN: usize = 256;

/// What the sniffer reports, in stream order, after the message's frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppEvent {
    /// The connection's protocol, found.
    Recognised {
        protocol: AppProtocol,
        by: RecognisedBy,
    },
    /// A heartbeat message of that protocol.
    Beat { protocol: AppProtocol, beat: Beat },
    /// An interval the application declared.
    Declared {
        protocol: AppProtocol,
        declared: Declared,
    },
}

/// One connection's application protocol and what reading it needs.
#[derive(Clone, Debug)]
pub struct AppSniffer {
    protocol: Option<(AppProtocol, RecognisedBy)>,
    /// Engine.IO's version from the `EIO` query parameter.
    eio: Option<u8>,
    /// The client's `heart-beat` from its STOMP CONNECT, until CONNECTED.
    stomp_client: Option<(u32, u32)>,
    budget: PerSide<u8>,
    announced: bool,
}

impl Default for AppSniffer {
    fn default() -> Self {
        AppSniffer {
            protocol: None,
            eio: None,
            stomp_client: None,
            budget: PerSide::new(RECOGNITION_BUDGET, RECOGNITION_BUDGET),
            announced: false,
        }
    }
}

impl AppSniffer {
    /// From the opening handshake: the subprotocol the server chose (or
    /// else those the client offered), then the request path.
    pub fn from_handshake(path: &str, offered: &[String], chosen: Option<&str>) -> AppSniffer {
        let mut s = AppSniffer::default();
        let by_token = chosen
            .and_then(from_subprotocol)
            .or_else(|| offered.iter().find_map(|p| from_subprotocol(p)));
        if let Some(p) = by_token {
            s.protocol = Some((p, RecognisedBy::Subprotocol));
        } else if let Some((p, eio)) = from_path(path) {
            s.protocol = Some((p, RecognisedBy::Path));
            s.eio = eio;
        }
        if let Some((AppProtocol::SocketIo, _)) = s.protocol {
            s.eio = s.eio.or(from_path(path).and_then(|(_, v)| v));
        }
        s
    }

    /// The server chose `token` in its 101: it outranks what the request
    /// suggested.
    pub fn on_chosen(&mut self, token: &str) {
        if let Some(p) = from_subprotocol(token) {
            self.protocol = Some((p, RecognisedBy::Subprotocol));
        }
    }

    /// Whether a protocol is known (from the handshake or a message): a
    /// sniffer that knows none is [`AppSniffer::default`] until a data
    /// message comes.
    pub fn recognised(&self) -> bool {
        self.protocol.is_some()
    }

    /// Whether any data message is still worth reading.
    pub fn wants(&self, side: Side) -> bool {
        self.protocol.is_some() || self.budget[side] > 0
    }

    /// The first bytes of a data message of `side` (unmasked; `len` is the
    /// whole payload, `text` a Text frame), turned into events.
    pub fn on_message(
        &mut self,
        side: Side,
        text: bool,
        len: u64,
        head: &[u8],
        emit: &mut dyn FnMut(AppEvent),
    ) {
        if self.protocol.is_none() {
            if self.budget[side] == 0 {
                return;
            }
            self.budget[side] -= 1;
            match recognise(text, len, head) {
                Some(p) => self.protocol = Some((p, RecognisedBy::Payload)),
                None => return,
            }
        }
        let Some((protocol, by)) = self.protocol else {
            return;
        };
        if !self.announced {
            self.announced = true;
            emit(AppEvent::Recognised { protocol, by });
        }
        match classify(protocol, text, len, head) {
            Found::Beat(beat) => emit(AppEvent::Beat { protocol, beat }),
            Found::EngineIoOpen { interval, timeout } => {
                // Engine.IO v4 on: the server pings; v3: the client.
                let pinger = match self.eio {
                    Some(3) => Some(Side::Client),
                    Some(_) => Some(Side::Server),
                    None => None,
                };
                emit(AppEvent::Declared {
                    protocol,
                    declared: Declared {
                        side: pinger,
                        interval,
                        deadline: Some(interval + timeout),
                        pong_timeout: Some(timeout),
                    },
                });
            }
            Found::StompHeartBeat { send, want } => match side {
                Side::Client => self.stomp_client = Some((send, want)),
                Side::Server => {
                    let (cx, cy) = self.stomp_client.take().unwrap_or((0, 0));
                    // STOMP 1.2 "Heart-beating": each side sends every
                    // max(its own offer, what the other wants), if both
                    // are non-zero.
                    for (who, offer, wanted) in [(Side::Client, cx, want), (Side::Server, send, cy)]
                    {
                        if offer > 0 && wanted > 0 {
                            let ms = u64::from(offer.max(wanted));
                            emit(AppEvent::Declared {
                                protocol,
                                declared: declared_for(who, Span::from_millis(ms as i64)),
                            });
                        }
                    }
                }
            },
            Found::MqttKeepAlive(secs) if secs > 0 && side == Side::Client => {
                let k = Span::from_secs(i64::from(secs));
                // MQTT 3.1.1 §3.1.2.10: the server gives up after 1.5 ×
                // the keep-alive with nothing from the client.
                emit(AppEvent::Declared {
                    protocol,
                    declared: Declared {
                        side: Some(Side::Client),
                        interval: k,
                        deadline: Some(Span::from_nanos(k.nanos() / 2 * 3)),
                        pong_timeout: Some(k),
                    },
                });
            }
            _ => {}
        }
    }
}

fn declared_for(side: Side, interval: Span) -> Declared {
    Declared {
        side: Some(side),
        interval,
        deadline: None,
        pong_timeout: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(s: &mut AppSniffer, side: Side, text: bool, m: &[u8]) -> Vec<AppEvent> {
        let mut out = Vec::new();
        s.on_message(side, text, m.len() as u64, m, &mut |e| out.push(e));
        out
    }

    #[test]
    fn socket_io_v4_declares_the_servers_interval_and_deadline() {
        let mut s = AppSniffer::from_handshake("/socket.io/?EIO=4&transport=websocket", &[], None);
        let open = br#"0{"sid":"x","upgrades":[],"pingInterval":2000,"pingTimeout":1000}"#;
        let events = run(&mut s, Side::Server, true, open);
        assert_eq!(
            events[0],
            AppEvent::Recognised {
                protocol: AppProtocol::SocketIo,
                by: RecognisedBy::Path
            }
        );
        let AppEvent::Declared { declared, .. } = events[1] else {
            panic!("{events:?}");
        };
        assert_eq!(declared.side, Some(Side::Server));
        assert_eq!(declared.deadline, Some(Span::from_millis(3000)));
        assert_eq!(
            run(&mut s, Side::Server, true, b"2"),
            vec![AppEvent::Beat {
                protocol: AppProtocol::SocketIo,
                beat: Beat::Ping
            }]
        );
    }

    #[test]
    fn stomp_negotiates_each_sides_interval() {
        let mut s = AppSniffer::from_handshake("/ws", &["v12.stomp".into()], None);
        run(
            &mut s,
            Side::Client,
            true,
            b"CONNECT\nheart-beat:1000,5000\n\n\0",
        );
        let events = run(
            &mut s,
            Side::Server,
            true,
            b"CONNECTED\nheart-beat:2000,2000\n\n\0",
        );
        let intervals: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                AppEvent::Declared { declared, .. } => Some((declared.side, declared.interval)),
                _ => None,
            })
            .collect();
        // The client sends every max(1000, 2000), the server max(2000, 5000).
        assert_eq!(
            intervals,
            vec![
                (Some(Side::Client), Span::from_millis(2000)),
                (Some(Side::Server), Span::from_millis(5000))
            ]
        );
    }

    #[test]
    fn an_unnamed_connection_is_recognised_by_its_messages_or_left_alone() {
        let mut s = AppSniffer::default();
        assert!(run(&mut s, Side::Client, true, b"hello").is_empty());
        let events = run(&mut s, Side::Client, false, &[0xc0, 0]);
        assert_eq!(events.len(), 2, "{events:?}");
        let mut quiet = AppSniffer::default();
        for _ in 0..RECOGNITION_BUDGET {
            run(&mut quiet, Side::Server, true, b"{\"price\":1}");
        }
        assert!(!quiet.wants(Side::Server));
        assert!(run(&mut quiet, Side::Server, true, b"2").is_empty());
    }
}
