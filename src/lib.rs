//! wspulse finds WebSocket connections that look alive but are not.
//!
//! The data flows one way, one stage per module:
//! `capture` (packets) → `decode` (TCP segments) → `tcp` (connections,
//! reassembly, ACK/window accounting) → `websocket` (frames) → `liveness`
//! (the judge) → `report` (table, JSON).

pub mod capture;
pub mod cli;
pub mod config;
pub mod decode;
pub mod evidence;
pub mod liveness;
pub mod pipeline;
pub mod report;
pub mod side;
pub mod tcp;
pub mod time;
pub mod websocket;

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use config::{AnalyzeConfig, Color};
use liveness::Verdict;
use websocket::session::{Session, SessionSetup};

/// Exit status for errors, as grep and tcpdump use it.
pub const EXIT_ERROR: u8 = 2;
/// Exit status when `--fail-on` matched a connection.
pub const EXIT_FAILED: u8 = 1;

/// Runs a parsed command line and returns the process exit code.
pub fn run(command: cli::Command) -> ExitCode {
    match command {
        cli::Command::Analyze(config) => report_errors(analyze(&config)),
        cli::Command::Live(_) => {
            if cfg!(feature = "live") {
                eprintln!(
                    "wspulse: live capture is not available in this version yet; meanwhile pipe a \
                     capture in: tcpdump -i IFACE -U -w - 'tcp port 8080' | wspulse analyze -"
                );
            } else {
                eprintln!(
                    "wspulse: live capture needs libpcap and is not built in: install libpcap-dev \
                     and rebuild with `cargo build --release --features live`"
                );
            }
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn report_errors(result: Result<ExitCode, String>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("wspulse: {message}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// `wspulse analyze`: read every input in one pass, then report.
fn analyze(config: &AnalyzeConfig) -> Result<ExitCode, String> {
    let color = match config.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => {
            config.output.is_none()
                && io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none()
        }
    };
    // Opened once the input is read: an error there leaves no file behind.
    let open = || Sink::open(config.output.as_deref());
    let (sink, warnings, failed) = if config.tcp_view {
        let analysis = pipeline::analyze_files(config, |_| ())?;
        let mut sink = open()?;
        sink.write(|out| report::write(&analysis.tcp_report(), config.format, color, out))?;
        (sink, analysis.warnings, false)
    } else {
        let ports = (config.ws_ports.clone(), config.tls_ports.clone());
        let thresholds = config.thresholds;
        let mut analysis = pipeline::analyze_files(config, |seg| {
            let on = |ports: &[u16]| ports.contains(&seg.src.1) || ports.contains(&seg.dst.1);
            Session::new(SessionSetup {
                roles_known: seg.flags.syn() || on(&ports.0) || on(&ports.1),
                ws_port: on(&ports.0),
                tls_port: on(&ports.1),
                thresholds,
            })
        })?;
        let findings = analysis.findings(&config.thresholds);
        let mut sink = open()?;
        sink.write(|out| report::write(&findings, config.format, color, out))?;
        let failed = config.fail_on.is_some_and(|worst| {
            Verdict::ALL.iter().any(|v| {
                *v <= worst
                    && findings
                        .summary
                        .verdicts
                        .get(v.name())
                        .is_some_and(|&n| n > 0)
            })
        });
        (sink, analysis.warnings, failed)
    };
    sink.finish()?;
    for warning in &warnings {
        eprintln!("wspulse: warning: {warning}");
    }
    Ok(if !warnings.is_empty() {
        ExitCode::from(EXIT_ERROR)
    } else if failed {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

/// Where the report goes: stdout, where a closed pipe (`| head`) is a
/// normal end, or `-o FILE`, written to a temporary file beside it and
/// renamed into place, so a reader never sees half a report. Output streams:
/// nothing holds the whole report in memory.
enum Sink {
    Stdout(io::BufWriter<io::Stdout>),
    File {
        out: io::BufWriter<std::fs::File>,
        tmp: PathBuf,
        path: PathBuf,
    },
    /// The reader went away: write nothing more.
    Closed,
}

impl Sink {
    fn open(path: Option<&Path>) -> Result<Sink, String> {
        let Some(path) = path else {
            return Ok(Sink::Stdout(io::BufWriter::with_capacity(
                1 << 16,
                io::stdout(),
            )));
        };
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .ok_or_else(|| format!("{}: not a file name", path.display()))?;
        let tmp = dir.join(format!(
            ".{}.wspulse-{}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        let file = std::fs::File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        Ok(Sink::File {
            out: io::BufWriter::new(file),
            tmp,
            path: path.to_path_buf(),
        })
    }

    fn write(&mut self, f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<(), String> {
        let result = match self {
            Sink::Stdout(out) => f(out),
            Sink::File { out, .. } => f(out),
            Sink::Closed => Ok(()),
        };
        self.check(result)
    }

    fn check(&mut self, result: io::Result<()>) -> Result<(), String> {
        match (result, &*self) {
            (Ok(()), _) => Ok(()),
            (Err(e), Sink::Stdout(_)) if e.kind() == io::ErrorKind::BrokenPipe => {
                *self = Sink::Closed;
                Ok(())
            }
            (Err(e), Sink::File { tmp, .. }) => {
                let _ = std::fs::remove_file(tmp);
                Err(format!("{}: {e}", tmp.display()))
            }
            (Err(e), _) => Err(format!("stdout: {e}")),
        }
    }

    fn finish(mut self) -> Result<(), String> {
        match std::mem::replace(&mut self, Sink::Closed) {
            Sink::Stdout(mut out) => {
                let result = out.flush();
                self = Sink::Stdout(out);
                self.check(result)
            }
            Sink::File { out, tmp, path } => {
                let result = out
                    .into_inner()
                    .map_err(|e| e.into_error())
                    .and_then(|file| file.sync_all())
                    .and_then(|()| std::fs::rename(&tmp, &path));
                if let Err(e) = result {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(format!("{}: {e}", path.display()));
                }
                Ok(())
            }
            Sink::Closed => Ok(()),
        }
    }
}
