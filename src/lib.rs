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
pub mod pipeline;
pub mod report;
pub mod side;
pub mod tcp;
pub mod time;

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use config::{AnalyzeConfig, Color};

/// Exit status for errors, as grep and tcpdump use it.
pub const EXIT_ERROR: u8 = 2;

/// Runs a parsed command line and returns the process exit code.
pub fn run(command: cli::Command) -> ExitCode {
    match command {
        cli::Command::Analyze(config) => report_errors(analyze(&config)),
        cli::Command::Live(_) => {
            eprintln!(
                "wspulse: live capture needs libpcap and is not built in: install libpcap-dev \
                 and rebuild with `cargo build --release --features live`"
            );
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
    let analysis = pipeline::analyze_files(config, |_| ())?;
    let report = analysis.tcp_report();
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
    report::write_tcp_view(&report, config.format, color, &mut buffer)
        .map_err(|e| e.to_string())?;
    emit(config, &buffer)?;
    for warning in &analysis.warnings {
        eprintln!("wspulse: warning: {warning}");
    }
    Ok(if analysis.warnings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_ERROR)
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
