//! Application heartbeats carried in data messages: the pings and pongs of
//! the protocols most WebSocket deployments run (the liveness spec's
//! "Heartbeats" section). A connection's protocol is recognised from its
//! subprotocol, its request path, or the first bytes of its data messages;
//! each small data message is then classified from its first bytes, which
//! are never kept past the classification.
//!
//! - `hint`: the protocol from the opening handshake (subprotocol, path);
//! - `classify`: one message's first bytes, per protocol;
//! - `sniff`: the per-connection state that ties them together.

mod classify;
mod hint;
mod sniff;

use serde::Serialize;

use crate::side::Side;
use crate::time::Span;
pub use sniff::{AppEvent, AppSniffer, HEAD_LEN};

/// An application protocol whose heartbeats wspulse reads. Names follow
/// the subprotocol token where one exists (the spec's rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum AppProtocol {
    /// Socket.IO over Engine.IO: text `2` ping, `3` pong (Engine.IO
    /// protocol, "Packet encoding"); the server pings from Engine.IO v4 on,
    /// the client did in v3.
    #[serde(rename = "socket.io")]
    SocketIo,
    /// The npm package graphql-ws: `{"type":"ping"}` from either side,
    /// answered by `{"type":"pong"}` (GraphQL over WebSocket, "Ping").
    #[serde(rename = "graphql-transport-ws")]
    GraphqlTransportWs,
    /// subscriptions-transport-ws: `{"type":"ka"}`, one way from the server.
    #[serde(rename = "graphql-ws")]
    GraphqlWs,
    /// MQTT over WebSocket: PINGREQ `C0 00` answered by PINGRESP `D0 00`
    /// (MQTT 3.1.1 §3.12, §3.13; 5.0 the same).
    #[serde(rename = "mqtt")]
    Mqtt,
    /// STOMP heart-beats: an end-of-line frame, one way each side, at the
    /// negotiated `heart-beat` (STOMP 1.2, "Heart-beating").
    #[serde(rename = "stomp")]
    Stomp,
    /// ASP.NET SignalR JSON hub protocol: `{"type":6}` then the record
    /// separator 0x1E, one way each side.
    #[serde(rename = "signalr")]
    SignalR,
    /// Phoenix channels: `heartbeat` on topic `phoenix`, answered by
    /// `phx_reply` (serializer v1 objects or v2 arrays).
    #[serde(rename = "phoenix")]
    Phoenix,
    /// Rails Action Cable: `{"type":"ping","message":<time>}`, one way from
    /// the server every 3 s.
    #[serde(rename = "actioncable")]
    ActionCable,
}

impl AppProtocol {
    /// Every protocol wspulse reads.
    pub const ALL: [AppProtocol; 8] = [
        AppProtocol::SocketIo,
        AppProtocol::GraphqlTransportWs,
        AppProtocol::GraphqlWs,
        AppProtocol::Mqtt,
        AppProtocol::Stomp,
        AppProtocol::SignalR,
        AppProtocol::Phoenix,
        AppProtocol::ActionCable,
    ];

    /// The protocol a `Sec-WebSocket-Protocol` token names, if any
    /// (case-insensitive, RFC 6455 §11.3.4): such tokens are protocol
    /// names, not credentials.
    pub fn from_subprotocol(token: &str) -> Option<AppProtocol> {
        hint::from_subprotocol(token)
    }

    /// The name printed in findings (`heartbeat`).
    pub fn name(self) -> &'static str {
        match self {
            AppProtocol::SocketIo => "socket.io",
            AppProtocol::GraphqlTransportWs => "graphql-transport-ws",
            AppProtocol::GraphqlWs => "graphql-ws",
            AppProtocol::Mqtt => "mqtt",
            AppProtocol::Stomp => "stomp",
            AppProtocol::SignalR => "signalr",
            AppProtocol::Phoenix => "phoenix",
            AppProtocol::ActionCable => "actioncable",
        }
    }
}

/// How a connection's protocol was recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecognisedBy {
    /// The subprotocol the server chose, or else the client offered.
    Subprotocol,
    /// The request path (`/socket.io/?EIO=4`, `/socket/websocket`, ...).
    Path,
    /// The first bytes of data messages (capture started mid-stream, or
    /// the handshake named nothing).
    Payload,
}

/// What one application message is, as a heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Beat {
    /// A ping the other side must answer.
    Ping,
    /// The answer to the other side's ping.
    Pong,
    /// A heartbeat nobody answers (STOMP EOL, SignalR, Action Cable, `ka`).
    OneWay,
}

/// An interval the application declares on the wire; it outranks one
/// learned from the traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Declared {
    /// The side whose heartbeats it paces; `None`: whichever side pings
    /// (Engine.IO, when its version is unknown).
    pub side: Option<Side>,
    /// Time between that side's heartbeats.
    pub interval: Span,
    /// Silence after which the application itself gives up on that side
    /// (Engine.IO: pingInterval + pingTimeout; MQTT: 1.5 × keep-alive).
    pub deadline: Option<Span>,
    /// Time the other side has to answer a ping (Engine.IO pingTimeout).
    pub pong_timeout: Option<Span>,
}

/// The longest data message [`is_heartbeat`] keeps: every protocol's
/// heartbeat is far shorter (a Phoenix heartbeat with its ref is about 70
/// bytes), so a longer message is never passed off as one.
pub const MAX_HEARTBEAT_LEN: u64 = 128;

/// Whether a whole data message (`payload` unmasked, `text` for a Text
/// frame) is one of the application heartbeats wspulse reads, for any
/// protocol: a protocol constant, which a written capture keeps (the
/// spec's "What never appears in output").
pub fn is_heartbeat(text: bool, payload: &[u8]) -> bool {
    let len = payload.len() as u64;
    len <= MAX_HEARTBEAT_LEN
        && AppProtocol::ALL.iter().any(|&p| {
            matches!(
                classify::classify(p, text, len, payload),
                classify::Found::Beat(_)
            )
        })
}
