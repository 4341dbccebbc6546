//! The command line: clap definitions, turned once into a validated
//! `Config`. Help texts are sentences that state their defaults.

use std::io::{self, Write};

use clap::{Args, CommandFactory, Parser, Subcommand};

mod analyze;
mod live;
mod probe;
mod sockets;

use crate::config::{AnalyzeConfig, At, LiveConfig};
use crate::liveness::{Thresholds, VerdictSet};
use crate::time::{parse_rfc3339, parse_span, Span};
use analyze::{ColorArg, FormatArg, LimitArgs, SecretArgs, SelectArgs};

/// `--version`: the version, then the features this build has, since
/// `live -i` and `-f` exist only with libpcap linked.
#[cfg(feature = "live")]
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\nfeatures: +live (libpcap: live -i, -f filters), gzip/zstd/lz4 captures, wss probe (rustls)"
);
#[cfg(not(feature = "live"))]
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\nfeatures: -live (built without libpcap: no live -i, no -f; rebuild with --features live), gzip/zstd/lz4 captures, wss probe (rustls)"
);

#[derive(Parser, Debug)]
#[command(
    name = "wspulse",
    version = VERSION,
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
        wspulse probe --count 5 ws://127.0.0.1:8080/\n  \
        wspulse sockets --port 8080\n\n\
        Exit status (analyze, explain, live, probe, sockets):\n  \
        0  done, and --fail-on (if given) matched nothing\n  \
        1  --fail-on matched a connection\n  \
        2  an error: bad usage, an unreadable or damaged input, an unwritable output\n  \
        probe --check uses the monitoring-plugin statuses instead (see wspulse probe --help)"
)]
struct Cli {
    #[command(subcommand)]
    command: CliCommand,
}

#[derive(Subcommand, Debug)]
enum CliCommand {
    /// Analyze pcap or pcapng files (several files are read in order as one capture).
    #[command(after_help = analyze::AFTER_HELP)]
    Analyze(Box<analyze::AnalyzeArgs>),
    /// One connection of a capture in words and time order: handshake, heartbeats, when each reason began, its evidence frames, and the Wireshark filter to open.
    #[command(after_help = analyze::EXPLAIN_AFTER_HELP)]
    Explain(Box<analyze::ExplainArgs>),
    /// Watch WebSocket connections as they happen: on an interface (libpcap, the `live` feature), or from a capture being written (`tcpdump -U -w - | wspulse live -r -`).
    #[command(after_help = live::AFTER_HELP)]
    Live(Box<live::LiveArgs>),
    /// Open WebSocket connections (ws:// or wss://), ping them (or speak their application heartbeat), read the socket's TCP_INFO and send queue, and judge each as `analyze` judges a captured one.
    #[command(after_help = probe::AFTER_HELP)]
    Probe(Box<probe::ProbeArgs>),
    /// Judge this host's TCP sockets from what the kernel holds (sock_diag): unsent and unacknowledged bytes, retransmissions, windows. Needs no capture privileges.
    #[command(after_help = sockets::AFTER_HELP)]
    Sockets(Box<sockets::SocketsArgs>),
    /// Print a shell completion script, generated from these definitions.
    #[command(after_help = "Install:\n  \
        wspulse completions bash > ~/.local/share/bash-completion/completions/wspulse\n  \
        wspulse completions zsh > ~/.zfunc/_wspulse      # with fpath+=~/.zfunc before compinit\n  \
        wspulse completions fish > ~/.config/fish/completions/wspulse.fish")]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print a man page (roff), generated from these definitions: wspulse(1), or wspulse-SUBCOMMAND(1).
    #[command(after_help = "Install:\n  \
        wspulse man > /usr/local/share/man/man1/wspulse.1\n  \
        for c in analyze explain live probe sockets; do wspulse man $c > /usr/local/share/man/man1/wspulse-$c.1; done")]
    Man {
        /// The subcommand whose page to print.
        #[arg(value_name = "SUBCOMMAND")]
        subcommand: Option<String>,
    },
}

/// `--fail-on`'s value, for analyze, live and probe alike: a
/// comma-separated list of verdicts ([`VerdictSet::parse`]).
fn parse_fail_on(list: &str) -> Result<VerdictSet, String> {
    VerdictSet::parse(list)
}

#[derive(Args, Debug)]
#[command(next_help_heading = "Thresholds (durations such as 30s, 250ms, 2m)")]
struct ThresholdArgs {
    /// A Ping with no Pong for this long is unanswered [default: 2 × heartbeat interval, else 10s].
    #[arg(long, value_name = "DURATION", value_parser = threshold, allow_hyphen_values = true)]
    pong_timeout: Option<Span>,

    /// A side with a cadence silent for this long exceeds its read deadline [default: 3 × heartbeat interval, else 60s].
    #[arg(long, value_name = "DURATION", value_parser = threshold, allow_hyphen_values = true)]
    read_deadline: Option<Span>,

    /// Unacknowledged data with no ACK progress for max(this, 4 × SRTT), with at least 2 retransmissions, means the peer is unreachable.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = threshold, allow_hyphen_values = true)]
    ack_stall: Span,

    /// A zero receive window held this long is a stalled reader.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = threshold, allow_hyphen_values = true)]
    zero_window_stall: Span,

    /// A Close with no Close back (and TCP still open) for this long is an incomplete close handshake.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = threshold, allow_hyphen_values = true)]
    close_timeout: Span,

    /// A FIN without a Close frame, the other side still open this long, is a half-close.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = threshold, allow_hyphen_values = true)]
    half_close_timeout: Span,

    /// Idle this long with no Ping, Pong or TCP keep-alive ever seen is a connection nobody would notice dying.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = threshold, allow_hyphen_values = true)]
    idle: Span,

    /// Data silent this long while control frames flow is a stuck application [default: max(5 × median data interval, read deadline)].
    #[arg(long, value_name = "DURATION", value_parser = threshold, allow_hyphen_values = true)]
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

/// A threshold: a duration longer than zero. Zero would make every
/// connection guilty at once, and a negative one means nothing.
fn threshold(s: &str) -> Result<Span, String> {
    if s.trim_start().starts_with('-') {
        return Err(format!(
            "'{s}' is negative: a threshold is a duration longer than 0, e.g. 30s"
        ));
    }
    match duration(s)? {
        Span::ZERO => Err(format!(
            "'{s}' is zero: every connection would exceed it at once; give a duration longer than 0, e.g. 30s"
        )),
        span => Ok(span),
    }
}

/// What `main` runs.
pub enum Command {
    Analyze(Box<AnalyzeConfig>),
    Live(Box<LiveConfig>),
    /// `wspulse probe URL`.
    Probe(Box<crate::probe::ProbeConfig>),
    /// `wspulse sockets`.
    Sockets(Box<crate::config::SocketsConfig>),
    /// `wspulse completions SHELL`.
    Completions(clap_complete::Shell),
    /// `wspulse man [SUBCOMMAND]`: its name, checked.
    Man(Option<String>),
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
        CliCommand::Analyze(a) => analyze::config(*a),
        CliCommand::Explain(e) => analyze::explain(*e),
        CliCommand::Live(l) => live::config(*l),
        CliCommand::Probe(p) => probe::config(*p),
        CliCommand::Sockets(s) => sockets::config(*s),
        CliCommand::Completions { shell } => Ok(Command::Completions(shell)),
        CliCommand::Man { subcommand } => {
            if let Some(name) = &subcommand {
                if Cli::command().find_subcommand(name).is_none() {
                    return Err(format!(
                        "man {name}: no such subcommand; there are analyze, explain, live, probe"
                    ));
                }
            }
            Ok(Command::Man(subcommand))
        }
    }
}

/// Writes the completion script for `shell` (bash, zsh, fish, elvish,
/// powershell), generated from the clap definitions.
pub fn write_completions(shell: clap_complete::Shell, out: &mut dyn Write) {
    clap_complete::generate(shell, &mut Cli::command(), "wspulse", out);
}

/// Writes the man page (roff) of wspulse, or of one subcommand as
/// `wspulse-NAME(1)`. Errors are the output's.
pub fn write_man(subcommand: Option<&str>, out: &mut dyn Write) -> io::Result<()> {
    let mut cmd = Cli::command();
    cmd.build();
    let page = match subcommand.and_then(|name| cmd.find_subcommand(name)) {
        Some(sub) => {
            // Printed once per process: the name can live as long.
            let name: &'static str = format!("wspulse-{}", sub.get_name()).leak();
            sub.clone().name(name)
        }
        None => cmd,
    };
    clap_mangen::Man::new(page).render(out)
}
