//! `wspulse probe`: its flags, turned once into a validated `ProbeConfig`.

use std::time::Duration;

use clap::Args;

use super::{duration, Command, FailOn, ThresholdArgs};
use crate::config::Format;
use crate::probe::{ProbeConfig, Target};
use crate::time::Span;

pub(super) const AFTER_HELP: &str = "\
Only ws:// for now (no TLS). The probe is the client: it sends a Ping whose payload is its \
sequence number every --ping-interval, checks each Pong's echo and round trip, reads its own \
socket's TCP_INFO (Linux) at every Ping, and judges the connection as `wspulse analyze` \
judges a captured one.

Stopping: --duration, --count, Ctrl-C (SIGINT) or SIGTERM; then the result is printed. \
Exit status: 0, or 1 with --fail-on, or 2 on errors (refused, timed out, upgrade refused).

Header values given with -H are never printed. Only scheme, host, port and path of the URL \
are printed.";

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum ProbeFormat {
    /// A few lines for people.
    Table,
    /// One JSON document (schema wspulse.probe/1).
    Json,
}

#[derive(Args, Debug)]
pub(super) struct ProbeArgs {
    /// The WebSocket URL, ws://host[:port][/path][?query].
    #[arg(value_name = "URL")]
    url: String,

    /// A request header, 'Name: value' (repeatable); the value is never printed.
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    headers: Vec<String>,

    /// Ask for this subprotocol (Sec-WebSocket-Protocol).
    #[arg(long, value_name = "NAME")]
    subprotocol: Option<String>,

    /// The Origin header to send.
    #[arg(long, value_name = "ORIGIN")]
    origin: Option<String>,

    /// Bound on the TCP connect and on each read or write of the handshake.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration)]
    connect_timeout: Span,

    /// Time between Pings.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = duration)]
    ping_interval: Span,

    /// Stop after this long.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration)]
    duration: Span,

    /// Stop after N Pings (once answered, or one interval after the last).
    #[arg(long, value_name = "N")]
    count: Option<u64>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = ProbeFormat::Table)]
    format: ProbeFormat,

    /// Exit 1 when the verdict is this or worse (false_alive, then suspect).
    #[arg(long, value_enum, value_name = "VERDICT")]
    fail_on: Option<FailOn>,

    #[command(flatten)]
    thresholds: ThresholdArgs,
}

fn std_duration(flag: &str, span: Span) -> Result<Duration, String> {
    u64::try_from(span.nanos())
        .ok()
        .filter(|&n| n > 0)
        .map(Duration::from_nanos)
        .ok_or_else(|| format!("{flag} must be longer than 0"))
}

pub(super) fn config(a: ProbeArgs) -> Result<Command, String> {
    let target = Target::parse(&a.url)?;
    let headers = a
        .headers
        .iter()
        .map(|h| {
            let (name, value) = h.split_once(':').ok_or_else(|| {
                "-H takes 'Name: value' (a colon after the header name)".to_string()
            })?;
            let name = name.trim();
            if name.is_empty() {
                return Err("-H: the header name is empty".to_string());
            }
            Ok((name.to_string(), value.trim().to_string()))
        })
        .collect::<Result<Vec<_>, String>>()?;
    if a.count == Some(0) {
        return Err("--count 0: at least one Ping".into());
    }
    Ok(Command::Probe(Box::new(ProbeConfig {
        target,
        headers,
        subprotocol: a.subprotocol,
        origin: a.origin,
        connect_timeout: std_duration("--connect-timeout", a.connect_timeout)?,
        ping_interval: std_duration("--ping-interval", a.ping_interval)?,
        duration: std_duration("--duration", a.duration)?,
        count: a.count,
        thresholds: a.thresholds.thresholds(),
        format: match a.format {
            ProbeFormat::Table => Format::Table,
            ProbeFormat::Json => Format::Json,
        },
        fail_on: a.fail_on.map(FailOn::verdict),
    })))
}
