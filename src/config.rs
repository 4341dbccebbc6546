//! Validated settings, built once from the command line. Nothing past this
//! point sees clap types.

use std::path::PathBuf;

use crate::capture::file::Input;
use crate::capture::filter::Selectors;
use crate::tcp::Limits;

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
    /// Ports whose endpoint is the server (`--ws-port`, `--tls-port`).
    pub server_ports: Vec<u16>,
    /// `--tcp`: the TCP view of every connection.
    pub tcp_view: bool,
    pub format: Format,
    pub output: Option<PathBuf>,
    pub color: Color,
    pub limits: Limits,
}
