//! `wspulse sockets`: reads the host's TCP sockets every interval, judges
//! each connection from the readings, writes verdict changes as they
//! happen and the result when stopped, through the report layer (the
//! sockets source feeds the judge and prints nothing).

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{Format, SocketsConfig};
use crate::liveness::Settings;
use crate::report::redact::Redactor;
use crate::report::sockets::{ndjson_header, verdict_line, verdict_record, Run, SocketsJson};
use crate::sink::Sink;
use crate::sockets::Board;
use crate::time::{wall_clock, Span, Timestamp};
use crate::{secret, EXIT_ERROR, EXIT_FAILED};

/// Set by SIGINT or SIGTERM: the loop notices within [`MAX_WAIT`].
static STOP: AtomicBool = AtomicBool::new(false);

/// The longest the loop sleeps between looks at the stop flag.
const MAX_WAIT: Duration = Duration::from_millis(100);

/// Runs `wspulse sockets`. Exit status: 0; 1 when `--fail-on` matched;
/// 2 on errors (said on stderr in one line).
pub fn run(config: &SocketsConfig) -> ExitCode {
    match read_and_print(config) {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            eprintln!("wspulse: {message}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// The first SIGINT or SIGTERM stops the run (the result follows); a
/// second one quits at once with status 130.
fn stop_on_signals() {
    let installed = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    if let Err(e) = installed {
        eprintln!("wspulse: warning: Ctrl-C will not stop the run cleanly: {e}");
    }
}

fn span_duration(s: Span) -> Duration {
    Duration::from_nanos(u64::try_from(s.nanos()).unwrap_or(0))
}

#[cfg(target_os = "linux")]
fn open(netns: Option<&str>) -> Result<crate::sockets::diag::Diag, String> {
    crate::sockets::diag::Diag::open(netns)
}

#[cfg(not(target_os = "linux"))]
fn open(_netns: Option<&str>) -> Result<std::convert::Infallible, String> {
    Err("reading the host's sockets needs Linux (netlink sock_diag)".into())
}

fn read_and_print(config: &SocketsConfig) -> Result<u8, String> {
    let key = secret::Key::random()?;
    let redact = Redactor::new(key.clone(), false);
    let settings = Arc::new(Settings {
        thresholds: config.thresholds,
        key,
    });
    #[allow(unused_mut, clippy::let_unit_value)]
    let mut diag = open(config.netns.as_deref())?;
    stop_on_signals();
    let format = config.format.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Ndjson
    });
    let ndjson = format == Format::Ndjson;
    let run = Run {
        netns: config.netns.as_deref(),
        ports: &config.ports,
        interval: config.interval,
        thresholds: config.thresholds,
    };
    let mut sink = Sink::open(None, false)?;
    // One clock for the judges: the wall clock at the start carried
    // forward by a monotonic one, so a step of the system clock cannot
    // put a reading before the one it follows.
    let (base, started) = (wall_clock(), Instant::now());
    if ndjson {
        let header = ndjson_header(&run, base)?;
        sink.write(|out| out.write_all(header.as_bytes()))?;
    }
    let mut board = Board::new(settings, config.ports.clone());
    let deadline = config.duration.map(|d| started + span_duration(d));
    let interval = span_duration(config.interval);
    let (mut rounds, mut failed) = (0u64, false);
    let mut at;
    loop {
        #[cfg(target_os = "linux")]
        let dump = diag.dump(crate::sockets::STATES)?;
        #[cfg(not(target_os = "linux"))]
        let dump: Vec<crate::sockets::Reading> = match diag {};
        let elapsed = i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX);
        at = Timestamp::from_nanos(base.nanos().saturating_add(elapsed));
        board.on_round(&dump, at);
        rounds += 1;
        let mut lines = String::new();
        for c in board.connections_mut() {
            let judged_at = if c.gone.is_some() { c.last_seen } else { at };
            let verdict = c.judge.verdict(judged_at);
            if config.fail_on.is_some_and(|set| set.contains(verdict)) {
                failed = true;
            }
            if verdict != c.reported {
                let record = verdict_record(c, judged_at, verdict, &redact);
                lines.push_str(&verdict_line(&record, ndjson)?);
                c.reported = verdict;
            }
        }
        if !lines.is_empty() && format != Format::Json {
            sink.write(|out| {
                out.write_all(lines.as_bytes())?;
                out.flush()
            })?;
        }
        if config.count.is_some_and(|n| rounds >= n) {
            break;
        }
        let next = started + interval.saturating_mul(u32::try_from(rounds).unwrap_or(u32::MAX));
        if !wait_until(next, deadline) {
            break;
        }
    }
    let conns = board.connections();
    let result = SocketsJson::new(&run, &conns, at, (rounds, board.refused), &redact);
    let text = match format {
        Format::Ndjson => result.ndjson()?,
        Format::Json => {
            let mut json = serde_json::to_string_pretty(&result).map_err(|e| e.to_string())?;
            json.push('\n');
            json
        }
        Format::Table | Format::Markdown => format!("\n{}", result.table()),
    };
    sink.write(|out| out.write_all(text.as_bytes()))?;
    sink.finish()?;
    if board.refused > 0 {
        eprintln!(
            "wspulse: note: {} connections were not followed: {} at once is the bound",
            board.refused,
            crate::sockets::MAX_CONNECTIONS
        );
    }
    Ok(if failed { EXIT_FAILED } else { 0 })
}

/// Sleeps until `next`, looking at the stop flag; false when the run
/// must stop (a signal, or `deadline` passed).
fn wait_until(next: Instant, deadline: Option<Instant>) -> bool {
    loop {
        let now = Instant::now();
        if STOP.load(Ordering::SeqCst) || deadline.is_some_and(|d| now >= d) {
            return false;
        }
        if now >= next {
            return true;
        }
        let mut wake = next.min(now + MAX_WAIT);
        if let Some(d) = deadline {
            wake = wake.min(d);
        }
        std::thread::sleep(wake.saturating_duration_since(now));
    }
}
