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
pub mod liveness;
pub mod pipeline;
pub mod report;
pub mod side;
pub mod tcp;
pub mod time;
pub mod websocket;

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use config::{AnalyzeConfig, Color};
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
    let mut buffer = Vec::new();
    let (warnings, failed) = if config.tcp_view {
        let analysis = pipeline::analyze_files(config, |_| ())?;
        report::write(&analysis.tcp_report(), config.format, color, &mut buffer)
            .map_err(|e| e.to_string())?;
        (analysis.warnings, false)
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
        report::write(&findings, config.format, color, &mut buffer)
            .map_err(|e| e.to_string())?;
        let failed = config
            .fail_on
            .is_some_and(|worst| findings.connections.iter().any(|c| c.verdict <= worst));
        (analysis.warnings, failed)
    };
    emit(config, &buffer)?;
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

/// Writes the report to `-o FILE` atomically (temporary file, then rename)
/// or to stdout, where a closed pipe (`| head`) is a normal end.
fn emit(config: &AnalyzeConfig, bytes: &[u8]) -> Result<(), String> {
    match &config.output {
        Some(path) => write_atomically(path, bytes).map_err(|e| format!("{}: {e}", path.display())),
        None => {
            let mut stdout = io::stdout().lock();
            match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
                Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(format!("stdout: {e}")),
                _ => Ok(()),
            }
        }
    }
}

fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("not a file name"))?;
    let tmp = dir.join(format!(
        ".{}.wspulse-{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
