//! `wspulse probe`: its flags, turned once into a validated `ProbeConfig`.

use std::time::Duration;

use clap::Args;

use super::{duration, parse_fail_on, Command, ThresholdArgs};
use crate::config::Format;
use crate::probe::app::AppHeartbeat;
use crate::probe::{Family, ProbeConfig, Target, Trust, MAX_CONNECTIONS};
use crate::time::Span;

pub(super) const AFTER_HELP: &str = "\
The probe is the client: it sends a Ping whose payload is its sequence number every \
--ping-interval, checks each Pong's echo and round trip, reads its own socket's TCP_INFO and \
send queue (Linux: SIOCOUTQ, SIOCOUTQNSD) every interval, and judges the connection as \
`wspulse analyze` judges a captured one: a server that stopped reading shows as bytes the \
probe wrote that never leave its queue, whatever the Pongs say.

Stopping: --duration, --count, Ctrl-C (SIGINT) or SIGTERM; then the result is printed.

Exit status: 0; 1 when --fail-on matched; 2 on errors (refused, timed out, TLS refused, \
upgrade refused). With --check: 0 OK (alive), 1 WARNING (suspect), 2 CRITICAL (false_alive, \
aborted, or no connection), 3 UNKNOWN (bad arguments).

Examples:
  wspulse probe --count 5 ws://127.0.0.1:8080/
  wspulse probe --watch --duration 1h wss://example.com/feed
  wspulse probe --send '{\"op\":\"ping\"}' --format json wss://api.example.com/ws
  wspulse probe --check --duration 10s wss://example.com/feed     # Nagios, Icinga, Zabbix
  */5 * * * *  wspulse probe --fail-on suspect --duration 20s wss://example.com/feed || alert

Header values given with -H, the --send text and the URL's query are never printed: only \
scheme, host, port and path of the URL are.";

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum ProbeFormat {
    /// A few lines for people.
    Table,
    /// One JSON document (schema wspulse.probe/2).
    Json,
    /// One JSON object per line: header, samples (--watch), connections, summary.
    Ndjson,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum HeartbeatArg {
    /// Socket.IO's Engine.IO v4: the server pings, the probe answers.
    Engineio,
    /// graphql-ws: {"type":"ping"} answered by {"type":"pong"}.
    GraphqlTransportWs,
    /// MQTT over WebSocket: PINGREQ answered by PINGRESP.
    Mqtt,
    /// STOMP 1.2 heart-beats, one end-of-line each way.
    Stomp,
}

#[derive(Args, Debug)]
pub(super) struct ProbeArgs {
    /// The WebSocket URL, ws[s]://host[:port][/path][?query].
    #[arg(value_name = "URL")]
    url: String,

    /// Connect over IPv4 only.
    #[arg(short = '4', conflicts_with = "ipv6")]
    ipv4: bool,

    /// Connect over IPv6 only.
    #[arg(short = '6')]
    ipv6: bool,

    /// Check wss:// certificates against the CA certificates in this PEM file
    /// instead of Mozilla's roots.
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    ca_file: Option<std::path::PathBuf>,

    /// Do not check the wss:// certificate or its name (the session is still
    /// encrypted, but anyone in the path could be answering). Said on stderr.
    #[arg(long)]
    insecure: bool,

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

    /// Speak this application protocol's heartbeat instead of WebSocket Pings,
    /// as its clients do: engineio (answers the server's `2`; the URL's path is
    /// /socket.io/?EIO=4&transport=websocket), graphql-transport-ws, mqtt, stomp.
    #[arg(long, value_enum, value_name = "PROTOCOL")]
    heartbeat: Option<HeartbeatArg>,

    /// Send this text message every --send-interval and time the server's next
    /// data frame (an echo or a response). Never printed.
    #[arg(long, value_name = "TEXT")]
    send: Option<String>,

    /// Time between --send messages.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = duration,
          requires = "send")]
    send_interval: Span,

    /// Open N connections to the URL at once and judge each.
    #[arg(long, value_name = "N", default_value_t = 1)]
    connections: usize,

    /// Print a line per Ping interval while probing (round trip, send queue,
    /// window, verdict), as ping does.
    #[arg(long)]
    watch: bool,

    /// Print one monitoring-plugin status line with performance data (Nagios,
    /// Icinga, Zabbix agents) and exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    #[arg(long, conflicts_with_all = ["format", "fail_on", "watch"])]
    check: bool,

    /// Stop after this long.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration)]
    duration: Span,

    /// Stop after N Pings, once the last is answered (or after the pong timeout: --pong-timeout, else twice the interval, at least 1s).
    #[arg(long, value_name = "N")]
    count: Option<u64>,

    /// Output format.
    #[arg(long, value_enum)]
    format: Option<ProbeFormat>,

    /// Exit 1 when a connection's verdict is one of these: a comma-separated list, each matched exactly; `suspect` alone means suspect or false_alive.
    #[arg(long, value_name = "VERDICT[,VERDICT...]", value_parser = parse_fail_on)]
    fail_on: Option<crate::liveness::VerdictSet>,

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
    if !(1..=MAX_CONNECTIONS).contains(&a.connections) {
        return Err(format!("--connections takes 1 to {MAX_CONNECTIONS}"));
    }
    let format = match a.format.unwrap_or(ProbeFormat::Table) {
        ProbeFormat::Table => Format::Table,
        ProbeFormat::Json => Format::Json,
        ProbeFormat::Ndjson => Format::Ndjson,
    };
    if a.watch && format == Format::Json {
        return Err("--watch prints a line at a time: use it with --format table or ndjson".into());
    }
    if !target.tls && (a.insecure || a.ca_file.is_some()) {
        let flag = if a.insecure {
            "--insecure"
        } else {
            "--ca-file"
        };
        return Err(format!("{flag} is for wss:// URLs; this one is ws://"));
    }
    let trust = match (a.insecure, a.ca_file) {
        (true, _) => Trust::Insecure,
        (false, Some(path)) => Trust::CaFile(path),
        (false, None) => Trust::MozillaRoots,
    };
    let heartbeat = a.heartbeat.map(|h| match h {
        HeartbeatArg::Engineio => AppHeartbeat::EngineIo,
        HeartbeatArg::GraphqlTransportWs => AppHeartbeat::GraphqlTransportWs,
        HeartbeatArg::Mqtt => AppHeartbeat::Mqtt,
        HeartbeatArg::Stomp => AppHeartbeat::Stomp,
    });
    if heartbeat == Some(AppHeartbeat::EngineIo) {
        if !target.resource.contains("EIO=") {
            return Err("--heartbeat engineio: the URL's path must name Engine.IO, e.g. ws://host/socket.io/?EIO=4&transport=websocket".into());
        }
        if a.count.is_some() {
            return Err("--heartbeat engineio: the server pings, not the probe; bound the run with --duration instead of --count".into());
        }
    }
    let subprotocol = a.subprotocol.or_else(|| {
        heartbeat
            .and_then(AppHeartbeat::subprotocol)
            .map(String::from)
    });
    Ok(Command::Probe(Box::new(ProbeConfig {
        heartbeat,
        target,
        headers,
        subprotocol,
        origin: a.origin,
        family: match (a.ipv4, a.ipv6) {
            (true, _) => Some(Family::V4),
            (false, true) => Some(Family::V6),
            _ => None,
        },
        trust,
        connect_timeout: std_duration("--connect-timeout", a.connect_timeout)?,
        ping_interval: std_duration("--ping-interval", a.ping_interval)?,
        send: a.send,
        send_interval: std_duration("--send-interval", a.send_interval)?,
        duration: std_duration("--duration", a.duration)?,
        count: a.count,
        connections: a.connections,
        thresholds: a.thresholds.thresholds(),
        format,
        check: a.check,
        watch: a.watch,
        fail_on: a.fail_on,
    })))
}
