//! Validated settings, built once from the command line. Nothing past this
//! point sees clap types.

use std::path::PathBuf;

use crate::capture::file::Input;
use crate::capture::filter::Selectors;
use crate::liveness::{Thresholds, Verdict};
use crate::tcp::Limits;
use crate::time::{Span, Timestamp};

/// `--at`: an instant, or an offset from the first packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum At {
    Instant(Timestamp),
    AfterFirstPacket(Span),
}

/// Output formats, one printer each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Ndjson,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Color {
    Auto,
    Always,
    Never,
}

/// `wspulse analyze`.
#[derive(Clone, Debug)]
pub struct AnalyzeConfig {
    pub inputs: Vec<Input>,
    pub selectors: Selectors,
    /// tcpdump filter expression, compiled by libpcap (`live` feature).
    pub filter: Option<String>,
    /// `--ws-port`: the server's port, decoded as WebSocket even mid-stream.
    pub ws_ports: Vec<u16>,
    /// `--tls-port`: the server's port, wss (frames not visible).
    pub tls_ports: Vec<u16>,
    /// `--tcp`: the TCP view of every connection.
    pub tcp_view: bool,
    pub format: Format,
    pub output: Option<PathBuf>,
    pub color: Color,
    pub limits: Limits,
    pub thresholds: Thresholds,
    /// Judge at this instant instead of the end of the capture.
    pub at: Option<At>,
    /// `--fail-on`: exit 1 when a connection has this verdict or a worse one.
    pub fail_on: Option<Verdict>,
}

impl AnalyzeConfig {
    /// Ports whose endpoint is the server, for the role rules.
    pub fn server_ports(&self) -> Vec<u16> {
        self.ws_ports
            .iter()
            .chain(&self.tls_ports)
            .copied()
            .collect()
    }
}
