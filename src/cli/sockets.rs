//! `wspulse sockets`: its flags, turned once into a validated
//! `SocketsConfig`.

use clap::Args;

use super::{duration, parse_fail_on, Command, ThresholdArgs};
use crate::config::{Format, SocketsConfig};
use crate::time::Span;

pub(super) const AFTER_HELP: &str = "\
What it reads: every TCP socket of this host (or of --netns NAME) through netlink sock_diag, \
as `ss -tin` does: bytes the application wrote that the kernel has not sent, bytes sent and \
not acknowledged, retransmissions and backoff, RTT, the peer's window. Behind a black hole \
Linux retransmits only the head segment and everything written later waits in the send \
buffer; behind a zero window nothing leaves: the wire never shows those bytes, the socket \
does.

Privileges: none. Any local user may read the host's socket table; no capture, no libpcap. \
Only --netns needs root (to enter the namespace).

What it judges: from the readings alone, peer_unreachable (a backlog the peer does not \
acknowledge, with retransmissions), zero_window_stall and slow_reader, with the side at \
fault. The checks that need packets (ping_unanswered, read_gap_exceeded, half_closed, \
close_handshake_incomplete, app_stall_control_only, no_heartbeat, capture_loss) are not \
made: run `wspulse live -i IFACE --sockets` for both. A socket on this host is one end of a \
connection: the end on a --port port (or a listening port) is the server.

Output: on a terminal, a line per verdict change, then a table of the connections when \
stopped. --format ndjson: a `header`, a `verdict` record per change, then a `connection` \
record per connection and a `summary`; --format json: one document when stopped \
(schema wspulse.sockets/1).

Stopping: --duration, --count (readings of the socket table), Ctrl-C (SIGINT) or SIGTERM. \
Exit status: 0, or 1 with --fail-on, or 2 on errors.

Examples:
  wspulse sockets --port 8080
  wspulse sockets --port 8080 --duration 30s --format json
  sudo wspulse sockets --netns web1 --port 443 --fail-on false_alive --count 10";

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum SocketsFormat {
    /// Verdict changes as lines, then a table.
    Table,
    /// One JSON document when stopped.
    Json,
    /// One JSON object per line: header, verdict changes, connections, summary.
    Ndjson,
}

#[derive(Args, Debug)]
pub(super) struct SocketsArgs {
    /// Only connections with this port on either end (repeatable); the end on it is the server. Every TCP connection when none is given.
    #[arg(long = "port", value_name = "PORT")]
    ports: Vec<u16>,

    /// Read the sockets of the network namespace NAME (as `ip netns list` names it) instead of this one; needs root.
    #[arg(long, value_name = "NAME")]
    netns: Option<String>,

    /// Read and judge the sockets this often (e.g. 1s, 250ms).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = duration)]
    interval: Span,

    /// Stop after this long (wall clock), e.g. 60s.
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    duration: Option<Span>,

    /// Stop after this many readings of the socket table.
    #[arg(short = 'c', long, value_name = "N")]
    count: Option<u64>,

    /// Output format [default: table on a terminal, ndjson otherwise].
    #[arg(long, value_enum)]
    format: Option<SocketsFormat>,

    /// Exit 1 when a connection had one of these verdicts at any time during the run: a comma-separated list; `suspect` alone means suspect or false_alive.
    #[arg(long, value_name = "VERDICT[,VERDICT...]", value_parser = parse_fail_on)]
    fail_on: Option<crate::liveness::VerdictSet>,

    #[command(flatten)]
    thresholds: ThresholdArgs,
}

pub(super) fn config(a: SocketsArgs) -> Result<Command, String> {
    if a.interval == Span::ZERO {
        return Err("--interval must be longer than 0, e.g. 1s".into());
    }
    if a.count == Some(0) {
        return Err("--count 0: give at least one reading".into());
    }
    if a.ports.contains(&0) {
        return Err("--port 0: give a TCP port from 1 to 65535".into());
    }
    Ok(Command::Sockets(Box::new(SocketsConfig {
        ports: a.ports,
        netns: a.netns,
        interval: a.interval,
        duration: a.duration,
        count: a.count,
        format: a.format.map(|f| match f {
            SocketsFormat::Table => Format::Table,
            SocketsFormat::Json => Format::Json,
            SocketsFormat::Ndjson => Format::Ndjson,
        }),
        thresholds: a.thresholds.thresholds(),
        fail_on: a.fail_on,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn sockets(args: &[&str]) -> Result<SocketsConfig, String> {
        let argv = ["wspulse", "sockets"].iter().chain(args);
        let cli = super::super::Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        match super::super::from_cli(cli)? {
            Command::Sockets(config) => Ok(*config),
            _ => Err("not a sockets config".into()),
        }
    }

    #[test]
    fn ports_repeat_and_bad_values_are_refused_with_the_flag_named() {
        let c = sockets(&["--port", "8080", "--port", "443", "--count", "3"]).unwrap();
        assert_eq!((c.ports, c.count), (vec![8080, 443], Some(3)));
        assert_eq!(c.interval, Span::from_secs(1));
        assert!(sockets(&["--count", "0"]).unwrap_err().contains("--count"));
        assert!(sockets(&["--interval", "0"])
            .unwrap_err()
            .contains("--interval"));
        assert!(sockets(&["--port", "0"]).unwrap_err().contains("--port"));
        assert!(sockets(&["--port", "99999"]).is_err());
    }
}
