//! The command line: clap definitions, turned once into a validated
//! `Config`. Help texts are sentences that state their defaults.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod live;
mod probe;

use crate::capture::file::Input;
use crate::capture::filter::Selectors;
use crate::config::{AnalyzeConfig, At, Color, Format, LiveConfig};
use crate::liveness::{Thresholds, Verdict};
use crate::tcp::Limits;
use crate::time::{parse_rfc3339, parse_span, Span};

#[derive(Parser, Debug)]
#[command(
    name = "wspulse",
    version,
    about = "Find WebSocket connections that look alive but are not, from packets.",
    long_about = "Find WebSocket connections that look alive but are not, from packets.\n\n\
        wspulse reassembles TCP, follows both directions of every connection (ACK progress, \
        windows, unacknowledged backlog, retransmissions, read gaps) and reports what the \
        wire proves, with frame numbers you can open in Wireshark.",
    after_help = "Examples:\n  \
        wspulse analyze capture.pcap\n  \
        wspulse analyze --tcp --format json rotated-00.pcap rotated-01.pcap\n  \
        tcpdump -i any -w - 'tcp port 8080' | wspulse analyze -\n  \
        wspulse live -i eth0 tcp port 8080\n  \
        wspulse probe --count 5 ws://127.0.0.1:8080/"
)]
struct Cli {
    #[command(subcommand)]
    command: CliCommand,
}

#[derive(Subcommand, Debug)]
enum CliCommand {
    /// Analyze pcap or pcapng files (several files are read in order as one capture).
    Analyze(Box<AnalyzeArgs>),
    /// Watch WebSocket connections as they happen: on an interface (libpcap, the `live` feature), or from a capture being written (`tcpdump -U -w - | wspulse live -r -`).
    #[command(after_help = live::AFTER_HELP)]
    Live(Box<live::LiveArgs>),
    /// Open a WebSocket connection (ws:// only for now), ping it, read the socket's TCP_INFO, and judge it as `analyze` judges a captured one.
    #[command(after_help = probe::AFTER_HELP)]
    Probe(Box<probe::ProbeArgs>),
}

#[derive(Args, Debug)]
struct AnalyzeArgs {
    /// Capture files, pcap or pcapng, in time order (tcpdump -C/-G rotation); `-` reads stdin.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,

    /// Show the TCP view of every TCP connection: state, bytes, retransmissions, zero window, backlog, RTT.
    #[arg(long)]
    tcp: bool,

    #[command(flatten)]
    select: SelectArgs,

    /// A tcpdump filter expression applied to every packet, e.g. 'tcp port 8080' (needs the `live` feature, which links libpcap).
    #[arg(short = 'f', long = "filter", value_name = "EXPR")]
    filter: Option<String>,

    /// Judge the connections at this instant [default: end]: `end` is when the capture stopped (the end a pcapng file records, else its last packet), `last-packet` the time of the last packet, `now` the wall clock; or an RFC 3339 time with a zone (2026-11-24T16:00:00Z, 2026-11-24T17:00:00+01:00), or seconds after the first packet (90, 1.5m, 250ms).
    ///
    /// Silence counts as evidence only up to this instant: a Close or Ping still unanswered then, but not yet past its timeout, is listed as pending. For a capture read while it is being written (tcpdump -w - | wspulse analyze -), the default end is the wall clock when the input ends. A time without a zone is refused (add Z for UTC or an offset), and so is an instant before the first packet or after the end of the capture; `now` is allowed on an old capture, and the report says how old it is.
    #[arg(long, value_name = "TIME", value_parser = at_time)]
    at: Option<At>,

    /// Exit 1 when any connection has this verdict or a worse one (false_alive, then suspect); for scripts and CI.
    #[arg(long, value_enum, value_name = "VERDICT")]
    fail_on: Option<FailOn>,

    #[command(flatten)]
    output: OutputArgs,

    #[command(flatten)]
    secrets: SecretArgs,

    #[command(flatten)]
    thresholds: ThresholdArgs,

    #[command(flatten)]
    limits: LimitArgs,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum FailOn {
    /// Only false_alive connections fail the run.
    #[value(name = "false_alive")]
    FalseAlive,
    /// suspect or false_alive connections fail the run.
    Suspect,
}

impl FailOn {
    fn verdict(self) -> Verdict {
        match self {
            FailOn::FalseAlive => Verdict::FalseAlive,
            FailOn::Suspect => Verdict::Suspect,
        }
    }
}

/// Which connections: `--port`, `--host`, and the ports that name servers.
#[derive(Args, Debug)]
struct SelectArgs {
    /// Only connections with this port on either side (repeatable).
    #[arg(long = "port", value_name = "PORT")]
    ports: Vec<u16>,

    /// Only connections with this address on either side (repeatable).
    #[arg(long = "host", value_name = "IP")]
    hosts: Vec<IpAddr>,

    /// The endpoint on this port is a WebSocket server (repeatable); sets roles for connections caught mid-stream.
    #[arg(long = "ws-port", value_name = "PORT")]
    ws_ports: Vec<u16>,

    /// The endpoint on this port is a TLS (wss) server (repeatable).
    #[arg(long = "tls-port", value_name = "PORT")]
    tls_ports: Vec<u16>,
}

impl SelectArgs {
    fn selectors(&self) -> Selectors {
        Selectors {
            ports: self.ports.clone(),
            hosts: self.hosts.clone(),
        }
    }
}

#[derive(Args, Debug)]
#[command(next_help_heading = "Secrets")]
struct SecretArgs {
    /// Print secrets from the wire as they are: URL query values, user info, subprotocol tokens, extension parameters, Ping/Pong/Close payloads. For local debugging only; said on stderr. By default they are replaced by their length and a keyed fingerprint.
    #[arg(long)]
    show_secrets: bool,

    /// Key the fingerprints of redacted values with KEY instead of a random key per run, so two reports can be compared (equal values, equal fingerprints).
    #[arg(long, value_name = "KEY")]
    redact_key: Option<String>,
}

#[derive(Args, Debug)]
#[command(next_help_heading = "Thresholds (durations such as 30s, 250ms, 2m)")]
struct ThresholdArgs {
    /// A Ping with no Pong for this long is unanswered [default: 2 × heartbeat interval, else 10s].
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pong_timeout: Option<Span>,

    /// A side with a cadence silent for this long exceeds its read deadline [default: 3 × heartbeat interval, else 60s].
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    read_deadline: Option<Span>,

    /// Unacknowledged data with no ACK progress for max(this, 4 × SRTT), with at least 2 retransmissions, means the peer is unreachable.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration)]
    ack_stall: Span,

    /// A zero receive window held this long is a stalled reader.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration)]
    zero_window_stall: Span,

    /// A Close with no Close back (and TCP still open) for this long is an incomplete close handshake.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration)]
    close_timeout: Span,

    /// A FIN without a Close frame, the other side still open this long, is a half-close.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration)]
    half_close_timeout: Span,

    /// Idle this long with no Ping, Pong or TCP keep-alive ever seen is a connection nobody would notice dying.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = duration)]
    idle: Span,

    /// Data silent this long while control frames flow is a stuck application [default: max(5 × median data interval, read deadline)].
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    data_stall: Option<Span>,
}

impl ThresholdArgs {
    fn thresholds(&self) -> Thresholds {
        Thresholds {
            pong_timeout: self.pong_timeout,
            read_deadline: self.read_deadline,
            ack_stall: self.ack_stall,
            zero_window: self.zero_window_stall,
            close_timeout: self.close_timeout,
            half_close_timeout: self.half_close_timeout,
            idle: self.idle,
            data_stall: self.data_stall,
            ..Thresholds::default()
        }
    }
}

#[derive(Args, Debug)]
struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    format: FormatArg,

    /// Write the report to FILE (atomically: a reader never sees half a report) instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,

    /// Colour in tables: auto means only on a terminal and when NO_COLOR is unset.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto)]
    color: ColorArg,
}

#[derive(Args, Debug)]
#[command(next_help_heading = "Memory limits")]
struct LimitArgs {
    /// Connections tracked at once; when full, idle ones are retired first, then further new connections are counted (and said on stderr), not tracked.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_flows)]
    max_flows: usize,

    /// Out-of-order bytes held per direction of a connection before the hole is skipped.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_ooo_bytes_per_direction)]
    max_ooo_bytes: u32,

    /// Out-of-order bytes held across all connections.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_ooo_bytes_total)]
    max_ooo_total: u64,

    /// Retire a connection after this long with no packet (e.g. 30m, 1h): it is judged at its last packet plus this timeout, reported, and its memory freed.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = duration)]
    flow_timeout: Span,
}

impl LimitArgs {
    /// The limits, refusing those that would track nothing.
    fn limits(&self) -> Result<Limits, String> {
        if self.max_flows == 0 {
            return Err("--max-flows 0: at least one connection must be tracked".into());
        }
        if self.flow_timeout == Span::ZERO {
            return Err("--flow-timeout 0: every packet would be a connection of its own; give a duration such as 30s".into());
        }
        Ok(Limits {
            max_flows: self.max_flows,
            max_ooo_bytes_per_direction: self.max_ooo_bytes,
            max_ooo_bytes_total: self.max_ooo_total,
            idle_timeout: self.flow_timeout,
            ..Limits::default()
        })
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum FormatArg {
    /// A table for people, and a summary line.
    Table,
    /// One JSON document.
    Json,
    /// JSON lines: a header, one line per connection as it ends (or at the end), and a summary.
    Ndjson,
}

impl FormatArg {
    fn format(self) -> Format {
        match self {
            FormatArg::Table => Format::Table,
            FormatArg::Json => Format::Json,
            FormatArg::Ndjson => Format::Ndjson,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ColorArg {
    Auto,
    Always,
    Never,
}

impl ColorArg {
    fn color(self) -> Color {
        match self {
            ColorArg::Auto => Color::Auto,
            ColorArg::Always => Color::Always,
            ColorArg::Never => Color::Never,
        }
    }
}

fn at_time(s: &str) -> Result<At, String> {
    match s.trim() {
        "end" => return Ok(At::End),
        "last-packet" => return Ok(At::LastPacket),
        "now" => return Ok(At::Now),
        _ => {}
    }
    // Four digits and a dash: meant as a date, so say what is wrong with it
    // rather than that it is not a duration.
    let b = s.as_bytes();
    if b.len() > 4 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' {
        return parse_rfc3339(s).map(At::Instant).map_err(|e| e.to_string());
    }
    parse_span(s).map(At::AfterFirstPacket).ok_or_else(|| {
        format!(
            "'{s}' is not an evaluation time: use end, last-packet, now, an RFC 3339 time with \
             a zone (2026-11-24T16:00:00Z) or seconds after the first packet (90, 1.5m)"
        )
    })
}

fn duration(s: &str) -> Result<Span, String> {
    parse_span(s).ok_or_else(|| format!("'{s}' is not a duration: use e.g. 30s, 250ms, 2m, 1h"))
}

/// What `main` runs.
pub enum Command {
    Analyze(Box<AnalyzeConfig>),
    Live(Box<LiveConfig>),
    /// `wspulse probe URL`.
    Probe(Box<crate::probe::ProbeConfig>),
    /// `wspulse live --list-interfaces`.
    ListInterfaces,
}

/// Parses the process arguments; on bad usage clap prints help and exits 2.
/// `probe --check` follows the monitoring-plugin convention instead: bad
/// arguments print `WSPULSE UNKNOWN - why` on stdout and exit 3.
pub fn parse() -> Result<Command, String> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let check = args.iter().any(|a| a == "probe") && args.iter().any(|a| a == "--check");
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) if check && e.use_stderr() => unknown(&e.to_string()),
        Err(e) => e.exit(),
    };
    from_cli(cli).map_err(|message| if check { unknown(&message) } else { message })
}

/// The monitoring-plugin UNKNOWN status (exit 3) for a usage error.
fn unknown(message: &str) -> ! {
    let first = message.lines().next().unwrap_or("").trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    println!("WSPULSE UNKNOWN - {first}");
    std::process::exit(3)
}

fn from_cli(cli: Cli) -> Result<Command, String> {
    match cli.command {
        CliCommand::Analyze(a) => {
            let inputs: Vec<Input> = a.files.iter().map(|f| Input::parse(f)).collect();
            if inputs.iter().filter(|i| **i == Input::Stdin).count() > 1 {
                return Err("`-` (stdin) can be given only once".into());
            }
            // `-o -` is stdout, as for tcpdump's `-w -`.
            let mut a = a;
            if a.output.output.as_deref() == Some(std::path::Path::new("-")) {
                a.output.output = None;
            }
            let limits = a.limits.limits()?;
            if let Some(out) = &a.output.output {
                refuse_to_overwrite_input(out, &inputs)?;
                let dir = out.parent().filter(|p| !p.as_os_str().is_empty());
                if dir.is_some_and(|d| !d.is_dir()) {
                    return Err(format!("-o {}: no such directory", out.display()));
                }
            }
            Ok(Command::Analyze(Box::new(AnalyzeConfig {
                inputs,
                selectors: a.select.selectors(),
                filter: a.filter,
                ws_ports: a.select.ws_ports,
                tls_ports: a.select.tls_ports,
                tcp_view: a.tcp,
                format: a.output.format.format(),
                output: a.output.output,
                color: a.output.color.color(),
                limits,
                thresholds: a.thresholds.thresholds(),
                at: a.at.unwrap_or_default(),
                fail_on: a.fail_on.map(FailOn::verdict),
                show_secrets: a.secrets.show_secrets,
                redact_key: a.secrets.redact_key,
            })))
        }
        CliCommand::Live(l) => live::config(*l),
        CliCommand::Probe(p) => probe::config(*p),
    }
}

/// `-o` must never clobber a capture the user gave us.
fn refuse_to_overwrite_input(out: &std::path::Path, inputs: &[Input]) -> Result<(), String> {
    let Ok(out_canon) = out.canonicalize() else {
        return Ok(()); // does not exist yet
    };
    for input in inputs {
        if let Input::Path(p) = input {
            if p.canonicalize().is_ok_and(|c| c == out_canon) {
                return Err(format!(
                    "-o {}: that is an input capture; refusing to overwrite it",
                    out.display()
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analyze(args: &[&str]) -> Result<AnalyzeConfig, clap::Error> {
        let argv = ["wspulse", "analyze"].iter().chain(args).chain(&["x.pcap"]);
        match from_cli(Cli::try_parse_from(argv)?) {
            Ok(Command::Analyze(config)) => Ok(*config),
            _ => panic!("not an analyze config"),
        }
    }

    fn at(value: &str) -> Result<At, String> {
        analyze(&[&format!("--at={value}")])
            .map(|c| c.at)
            .map_err(|e| {
                assert_eq!(e.exit_code(), 2, "{e}");
                e.to_string()
            })
    }

    #[test]
    fn at_defaults_to_end() {
        let config = analyze(&[]).unwrap();
        assert_eq!(config.at, At::End);
    }

    #[test]
    fn at_takes_words_instants_and_offsets() {
        assert_eq!(at("end"), Ok(At::End));
        assert_eq!(at("last-packet"), Ok(At::LastPacket));
        assert_eq!(at("now"), Ok(At::Now));
        assert_eq!(
            at("2026-11-24T17:00:00.5+01:00"),
            Ok(At::Instant(
                parse_rfc3339("2026-11-24T16:00:00.5Z").unwrap()
            ))
        );
        assert_eq!(at("90"), Ok(At::AfterFirstPacket(Span::from_secs(90))));
        assert_eq!(at("1.5m"), Ok(At::AfterFirstPacket(Span::from_secs(90))));
        assert_eq!(
            at("250ms"),
            Ok(At::AfterFirstPacket(Span::from_millis(250)))
        );
    }

    #[test]
    fn at_refuses_instants_the_clock_cannot_hold() {
        let message = at("2300-01-01T00:00:00Z").unwrap_err();
        assert!(
            message.contains("outside the times wspulse can represent"),
            "{message}"
        );
        assert!(message.contains("2262-04-11"), "{message}");
    }

    #[test]
    fn at_refuses_a_time_without_a_zone_with_a_hint() {
        let message = at("2026-11-24T16:00:00").unwrap_err();
        assert!(message.contains("no time zone"), "{message}");
        assert!(message.contains("2026-11-24T16:00:00Z"), "{message}");
    }

    #[test]
    fn at_explains_every_form_when_it_understands_none() {
        for bad in ["tomorrow", "-5s", "2026-13-01T00:00:00Z"] {
            let message = at(bad).unwrap_err();
            assert!(message.contains(bad), "{message}");
        }
        let message = at("tomorrow").unwrap_err();
        for form in [
            "end",
            "last-packet",
            "now",
            "RFC 3339",
            "seconds after the first packet",
        ] {
            assert!(message.contains(form), "{form}: {message}");
        }
    }

    #[test]
    fn at_help_teaches_every_form_and_the_default() {
        let help = Cli::try_parse_from(["wspulse", "analyze", "--help"])
            .unwrap_err()
            .to_string();
        for form in [
            "[default: end]",
            "`end`",
            "`last-packet`",
            "`now`",
            "2026-11-24T16:00:00Z",
            "seconds after the first packet",
            "without a zone is refused",
        ] {
            assert!(help.contains(form), "{form} missing from:\n{help}");
        }
    }
}
