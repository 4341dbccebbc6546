//! WebSocket: the opening handshake, frame decoding, and the per-connection
//! session that turns reassembled TCP bytes into frame events for the judge.

pub mod app;
pub mod frame;
pub mod handshake;
pub mod seen;
pub mod session;
pub mod tls;

pub use session::{Session, SessionKind, SessionSetup, WsEvent};
