//! Validated settings, built once from the command line. Nothing past this
//! point sees clap types.

use std::fmt;
use std::path::PathBuf;

use crate::capture::file::Input;
use crate::capture::filter::Selectors;
pub use crate::capture::CaptureSpan;
use crate::liveness::{Thresholds, VerdictSet};
use crate::tcp::Limits;
use crate::time::{Span, Timestamp};

/// `--at`: the evaluation time, "now" for the evidence (the spec's
/// "Verdicts and reasons"). The words need the whole capture, so the
/// pipeline resolves it with [`At::resolve`] once the input is read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum At {
    /// `end`, the default: when the capture stopped, as the file records it
    /// (pcapng `isb_endtime`), else the last packet.
    #[default]
    End,
    /// `last-packet`: the time of the last packet on the capture clock.
    LastPacket,
    /// `now`: the wall clock, allowed offline (the report says how old the
    /// capture is). Never refused.
    Now,
    /// An RFC 3339 instant.
    Instant(Timestamp),
    /// Seconds after the first packet.
    AfterFirstPacket(Span),
}

/// An `--at` instant that falls outside the capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AtError {
    pub at: At,
    /// The instant it names, or `None` when that is past what a
    /// `Timestamp` holds (a huge offset from the first packet).
    pub instant: Option<Timestamp>,
    pub span: CaptureSpan,
}

impl At {
    /// The evaluation time this names, on the capture clock. `wall_now` is
    /// used by `now` only. An instant before the first packet or after the
    /// capture's end (`span.end()`) is refused, naming the span; `end`,
    /// `last-packet` and `now` never are.
    pub fn resolve(self, span: &CaptureSpan, wall_now: Timestamp) -> Result<Timestamp, AtError> {
        let instant = match self {
            At::End => return Ok(span.end()),
            At::LastPacket => return Ok(span.last_packet),
            At::Now => return Ok(wall_now),
            At::Instant(t) => Some(t),
            At::AfterFirstPacket(after) => span.first_packet.checked_add(after),
        };
        match instant {
            Some(t) if (span.first_packet..=span.end()).contains(&t) => Ok(t),
            _ => Err(AtError {
                at: self,
                instant,
                span: *span,
            }),
        }
    }

    /// The instant as soon as the first packet is known: an RFC 3339 time,
    /// or an offset from that packet. `None` for the words, which need the
    /// end of the input. Not checked against the capture: that is
    /// [`At::resolve`]'s job.
    pub fn known_from_first_packet(self, first_packet: Timestamp) -> Option<Timestamp> {
        match self {
            At::Instant(t) => Some(t),
            At::AfterFirstPacket(after) => Some(first_packet + after),
            At::End | At::LastPacket | At::Now => None,
        }
    }
}

/// As the user would write it: `end`, `last-packet`, `now`, an RFC 3339
/// time, or `90s` (seconds after the first packet).
impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::End => f.write_str("end"),
            At::LastPacket => f.write_str("last-packet"),
            At::Now => f.write_str("now"),
            At::Instant(t) => write!(f, "{t}"),
            At::AfterFirstPacket(after) => write!(f, "{}s", after.secs_f64()),
        }
    }
}

impl fmt::Display for AtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "--at {}", self.at)?;
        match (self.at, self.instant) {
            (At::AfterFirstPacket(_), Some(t)) => write!(f, " after the first packet ({t})")?,
            (At::AfterFirstPacket(_), None) => f.write_str(" after the first packet")?,
            _ => {}
        }
        write!(
            f,
            " is outside the capture ({} to {})",
            self.span.first_packet,
            self.span.end()
        )
    }
}

impl std::error::Error for AtError {}

/// Output formats, one printer each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Ndjson,
    /// GitHub-flavoured Markdown for a ticket (`analyze` only).
    Markdown,
}

/// Which connections a findings report lists; its summary counts them all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Listing {
    /// Every connection; but a table longer than a screenful leaves out
    /// the `alive` ones and counts them in its summary line.
    #[default]
    Incidents,
    /// `--all`: every connection, in every format.
    All,
    /// `--verdict`: only these verdicts, in every format.
    Only(VerdictSet),
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
    /// `--tls-keylog`: a key log to decrypt wss with.
    pub tls_keylog: Option<PathBuf>,
    /// `--tcp`: the TCP view of every connection.
    pub tcp_view: bool,
    pub format: Format,
    pub output: Option<PathBuf>,
    pub color: Color,
    pub limits: Limits,
    pub thresholds: Thresholds,
    /// `--at`, the evaluation time ([`At::End`] unless given).
    pub at: At,
    /// `--fail-on`: exit 1 when a connection has one of these verdicts.
    pub fail_on: Option<VerdictSet>,
    /// `--all`, `--verdict`: which connections the report lists.
    pub listing: Listing,
    /// `explain ID` (or `--explain ID`): the account of that connection
    /// instead of the report.
    pub explain: Option<u64>,
    /// `--show-secrets`: print values from the wire as they are.
    pub show_secrets: bool,
    /// `--redact-key`: key fingerprints with this instead of a random key.
    pub redact_key: Option<String>,
    /// `--redact`: pseudonyms for addresses; host, SNI and path masked;
    /// in the report and in `--extract`.
    pub redact: bool,
    /// `--extract FILE`: also write the chosen connections' packets there.
    pub extract: Option<ExtractConfig>,
    /// `--report FILE.html`: also write the HTML report there.
    pub html: Option<HtmlConfig>,
    /// `--threads`: how many threads run the connections in all, the
    /// reading thread among them (1: it alone); the report is the same
    /// whatever the number.
    pub threads: usize,
}

/// `--report FILE.html` and `--connection ID`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HtmlConfig {
    /// The page to write (atomically, as `-o` writes; never an input).
    pub path: PathBuf,
    /// `--connection ID` (repeatable): drawn with a timeline besides
    /// every flagged connection.
    pub connections: Vec<u64>,
}

/// `--extract FILE` and `--connection ID`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtractConfig {
    /// The capture to write (pcapng, never overwritten).
    pub path: PathBuf,
    /// `--connection ID` (repeatable): these connections; when empty,
    /// those `--verdict` lists, else every one not `alive`.
    pub connections: Vec<u64>,
}

/// Ports whose endpoint is the server, for the role rules: every
/// `--ws-port` and `--tls-port`.
fn server_ports(ws_ports: &[u16], tls_ports: &[u16]) -> Vec<u16> {
    ws_ports.iter().chain(tls_ports).copied().collect()
}

impl AnalyzeConfig {
    /// Ports whose endpoint is the server, for the role rules.
    pub fn server_ports(&self) -> Vec<u16> {
        server_ports(&self.ws_ports, &self.tls_ports)
    }
}

/// Where the live tap's packets come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LiveSource {
    /// `-i IFACE`: libpcap in immediate mode (the `live` feature).
    Interface(DeviceConfig),
    /// `-r FILE|-`: a pcap or pcapng stream still being written; `-` is
    /// stdin, a regular file is followed as it grows (like `tail -f`).
    Stream(Input),
}

/// How an interface is opened (`-i`, `-B`, `-s`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceConfig {
    /// Interface name; `any` captures on all of them (LINUX_SLL2 keeps
    /// which one each packet came from).
    pub name: String,
    /// Kernel buffer, bytes (`-B`): what absorbs a burst while wspulse is
    /// busy; past it, the kernel drops and libpcap counts the drops.
    pub buffer_size: u32,
    /// Bytes kept of each packet (`-s`); full packets by default, since a
    /// cut packet hides WebSocket frames.
    pub snaplen: u32,
}

/// `--write FILE`: what was captured is also saved, rotating by size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteConfig {
    pub path: PathBuf,
    /// A file is closed and the next begun past this many bytes.
    pub max_size: u64,
    /// Files kept; the oldest goes when a new one would exceed it.
    pub files: u32,
}

/// `-B`: the kernel buffer, bytes (tcpdump's default is 2 MiB; a tap that
/// judges as it goes wants room for bursts).
pub const LIVE_BUFFER_SIZE: u32 = 32 << 20;
/// `-s`: whole packets, as tcpdump takes them (libpcap's maximum).
pub const LIVE_SNAPLEN: u32 = 262_144;
/// `--interval`: every connection judged each second of capture time.
pub const LIVE_INTERVAL: Span = Span::from_secs(1);
/// `--stats-interval`.
pub const LIVE_STATS_INTERVAL: Span = Span::from_secs(10);
/// `--write-max-size`, bytes.
pub const LIVE_WRITE_MAX_SIZE: u64 = 100 << 20;
/// `--write-files`.
pub const LIVE_WRITE_FILES: u32 = 10;

/// `wspulse live`.
#[derive(Clone, Debug)]
pub struct LiveConfig {
    /// `-i IFACE` or `-r FILE|-`.
    pub source: LiveSource,
    /// The tcpdump filter expression: compiled into the kernel for `-i`,
    /// applied to each packet for `-r`.
    pub filter: Option<String>,
    /// `--port`, `--host`.
    pub selectors: Selectors,
    /// `--ws-port`, `--tls-port`, `--tls-keylog`: as for analyze.
    pub ws_ports: Vec<u16>,
    pub tls_ports: Vec<u16>,
    pub tls_keylog: Option<PathBuf>,
    /// `None`: a view on a terminal, NDJSON otherwise.
    pub format: Option<Format>,
    /// `-o FILE`, appended to.
    pub output: Option<PathBuf>,
    pub color: Color,
    /// Memory limits and the flow timeout, as for analyze.
    pub limits: Limits,
    pub thresholds: Thresholds,
    /// How often every connection is judged, on the capture clock.
    pub interval: Span,
    /// How often a `stats` record is written, on the capture clock.
    pub stats_interval: Span,
    /// Stop after this long (wall clock).
    pub duration: Option<Span>,
    /// Stop after this many packets (past the filter expression).
    pub count: Option<u64>,
    /// `--fail-on`: exit 1 when a connection had one of these verdicts at
    /// any time during the run.
    pub fail_on: Option<VerdictSet>,
    /// `--show-secrets`, `--redact-key`: as for analyze.
    pub show_secrets: bool,
    pub redact_key: Option<String>,
    /// `--metrics ADDR`: Prometheus text exposition served there.
    pub metrics: Option<std::net::SocketAddr>,
    /// `--write FILE` and its rotation.
    pub write: Option<WriteConfig>,
    /// `--extract FILE`: the packets of connections that leave `alive`.
    pub extract: Option<PathBuf>,
    /// `--redact`: as for analyze.
    pub redact: bool,
    /// `--user NAME`: privileges dropped to this user once the device is open.
    pub user: Option<String>,
    /// `--sockets`: also read this host's TCP sockets through sock_diag
    /// each `interval` and feed the captured connections' judges.
    pub sockets: bool,
    /// `--netns NAME`: read the sockets of that network namespace.
    pub netns: Option<String>,
}

/// `wspulse sockets`: the host's TCP sockets, judged from their readings.
#[derive(Clone, Debug)]
pub struct SocketsConfig {
    /// `--port`: the server ports followed (every TCP connection when empty).
    pub ports: Vec<u16>,
    /// `--netns NAME`: the network namespace whose sockets are read.
    pub netns: Option<String>,
    /// How often the sockets are read and judged.
    pub interval: Span,
    /// Stop after this long (wall clock), or after this many readings of
    /// the host's table; else at SIGINT or SIGTERM.
    pub duration: Option<Span>,
    pub count: Option<u64>,
    /// `None`: a table on a terminal, NDJSON otherwise.
    pub format: Option<Format>,
    pub thresholds: Thresholds,
    /// `--fail-on`: exit 1 when a connection had one of these verdicts.
    pub fail_on: Option<VerdictSet>,
}

impl LiveConfig {
    /// Ports whose endpoint is the server, for the role rules.
    pub fn server_ports(&self) -> Vec<u16> {
        server_ports(&self.ws_ports, &self.tls_ports)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_rfc3339;

    fn t(s: &str) -> Timestamp {
        parse_rfc3339(s).unwrap()
    }

    fn span(recorded_end: Option<&str>) -> CaptureSpan {
        CaptureSpan {
            first_packet: t("2026-11-24T16:16:49Z"),
            last_packet: t("2026-11-24T16:17:05.296013Z"),
            recorded_end: recorded_end.map(t),
        }
    }

    const WALL: &str = "2027-03-01T12:00:00Z";

    #[test]
    fn end_is_the_default_and_prefers_the_recorded_end() {
        assert_eq!(At::default(), At::End);
        assert_eq!(
            At::End.resolve(&span(None), t(WALL)),
            Ok(t("2026-11-24T16:17:05.296013Z"))
        );
        assert_eq!(
            At::End.resolve(&span(Some("2026-11-24T16:17:15.9Z")), t(WALL)),
            Ok(t("2026-11-24T16:17:15.9Z"))
        );
        // A recorded end before the last packet is not when capturing stopped.
        assert_eq!(
            At::End.resolve(&span(Some("2026-11-24T16:17:00Z")), t(WALL)),
            Ok(t("2026-11-24T16:17:05.296013Z"))
        );
    }

    #[test]
    fn last_packet_ignores_the_recorded_end() {
        assert_eq!(
            At::LastPacket.resolve(&span(Some("2026-11-24T16:17:15.9Z")), t(WALL)),
            Ok(t("2026-11-24T16:17:05.296013Z"))
        );
    }

    #[test]
    fn now_is_the_wall_clock_and_never_refused() {
        assert_eq!(At::Now.resolve(&span(None), t(WALL)), Ok(t(WALL)));
        // Even before the capture (a capture from a machine whose clock is ahead).
        let early = t("2020-01-01T00:00:00Z");
        assert_eq!(At::Now.resolve(&span(None), early), Ok(early));
    }

    #[test]
    fn an_instant_inside_the_capture_is_taken_as_given() {
        let s = span(Some("2026-11-24T16:17:15.9Z"));
        for inside in [
            "2026-11-24T16:16:49Z",
            "2026-11-24T16:17:00Z",
            "2026-11-24T16:17:05.296013Z",
            // Between the last packet and the recorded end.
            "2026-11-24T16:17:10Z",
            "2026-11-24T16:17:15.9Z",
        ] {
            assert_eq!(At::Instant(t(inside)).resolve(&s, t(WALL)), Ok(t(inside)));
        }
    }

    #[test]
    fn an_instant_outside_the_capture_is_refused_naming_the_span() {
        let err = At::Instant(t("2030-01-01T00:00:00Z"))
            .resolve(&span(None), t(WALL))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "--at 2030-01-01T00:00:00.000000Z is outside the capture \
             (2026-11-24T16:16:49.000000Z to 2026-11-24T16:17:05.296013Z)"
        );
        let before = At::Instant(t("2026-11-24T16:16:48.999999Z"));
        assert!(before.resolve(&span(None), t(WALL)).is_err());
        // Past the last packet but inside the recorded end: fine; past both: not.
        let after = At::Instant(t("2026-11-24T16:17:06Z"));
        assert!(after.resolve(&span(None), t(WALL)).is_err());
        assert!(after
            .resolve(&span(Some("2026-11-24T16:17:15.9Z")), t(WALL))
            .is_ok());
        let err = At::Instant(t("2026-11-24T16:17:16Z"))
            .resolve(&span(Some("2026-11-24T16:17:15.9Z")), t(WALL))
            .unwrap_err();
        assert!(
            err.to_string()
                .ends_with("(2026-11-24T16:16:49.000000Z to 2026-11-24T16:17:15.900000Z)"),
            "{err}"
        );
    }

    #[test]
    fn seconds_after_the_first_packet() {
        let s = span(None);
        assert_eq!(
            At::AfterFirstPacket(Span::from_secs(0)).resolve(&s, t(WALL)),
            Ok(s.first_packet)
        );
        assert_eq!(
            At::AfterFirstPacket(Span::from_millis(1500)).resolve(&s, t(WALL)),
            Ok(t("2026-11-24T16:16:50.5Z"))
        );
        let err = At::AfterFirstPacket(Span::from_secs(90))
            .resolve(&s, t(WALL))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "--at 90s after the first packet (2026-11-24T16:18:19.000000Z) is outside the \
             capture (2026-11-24T16:16:49.000000Z to 2026-11-24T16:17:05.296013Z)"
        );
        // An offset past what a Timestamp holds is refused, not saturated into range.
        let huge = At::AfterFirstPacket(Span::from_nanos(i64::MAX));
        let err = huge.resolve(&s, t(WALL)).unwrap_err();
        assert_eq!(err.instant, None);
        assert!(
            err.to_string()
                .contains("after the first packet is outside"),
            "{err}"
        );
    }

    #[test]
    fn known_from_the_first_packet_only_for_instants_and_offsets() {
        let first = t("2026-11-24T16:16:49Z");
        assert_eq!(At::End.known_from_first_packet(first), None);
        assert_eq!(At::LastPacket.known_from_first_packet(first), None);
        assert_eq!(At::Now.known_from_first_packet(first), None);
        assert_eq!(
            At::AfterFirstPacket(Span::from_secs(2)).known_from_first_packet(first),
            Some(t("2026-11-24T16:16:51Z"))
        );
        assert_eq!(
            At::Instant(t(WALL)).known_from_first_packet(first),
            Some(t(WALL))
        );
    }

    #[test]
    fn displays_as_the_user_writes_it() {
        assert_eq!(At::End.to_string(), "end");
        assert_eq!(At::LastPacket.to_string(), "last-packet");
        assert_eq!(At::Now.to_string(), "now");
        assert_eq!(
            At::AfterFirstPacket(Span::from_millis(1500)).to_string(),
            "1.5s"
        );
        assert_eq!(
            At::Instant(t("2026-11-24T16:00:00Z")).to_string(),
            "2026-11-24T16:00:00.000000Z"
        );
    }
}
