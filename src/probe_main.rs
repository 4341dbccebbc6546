//! `wspulse probe URL`: runs the probe, then prints its judgement through
//! the report layer (the probe itself feeds the judge and prints nothing).

use std::process::ExitCode;
use std::sync::Arc;

use crate::config::Format;
use crate::probe::{self, ProbeConfig};
use crate::report::probe::{ndjson_header, watch_json, watch_line, ProbeJson};
use crate::report::redact::Redactor;
use crate::sink::Sink;
use crate::{liveness, secret, EXIT_ERROR, EXIT_FAILED};

/// Probes, judges each connection at the instant it stopped, prints.
///
/// Exit status: 0; 1 when `--fail-on` matched; 2 when a connection could
/// not be opened (said on stderr) or on other errors. With `--check`, the
/// monitoring-plugin codes: 0 OK, 1 WARNING, 2 CRITICAL.
pub fn run(config: &ProbeConfig) -> ExitCode {
    match probe_and_print(config) {
        Ok(code) => ExitCode::from(code),
        Err(message) if config.check => {
            println!("WSPULSE CRITICAL - {}: {message}", config.target.redacted);
            ExitCode::from(2)
        }
        Err(message) => {
            eprintln!("wspulse: {message}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn probe_and_print(config: &ProbeConfig) -> Result<u8, String> {
    let key = secret::Key::random()?;
    let redact = Redactor::new(key.clone(), false);
    let settings = Arc::new(liveness::Settings {
        thresholds: config.thresholds,
        key,
    });
    if config.trust == probe::Trust::Insecure && config.target.tls {
        eprintln!(
            "wspulse: warning: --insecure: the server's certificate and name are NOT checked"
        );
    }
    probe::stop_on_signals();
    // As analyze writes: a reader that closed the pipe early is not an error.
    let mut sink = Sink::open(None, false)?;
    let ndjson = config.format == Format::Ndjson && !config.check;
    if ndjson {
        let header = ndjson_header(&config.target.redacted, config.thresholds);
        sink.write(|out| out.write_all(header.as_bytes()))?;
    }
    let mut watch_error = Ok(());
    let runs = probe::run(config, settings, |sample| {
        let line = if ndjson {
            watch_json(sample)
        } else {
            watch_line(sample)
        };
        if watch_error.is_ok() {
            watch_error = sink.write(|out| {
                writeln!(out, "{line}")?;
                out.flush()
            });
        }
    })?;
    watch_error?;
    let result = ProbeJson::new(&config.target.redacted, config.thresholds, &runs, &redact);
    let (text, code) = if config.check {
        result.check()
    } else {
        let text = match config.format {
            Format::Table if config.watch => format!("\n{}", result.table()),
            // The probe offers no markdown (its CLI has no such format).
            Format::Table | Format::Markdown => result.table(),
            Format::Ndjson => result.ndjson()?,
            Format::Json => {
                let mut json = serde_json::to_string_pretty(&result).map_err(|e| e.to_string())?;
                json.push('\n');
                json
            }
        };
        let failed = config.fail_on.is_some_and(|set| {
            result
                .connections
                .iter()
                .any(|c| set.contains(c.judged.verdict))
        });
        let code = if !result.errors.is_empty() {
            EXIT_ERROR
        } else if failed {
            EXIT_FAILED
        } else {
            0
        };
        (text, code)
    };
    if !config.check && config.format != Format::Table {
        for e in &result.errors {
            eprintln!("wspulse: connection #{}: {}", e.connection, e.error);
        }
    }
    // One connection that could not be opened is the classic one-line
    // error, on stderr with exit 2, and nothing on stdout.
    if !config.check && result.connections.is_empty() && result.errors.len() == 1 {
        return Err(result.errors[0].error.clone());
    }
    sink.write(|out| out.write_all(text.as_bytes()))?;
    sink.finish()?;
    Ok(code)
}
