//! `wspulse analyze` and `wspulse explain`: their flags, turned once into a
//! validated `AnalyzeConfig`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{at_time, duration, parse_fail_on, Command, ThresholdArgs};
use crate::capture::file::Input;
use crate::capture::filter::{HostPrefix, Selectors};
use crate::config::{AnalyzeConfig, At, Color, Format, Listing};
use crate::liveness::VerdictSet;
use crate::tcp::Limits;
use crate::time::Span;

/// What `analyze` prints after its options: exit statuses, then examples.
pub(super) const AFTER_HELP: &str = "\
The table lists every connection, worst first; when there are more than a screenful, the \
alive ones are left out and counted in the summary line (--all lists them, --verdict picks). \
It fits the terminal's width (or $COLUMNS): narrow terminals drop the least needed columns, \
which --format json always has.

Exit status:
  0  the report was written and --fail-on (if given) matched nothing
  1  --fail-on matched: a connection has one of the verdicts listed
  2  an error: bad usage, an input that cannot be read or is damaged (the report of what \
came before is still written), an output that cannot be written

Examples:
  wspulse analyze capture.pcap
  wspulse analyze --fail-on suspect,aborted --format ndjson -o report.ndjson capture.pcapng
  wspulse analyze --host 10.0.0.0/8 --port 8080 rotated-00.pcap rotated-01.pcap
  wspulse explain 3 capture.pcap
  tcpdump -i any -w - 'tcp port 8080' | wspulse analyze -";

/// What `explain` prints after its options.
pub(super) const EXPLAIN_AFTER_HELP: &str = "\
ID is the `#` of the table and the `id` of the JSON report, with the same files and the same \
--port/--host/--at: the account says what the JSON says, in time order, for a ticket.

Exit status:
  0  the connection was explained
  2  an error: bad usage, an input that cannot be read, or no connection with that ID

Example:
  wspulse analyze capture.pcap        # the table: connection 3 is false_alive
  wspulse explain 3 capture.pcap      # why, since when, and the frames to open";

/// The inputs and how to judge them: what `analyze` and `explain` share.
#[derive(Args, Debug)]
pub(super) struct CaptureArgs {
    /// Capture files, pcap or pcapng (gzip, zstd or lz4 compressed too), in time order (tcpdump -C/-G rotation); `-` reads stdin.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,

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

    #[command(flatten)]
    secrets: SecretArgs,

    #[command(flatten)]
    thresholds: ThresholdArgs,

    #[command(flatten)]
    limits: LimitArgs,

    /// Threads that follow the connections, split by connection, in all: the one that reads and decodes follows a smaller share itself; the report is the same byte for byte for any number. [default: 1: two cost about a quarter more CPU, and gain only while a second core is free; with --max-flows or --max-ooo-total each thread applies the limit to its own connections] (`live` always uses one.)
    #[arg(long, value_name = "N", help_heading = "Performance")]
    threads: Option<usize>,
}

#[derive(Args, Debug)]
pub(super) struct AnalyzeArgs {
    #[command(flatten)]
    capture: CaptureArgs,

    /// Show the TCP view of every TCP connection: state, bytes, retransmissions, zero window, backlog, RTT.
    #[arg(long)]
    tcp: bool,

    /// Exit 1 when a connection has one of these verdicts: a comma-separated list (false_alive, suspect, aborted, alive, closed), each matched exactly; `suspect` alone means suspect or false_alive. For scripts and CI.
    #[arg(long, value_name = "VERDICT[,VERDICT...]", value_parser = parse_fail_on)]
    fail_on: Option<VerdictSet>,

    /// Tell the story of connection ID (the table's `#`, the JSON `id`) in words and time order instead of the report; the same as `wspulse explain ID FILE...`.
    #[arg(long, value_name = "ID", conflicts_with_all = ["format", "all", "verdict"])]
    explain: Option<u64>,

    /// List every connection in the table, alive ones too, however many there are.
    #[arg(long, conflicts_with = "verdict", help_heading = "Output")]
    all: bool,

    /// List only connections with one of these verdicts (comma-separated, exact), in every format; the summary still counts them all.
    #[arg(long, value_name = "VERDICT[,VERDICT...]", value_parser = parse_verdicts, help_heading = "Output")]
    verdict: Option<VerdictSet>,

    /// Also write the packets of the connections not alive (or those --verdict or --connection pick) to FILE, a pcapng capture Wireshark opens; each packet's comment names its input and frame. Payloads and credential values are zeroed unless --show-secrets. Not with stdin.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    extract: Option<PathBuf>,

    /// For sharing outside the team: addresses become stable prefix-preserving pseudonyms (keyed by --redact-key, else random per run), host, origin, path and SNI are masked, tunnel endpoints left out; in every format (the --tcp view too) and in the --extract capture (addresses rewritten, checksums fixed). Ports stay.
    #[arg(long)]
    redact: bool,

    /// Also write FILE, one self-contained HTML page (inline CSS and SVG; it loads nothing): the summary table, worst first, and for each connection not alive (and each --connection) its reasons and a timeline of frames, Ping → Pong, backlog, window, zero window, retransmissions, FIN/RST/Close, each reason drawn where it began. Reads the inputs twice: not with stdin.
    #[arg(long = "report", value_name = "FILE.html", help_heading = "Output")]
    report: Option<PathBuf>,

    /// With --extract: the connection to extract; with --report: one to draw besides the flagged ones (the table's `#`, the JSON `id`); repeatable.
    #[arg(long = "connection", value_name = "ID", help_heading = "Output")]
    connections: Vec<u64>,

    #[command(flatten)]
    output: OutputArgs,
}

/// `wspulse explain ID FILE...`.
#[derive(Args, Debug)]
pub(super) struct ExplainArgs {
    /// The connection: the table's `#`, the JSON report's `id`.
    #[arg(value_name = "ID")]
    id: u64,

    #[command(flatten)]
    capture: CaptureArgs,

    /// Write the account to FILE instead of stdout (`-` is stdout).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
}

fn parse_verdicts(list: &str) -> Result<VerdictSet, String> {
    VerdictSet::parse_exact(list)
}

/// Which connections: `--port`, `--host`, and the ports that name servers.
#[derive(Args, Debug)]
pub(super) struct SelectArgs {
    /// Only connections with this port on either side (repeatable).
    #[arg(long = "port", value_name = "PORT")]
    ports: Vec<u16>,

    /// Only connections with an address on either side in this prefix: an address (10.0.0.5, ::1) or a CIDR prefix (10.0.0.0/8, fd00::/8); repeatable.
    #[arg(long = "host", value_name = "IP[/BITS]", value_parser = host_prefix)]
    hosts: Vec<HostPrefix>,

    /// The endpoint on this port is a WebSocket server (repeatable); sets roles for connections caught mid-stream.
    #[arg(long = "ws-port", value_name = "PORT")]
    pub(super) ws_ports: Vec<u16>,

    /// The endpoint on this port is a TLS (wss) server (repeatable).
    #[arg(long = "tls-port", value_name = "PORT")]
    pub(super) tls_ports: Vec<u16>,

    /// Decrypt wss with the TLS secrets in this key log (NSS key log format, as SSLKEYLOGFILE, Python's keylog_filename or Node's --tls-keylog write it); read only. Secrets in a pcapng's Decryption Secrets Blocks are used without it.
    #[arg(long = "tls-keylog", value_name = "FILE")]
    pub(super) tls_keylog: Option<PathBuf>,
}

fn host_prefix(s: &str) -> Result<HostPrefix, String> {
    s.parse()
}

impl SelectArgs {
    pub(super) fn selectors(&self) -> Selectors {
        Selectors {
            ports: self.ports.clone(),
            hosts: self.hosts.clone(),
        }
    }
}

#[derive(Args, Debug)]
#[command(next_help_heading = "Secrets")]
pub(super) struct SecretArgs {
    /// Print secrets from the wire as they are: URL query values, user info, subprotocol tokens, extension parameters, Ping/Pong/Close payloads. For local debugging only; said on stderr. By default they are replaced by their length and a keyed fingerprint.
    #[arg(long)]
    pub(super) show_secrets: bool,

    /// Key the fingerprints of redacted values with KEY instead of a random key per run, so two reports can be compared (equal values, equal fingerprints).
    #[arg(long, value_name = "KEY")]
    pub(super) redact_key: Option<String>,
}

#[derive(Args, Debug)]
#[command(next_help_heading = "Output")]
pub(super) struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    format: FormatArg,

    /// Write the report to FILE (atomically: a reader never sees half a report; an existing file keeps its permissions) instead of stdout; `-` is stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,

    /// Colour in tables: auto means only on a terminal and when NO_COLOR is unset; always colours into pipes and files too.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto)]
    color: ColorArg,
}

#[derive(Args, Debug)]
#[command(next_help_heading = "Memory limits")]
pub(super) struct LimitArgs {
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
    pub(super) fn limits(&self) -> Result<Limits, String> {
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
pub(super) enum FormatArg {
    /// A table for people, and a summary line.
    Table,
    /// One JSON document: indented on a terminal; to a file or pipe, each connection on one line.
    Json,
    /// JSON lines, each with a `type`: a header (inputs, evaluation time, thresholds), one line per connection as it ends (or at the end), and a summary.
    Ndjson,
    /// GitHub-flavoured Markdown for a ticket: a summary table, then per flagged connection (not alive; every listed one with --all or --verdict) its reasons as sentences, an evidence table, the thresholds used, and the wspulse and tshark commands that reproduce it.
    Markdown,
}

impl FormatArg {
    pub(super) fn format(self) -> Format {
        match self {
            FormatArg::Table => Format::Table,
            FormatArg::Json => Format::Json,
            FormatArg::Ndjson => Format::Ndjson,
            FormatArg::Markdown => Format::Markdown,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(super) enum ColorArg {
    Auto,
    Always,
    Never,
}

impl ColorArg {
    pub(super) fn color(self) -> Color {
        match self {
            ColorArg::Auto => Color::Auto,
            ColorArg::Always => Color::Always,
            ColorArg::Never => Color::Never,
        }
    }
}

/// `-o -` is stdout, as for tcpdump's `-w -`; any other output must be
/// creatable and must not be one of the inputs.
fn output_path(output: Option<PathBuf>, inputs: &[Input]) -> Result<Option<PathBuf>, String> {
    let Some(out) = output.filter(|o| o.as_os_str() != "-") else {
        return Ok(None);
    };
    refuse_to_overwrite_input(&out, inputs)?;
    if out.is_dir() {
        return Err(format!(
            "-o {}: is a directory; give a file name",
            out.display()
        ));
    }
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty());
    if dir.is_some_and(|d| !d.is_dir()) {
        return Err(format!("-o {}: no such directory", out.display()));
    }
    Ok(Some(out))
}

/// The settings both subcommands share, with everything else at its
/// default (table, no filter on rows).
fn capture_config(c: CaptureArgs, output: Option<PathBuf>) -> Result<AnalyzeConfig, String> {
    let inputs: Vec<Input> = c.files.iter().map(|f| Input::parse(f)).collect();
    if inputs.iter().filter(|i| **i == Input::Stdin).count() > 1 {
        return Err("`-` (stdin) can be given only once".into());
    }
    let limits = c.limits.limits()?;
    let threads = threads(c.threads)?;
    let output = output_path(output, &inputs)?;
    Ok(AnalyzeConfig {
        inputs,
        selectors: c.select.selectors(),
        filter: c.filter,
        ws_ports: c.select.ws_ports,
        tls_ports: c.select.tls_ports,
        tls_keylog: c.select.tls_keylog,
        tcp_view: false,
        format: Format::Table,
        output,
        color: Color::Auto,
        limits,
        thresholds: c.thresholds.thresholds(),
        at: c.at.unwrap_or_default(),
        fail_on: None,
        listing: Listing::default(),
        explain: None,
        show_secrets: c.secrets.show_secrets,
        redact_key: c.secrets.redact_key,
        extract: None,
        html: None,
        redact: false,
        threads,
    })
}

/// `--threads`, else one. Refuses 0. Two threads cost about a quarter
/// more CPU than one (payloads copied to the worker, batches, the merge)
/// and win only while a second core is free: on a shared 2-core machine,
/// paired medians on a 1.1 GB capture of 1,000 connections were 1.13 s
/// against 1.62 s with one (1.4x) at a load of about 3, but slower than
/// one at a load of 4 to 5; on a capture of 50,000 connections, where the
/// reading thread also writes a large report, 4.10 s against 3.43 s in
/// one pairing, 3.53 s against 4.06 s in another.
/// One thread stays the default until two win there too.
fn threads(given: Option<usize>) -> Result<usize, String> {
    match given {
        Some(0) => Err("--threads 0: at least one thread must follow the connections".into()),
        Some(n) => Ok(n),
        None => Ok(1),
    }
}

pub(super) fn config(a: AnalyzeArgs) -> Result<Command, String> {
    if a.tcp {
        // The TCP view judges nothing: a flag about verdicts would be
        // silently ignored, so it is refused with the reason.
        let flag = [
            (a.fail_on.is_some(), "--fail-on"),
            (a.verdict.is_some(), "--verdict"),
            (a.explain.is_some(), "--explain"),
            (
                matches!(a.output.format, FormatArg::Markdown),
                "--format markdown",
            ),
            (a.extract.is_some(), "--extract"),
            (a.report.is_some(), "--report"),
        ]
        .into_iter()
        .find_map(|(given, flag)| given.then_some(flag));
        if let Some(flag) = flag {
            return Err(format!(
                "--tcp and {flag} do not combine: the TCP view gives no verdicts; drop --tcp to judge the connections"
            ));
        }
    }
    let mut config = capture_config(a.capture, a.output.output)?;
    config.tcp_view = a.tcp;
    config.format = a.output.format.format();
    config.color = a.output.color.color();
    config.fail_on = a.fail_on;
    config.explain = a.explain;
    config.redact = a.redact;
    if a.explain.is_some() && a.extract.is_some() {
        return Err("--explain and --extract do not combine: extract with `analyze --extract FILE --connection ID`".into());
    }
    if !a.connections.is_empty() && a.extract.is_none() && a.report.is_none() {
        return Err(
            "--connection picks connections for --extract or --report; give one of them".into(),
        );
    }
    if let Some(path) = &a.report {
        if a.explain.is_some() {
            return Err("--explain and --report do not combine: draw one connection with `analyze --report FILE --connection ID`".into());
        }
        crate::pipeline::series::check(&config.inputs, path)?;
    }
    // Two outputs to one file would write over each other (or one would
    // be lost with no word said): refused before anything is read.
    let outputs = [
        ("-o", config.output.as_deref()),
        ("--report", a.report.as_deref()),
        ("--extract", a.extract.as_deref()),
    ];
    for (i, (flag_a, path_a)) in outputs.iter().enumerate() {
        for (flag_b, path_b) in &outputs[i + 1..] {
            if let (Some(x), Some(y)) = (path_a, path_b) {
                if same_file(x, y) {
                    return Err(format!(
                        "{flag_a} and {flag_b} name the same file ({}): give each its own",
                        x.display()
                    ));
                }
            }
        }
    }
    config.html = a.report.map(|path| crate::config::HtmlConfig {
        path,
        connections: a.connections.clone(),
    });
    config.extract = a.extract.map(|path| crate::config::ExtractConfig {
        path,
        connections: a.connections,
    });
    config.listing = match (a.all, a.verdict) {
        (_, Some(set)) => Listing::Only(set),
        (true, None) => Listing::All,
        (false, None) => Listing::Incidents,
    };
    Ok(Command::Analyze(Box::new(config)))
}

pub(super) fn explain(a: ExplainArgs) -> Result<Command, String> {
    let mut config = capture_config(a.capture, a.output)?;
    config.explain = Some(a.id);
    Ok(Command::Analyze(Box::new(config)))
}

/// Whether two output paths name one file, existing or not: the same
/// name in the same directory (symbolic links in the directory resolved).
fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    let place = |p: &std::path::Path| {
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        (
            dir.canonicalize().unwrap_or(dir),
            p.file_name().map(|n| n.to_os_string()),
        )
    };
    place(a) == place(b)
}

/// `-o` must never clobber a capture the user gave us.
pub(super) fn refuse_to_overwrite_input(
    out: &std::path::Path,
    inputs: &[Input],
) -> Result<(), String> {
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
mod tests;
