//! `wspulse live`: its flags, turned once into a validated `LiveConfig`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::{
    duration, parse_fail_on, ColorArg, Command, FormatArg, LimitArgs, SecretArgs, SelectArgs,
    ThresholdArgs,
};
use crate::capture::file::Input;
use crate::config::{
    DeviceConfig, LiveConfig, LiveSource, WriteConfig, LIVE_SNAPLEN, LIVE_WRITE_FILES,
};
use crate::time::Span;

pub(super) const AFTER_HELP: &str = "\
Output: on a terminal, a view refreshed in place (connections that are not alive first) and, \
when stopped, the final report as `wspulse analyze` prints it. Piped or with --format ndjson, \
one JSON object per line, each with a `type`: a `header`, a `verdict` record each time a \
connection's verdict changes, a `stats` record every --stats-interval, a `connection` record \
when a connection ends and, when stopped, for every connection still open, then a `summary` \
(schema/live.schema.json).

Stopping: --duration, --count, Ctrl-C (SIGINT) or SIGTERM stop the capture; connections are \
judged once more and the final report follows. Exit status: 0, or 1 with --fail-on, or 2 on \
errors.

Privileges: capturing on an interface needs root or the CAP_NET_RAW capability. Either run \
`sudo setcap cap_net_raw,cap_net_admin=eip $(command -v wspulse)` once, or start as root \
with --user NAME to drop to NAME once the interface is open. Or capture with a tool that \
already has the rights and pipe it in.

Examples:
  wspulse live -i eth0 tcp port 8080
  wspulse live -i any --format ndjson -o /var/log/wspulse.ndjson tcp port 443 --tls-port 443
  tcpdump -i eth0 -U -w - 'tcp port 8080' | wspulse live -r -
  ssh host sudo tcpdump -i eth0 -U -w - tcp port 8080 | wspulse live -r -
  wspulse live -i lo --duration 60s --fail-on false_alive tcp port 8080
  wspulse live -i eth0 --sockets tcp port 8080       # plus what the server's sockets hold";

#[derive(Args, Debug)]
pub(super) struct LiveArgs {
    /// Capture on this interface (`any`: all of them; see --list-interfaces). Needs root or CAP_NET_RAW (see below) and the `live` feature.
    #[arg(
        short = 'i',
        long = "interface",
        value_name = "IFACE",
        conflicts_with = "read",
        required_unless_present_any = ["read", "list_interfaces"]
    )]
    interface: Option<String>,

    /// Read a pcap or pcapng capture as it is written instead: `-` is stdin (tcpdump -U -w - ... | wspulse live -r -); a regular file is followed as it grows, like tail -f, until stopped. Needs no privileges and no libpcap.
    #[arg(short = 'r', long = "read", value_name = "FILE")]
    read: Option<String>,

    /// List the interfaces libpcap can capture on, and exit.
    #[arg(long, conflicts_with_all = ["interface", "read"])]
    list_interfaces: bool,

    /// A tcpdump filter expression, its words joined with spaces as tcpdump does (tcp port 8080 and host 10.0.0.1). With -i the kernel applies it; with -r, each packet is matched (needs the `live` feature, which links libpcap).
    #[arg(value_name = "FILTER")]
    filter: Vec<String>,

    /// Kernel capture buffer (e.g. 32M, 256M): what absorbs a burst while wspulse is busy. Past it the kernel drops packets; the drops are counted and reported.
    #[arg(short = 'B', long = "buffer-size", value_name = "SIZE", default_value = "32M", value_parser = size, help_heading = "Capture")]
    buffer_size: u64,

    /// Bytes kept of each packet. Whole packets by default: a cut packet hides the WebSocket frames in it.
    #[arg(short = 's', long = "snaplen", value_name = "BYTES", default_value_t = LIVE_SNAPLEN, help_heading = "Capture")]
    snaplen: u32,

    /// Judge every connection this often (e.g. 1, 250ms, 1.5m), on the capture clock: the time of the packets, which the wall clock carries forward while none arrive, so silence is noticed while it happens.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = duration, help_heading = "Capture")]
    interval: Span,

    /// Write a `stats` record (packets, connections, memory, kernel drops, limits hit) this often, and one when stopped.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration, help_heading = "Capture")]
    stats_interval: Span,

    /// Stop after this long (wall clock), e.g. 60s, 8h.
    #[arg(long, value_name = "DURATION", value_parser = duration, help_heading = "Capture")]
    duration: Option<Span>,

    /// Stop after this many packets (those that pass the filter expression).
    #[arg(short = 'c', long, value_name = "N", help_heading = "Capture")]
    count: Option<u64>,

    /// Output format [default: table on a terminal, ndjson otherwise]. table: a view refreshed in place, then the final report; ndjson: a record per verdict change, stats, and connection (for log shippers); json: the final report as one document, connections written as they end.
    #[arg(long, value_enum, help_heading = "Output")]
    format: Option<FormatArg>,

    /// Append the records to FILE (created if missing, never truncated), each flushed as it is written; the terminal, if any, shows the view meanwhile.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "FILE",
        help_heading = "Output"
    )]
    output: Option<PathBuf>,

    /// Colour in tables: auto means only on a terminal and when NO_COLOR is unset.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto, help_heading = "Output")]
    color: ColorArg,

    /// Exit 1 when a connection had one of these verdicts at any time during the run: a comma-separated list, each matched exactly; `suspect` alone means suspect or false_alive.
    #[arg(long, value_name = "VERDICT[,VERDICT...]", value_parser = parse_fail_on, help_heading = "Output")]
    fail_on: Option<crate::liveness::VerdictSet>,

    /// Serve Prometheus metrics (text exposition) on this address, e.g. 127.0.0.1:9464.
    #[arg(long, value_name = "ADDR", help_heading = "Output")]
    metrics: Option<SocketAddr>,

    /// Also save what was captured to FILE (pcap), rotating by size, so a finding can be re-examined with `wspulse analyze`; frame references then name the written file and frame.
    #[arg(long, value_name = "FILE", help_heading = "Keeping evidence")]
    write: Option<PathBuf>,

    /// Start the next file of --write past this size (e.g. 100M, 1G).
    #[arg(long, value_name = "SIZE", default_value = "100M", value_parser = size, requires = "write", help_heading = "Keeping evidence")]
    write_max_size: u64,

    /// For sharing outside the team: addresses become stable prefix-preserving pseudonyms (keyed by --redact-key, else random per run), host, origin, path and SNI are masked; in every record, the view and the --extract files (addresses rewritten, checksums fixed). Ports stay.
    #[arg(long, help_heading = "Output")]
    redact: bool,

    /// Save the packets of each connection whose verdict leaves alive to FILE (pcapng, scrubbed as analyze --extract scrubs unless --show-secrets): its latest packets from before (up to 256 each) and all after, until it ends; --write saves everything.
    #[arg(long, value_name = "FILE", help_heading = "Keeping evidence")]
    extract: Option<PathBuf>,

    /// Files of --write kept, as a ring: past N, the oldest file's name is reused for the next (tcpdump -W).
    #[arg(long, value_name = "N", default_value_t = LIVE_WRITE_FILES, requires = "write", help_heading = "Keeping evidence")]
    write_files: u32,

    /// Once the interface is open, drop root privileges to this user (as tcpdump -Z does).
    #[arg(long, value_name = "NAME", help_heading = "Capture")]
    user: Option<String>,

    /// Also read this host's TCP sockets through sock_diag every --interval (as `ss -tin` does; no extra privilege) and give each captured connection whose end is a socket here its readings: bytes written but not sent, unacknowledged bytes, retransmissions, the peer's window. The socket's side follows from its 4-tuple.
    #[arg(long, help_heading = "Sockets")]
    sockets: bool,

    /// With --sockets: read the sockets of network namespace NAME (`ip netns list`) instead of this one; needs root.
    #[arg(
        long,
        value_name = "NAME",
        requires = "sockets",
        help_heading = "Sockets"
    )]
    netns: Option<String>,

    #[command(flatten)]
    select: SelectArgs,

    #[command(flatten)]
    secrets: SecretArgs,

    #[command(flatten)]
    thresholds: ThresholdArgs,

    #[command(flatten)]
    limits: LimitArgs,
}

/// `32M`, `256MiB`, `1G`, `65536`: bytes, with an optional binary suffix
/// (K, M, G; `iB` or `B` after it allowed).
pub(super) fn size(s: &str) -> Result<u64, String> {
    let bad = || format!("'{s}' is not a size: use e.g. 65536, 512K, 32M, 1G");
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (digits, shift) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 10),
        Some((i, 'm' | 'M')) => (&t[..i], 20),
        Some((i, 'g' | 'G')) => (&t[..i], 30),
        _ => (t, 0),
    };
    let n: u64 = digits.trim().parse().map_err(|_| bad())?;
    n.checked_mul(1 << shift).ok_or_else(bad)
}

pub(super) fn config(l: LiveArgs) -> Result<Command, String> {
    if l.list_interfaces {
        return Ok(Command::ListInterfaces);
    }
    let source = match (&l.interface, &l.read) {
        (Some(name), _) => LiveSource::Interface(DeviceConfig {
            name: name.clone(),
            buffer_size: u32::try_from(l.buffer_size)
                .ok()
                .filter(|&b| b >= 1 << 16 && b <= i32::MAX as u32)
                .ok_or("-B: give a buffer between 64K and 2G")?,
            snaplen: match l.snaplen {
                64..=LIVE_SNAPLEN => l.snaplen,
                _ => return Err(format!("-s {}: give 64 to {LIVE_SNAPLEN} bytes", l.snaplen)),
            },
        }),
        (None, Some(path)) => LiveSource::Stream(Input::parse(path)),
        (None, None) => return Err("give -i IFACE, -r FILE or --list-interfaces".into()),
    };
    if l.interval == Span::ZERO || l.stats_interval == Span::ZERO {
        return Err("--interval and --stats-interval must be longer than 0, e.g. 1s".into());
    }
    if l.count == Some(0) {
        return Err("--count 0: give at least one packet".into());
    }
    if l.redact && l.write.is_some() {
        return Err("--write and --redact do not combine: --write saves packets as captured; --extract saves them redacted".into());
    }
    // `-o -` is stdout, as for tcpdump's `-w -`.
    let output = l.output.filter(|o| o.as_os_str() != "-");
    let write = match l.write {
        Some(path) => {
            if l.write_files == 0 || l.write_max_size < 1 << 20 {
                return Err(
                    "--write-files must be at least 1 and --write-max-size at least 1M".into(),
                );
            }
            Some(WriteConfig {
                path,
                max_size: l.write_max_size,
                files: l.write_files,
            })
        }
        None => None,
    };
    if let (LiveSource::Stream(Input::Path(input)), Some(out)) = (&source, &output) {
        super::analyze::refuse_to_overwrite_input(out, &[Input::Path(input.clone())])?;
    }
    Ok(Command::Live(Box::new(LiveConfig {
        source,
        filter: (!l.filter.is_empty()).then(|| l.filter.join(" ")),
        selectors: l.select.selectors(),
        ws_ports: l.select.ws_ports,
        tls_ports: l.select.tls_ports,
        tls_keylog: l.select.tls_keylog,
        format: l.format.map(FormatArg::format),
        output,
        color: l.color.color(),
        limits: l.limits.limits()?,
        thresholds: l.thresholds.thresholds(),
        interval: l.interval,
        stats_interval: l.stats_interval,
        duration: l.duration,
        count: l.count,
        fail_on: l.fail_on,
        show_secrets: l.secrets.show_secrets,
        redact_key: l.secrets.redact_key,
        metrics: l.metrics,
        write,
        extract: l.extract,
        redact: l.redact,
        user: l.user,
        sockets: l.sockets,
        netns: l.netns,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{
        Format, LIVE_BUFFER_SIZE, LIVE_INTERVAL, LIVE_STATS_INTERVAL, LIVE_WRITE_MAX_SIZE,
    };
    use clap::Parser;

    fn live(args: &[&str]) -> Result<LiveConfig, String> {
        let argv = ["wspulse", "live"].iter().chain(args);
        let cli = super::super::Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        match super::super::from_cli(cli)? {
            Command::Live(config) => Ok(*config),
            _ => Err("not a live config".into()),
        }
    }

    #[test]
    fn filter_words_are_joined_as_tcpdump_joins_them() {
        let c = live(&[
            "-i", "eth0", "tcp", "port", "8080", "and", "host", "10.0.0.1",
        ])
        .unwrap();
        assert_eq!(c.filter.as_deref(), Some("tcp port 8080 and host 10.0.0.1"));
        let LiveSource::Interface(d) = &c.source else {
            panic!("{:?}", c.source)
        };
        assert_eq!(d.name, "eth0");
        assert_eq!((d.buffer_size, d.snaplen), (LIVE_BUFFER_SIZE, LIVE_SNAPLEN));
        assert_eq!(
            (c.interval, c.stats_interval),
            (LIVE_INTERVAL, LIVE_STATS_INTERVAL)
        );
        assert_eq!(c.format, None);
        assert!(live(&["-i", "eth0"]).unwrap().filter.is_none());
    }

    #[test]
    fn intervals_take_the_duration_syntax_of_at() {
        for (arg, ms) in [("1", 1000), ("250ms", 250), ("1.5m", 90_000)] {
            let c = live(&["-r", "-", "--interval", arg]).unwrap();
            assert_eq!(c.interval, Span::from_millis(ms), "{arg}");
        }
        assert!(live(&["-r", "-", "--interval", "0"]).is_err());
        assert!(live(&["-r", "-", "--interval", "soon"]).is_err());
    }

    #[test]
    fn a_source_is_required_and_only_one() {
        assert!(live(&[]).unwrap_err().contains("--interface"));
        assert!(live(&["-i", "lo", "-r", "-"]).is_err());
        assert!(matches!(
            live(&["-r", "-"]).unwrap().source,
            LiveSource::Stream(Input::Stdin)
        ));
        let argv = ["wspulse", "live", "--list-interfaces"];
        let cli = super::super::Cli::try_parse_from(argv).unwrap();
        assert!(matches!(
            super::super::from_cli(cli),
            Ok(Command::ListInterfaces)
        ));
    }

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(size("65536"), Ok(65536));
        assert_eq!(size("512K"), Ok(512 << 10));
        assert_eq!(size("32M"), Ok(32 << 20));
        assert_eq!(size("256MiB"), Ok(256 << 20));
        assert_eq!(size("1G"), Ok(1 << 30));
        assert!(size("lots").unwrap_err().contains("32M"));
        assert!(size("99999999999G").is_err());
        let c = live(&["-i", "any", "-B", "256M", "-s", "1500"]).unwrap();
        let LiveSource::Interface(d) = c.source else {
            panic!()
        };
        assert_eq!((d.buffer_size, d.snaplen), (256 << 20, 1500));
        assert!(live(&["-i", "any", "-B", "4G"]).is_err());
        assert!(live(&["-i", "any", "-s", "10"]).is_err());
    }

    #[test]
    fn output_options_are_validated() {
        let c = live(&["-r", "-", "--format", "ndjson", "-o", "-"]).unwrap();
        assert_eq!((c.format, c.output), (Some(Format::Ndjson), None));
        let c = live(&[
            "-r",
            "-",
            "--write",
            "/tmp/wl-x.pcap",
            "--write-max-size",
            "10M",
        ])
        .unwrap();
        let w = c.write.unwrap();
        assert_eq!((w.max_size, w.files), (10 << 20, LIVE_WRITE_FILES));
        let c = live(&["-r", "-", "--write", "/tmp/wl-x.pcap"]).unwrap();
        assert_eq!(c.write.unwrap().max_size, LIVE_WRITE_MAX_SIZE);
        assert!(live(&["-r", "-", "--write", "x.pcap", "--write-files", "0"]).is_err());
        // Rotation without a file to rotate is a mistake, said at once.
        assert!(live(&["-r", "-", "--write-files", "3"]).is_err());
        assert!(live(&["-r", "-", "--write-max-size", "1G"]).is_err());
        assert!(live(&["-r", "-", "--count", "0"]).is_err());
    }
}
