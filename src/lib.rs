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
pub mod extract;
pub mod live;
pub mod liveness;
mod notes;
pub mod pipeline;
pub mod probe;
mod probe_main;
pub mod progress;
pub mod report;
pub mod secret;
pub mod side;
pub mod sink;
pub mod sockets;
mod sockets_main;
pub mod tcp;
pub mod time;
pub mod websocket;

use std::io::{self, IsTerminal};
use std::process::ExitCode;

use config::{AnalyzeConfig, At, Color, Listing};
use liveness::Verdict;
use notes::{no_such_connection, notes, plain_on_tls_port_warnings, report_warnings};
use pipeline::Judging;
use report::findings::{judged_at, ConnectionFindings, Summary, FINDINGS_SCHEMA};
use report::layout::Layout;
use report::model::{TcpConnection, TCP_SCHEMA};
use report::{table, Exporter, TableKind};
use sink::Sink;
use tcp::Retirement;
use time::wall_clock;

/// Exit status for errors, as grep and tcpdump use it.
pub const EXIT_ERROR: u8 = 2;
/// Exit status when `--fail-on` matched a connection.
pub const EXIT_FAILED: u8 = 1;

/// Runs a parsed command line and returns the process exit code.
pub fn run(command: cli::Command) -> ExitCode {
    match command {
        cli::Command::Analyze(config) => report_errors(analyze(&config)),
        cli::Command::Live(config) => report_errors(live::run(&config)),
        cli::Command::Probe(config) => probe_main::run(&config),
        cli::Command::Sockets(config) => sockets_main::run(&config),
        cli::Command::ListInterfaces => report_errors(live::list_interfaces()),
        cli::Command::Completions(shell) => {
            cli::write_completions(shell, &mut io::stdout().lock());
            ExitCode::SUCCESS
        }
        cli::Command::Man(subcommand) => report_errors(
            cli::write_man(subcommand.as_deref(), &mut io::stdout().lock())
                .map(|()| ExitCode::SUCCESS)
                .map_err(|e| format!("writing the man page: {e}")),
        ),
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

/// `wspulse analyze`: read every input in one pass; connections are
/// judged and written as they retire, the rest when the input ends.
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
    if let Some(x) = &config.extract {
        extract::check(&config.inputs, &x.path)?;
    }
    if let Some(h) = &config.html {
        pipeline::series::check(&config.inputs, &h.path)?;
    }
    if config.inputs.contains(&capture::file::Input::Stdin) {
        finish_on_interrupt();
    }
    // An `--at` instant can be refused only once the capture's end is
    // known: hold the report until then, so nothing is printed first.
    let hold = matches!(config.at, At::Instant(_) | At::AfterFirstPacket(_));
    let mut sink = Sink::open(config.output.as_deref(), hold)?;
    let mut chosen = Chosen::default();
    // Large files on a terminal: bytes read, rate and ETA on stderr.
    let bar = progress::Progress::start(&config.inputs);
    let result = if config.tcp_view {
        tcp_view(config, color, &mut sink)
    } else {
        findings(config, color, &mut sink, &mut chosen)
    };
    if let Some(bar) = bar {
        bar.finish();
    }
    let (warnings, failed, notes, said) = match result {
        Ok(r) => r,
        Err(e) => {
            sink.abort();
            return Err(e);
        }
    };
    sink.finish()?;
    for note in chosen.note.iter().chain(&chosen.html_note) {
        eprintln!("wspulse: note: {note}");
    }
    for warning in &warnings {
        eprintln!("wspulse: warning: {warning}");
    }
    for warning in &said {
        eprintln!("wspulse: warning: {warning}");
    }
    for note in &notes {
        eprintln!("wspulse: note: {note}");
    }
    Ok(if !warnings.is_empty() {
        ExitCode::from(EXIT_ERROR)
    } else if failed {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

fn head(config: &AnalyzeConfig, schema: &'static str, thresholds: bool) -> report::Head {
    report::Head {
        schema,
        inputs: config
            .inputs
            .iter()
            .enumerate()
            .map(|(i, input)| report::InputInfo {
                index: i as u32,
                path: input.display(),
            })
            .collect(),
        thresholds: thresholds.then_some(config.thresholds),
        live: None,
        evaluation: Some(report::EvaluationHead {
            at: config.at.to_string(),
            evaluation_time: match config.at {
                At::Instant(t) => Some(t),
                _ => None,
            },
            warnings: Vec::new(),
        }),
    }
}

/// Reading a capture being written (`tcpdump -U -w - | wspulse analyze -`),
/// the first Ctrl-C stops tcpdump, which ends our input: the report is then
/// written, judged at the wall clock. So the first Ctrl-C does not kill
/// wspulse; a second one does (exit 130, as a shell reports SIGINT).
fn finish_on_interrupt() {
    use std::sync::atomic::{AtomicBool, Ordering};
    static INTERRUPTED: AtomicBool = AtomicBool::new(false);
    let installed = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!(
            "wspulse: interrupted: the report follows when the input ends (Ctrl-C again to quit)"
        );
    });
    if let Err(e) = installed {
        eprintln!("wspulse: warning: Ctrl-C will not finish the report: {e}");
    }
}

/// What a run leaves for stderr: warnings that make the exit status 2,
/// whether `--fail-on` matched, the limits it hit, and warnings about the
/// options given (in the report's `warnings` too; the exit status stays).
type RunOutcome = (
    Vec<capture::file::CaptureError>,
    bool,
    Vec<String>,
    Vec<String>,
);

fn tcp_view(config: &AnalyzeConfig, color: bool, sink: &mut Sink) -> Result<RunOutcome, String> {
    let mut exporter = Exporter::new(
        config.format,
        color,
        TableKind::Tcp,
        head(config, TCP_SCHEMA, false),
    )
    .with_layout(Layout::for_output(
        color,
        Listing::All,
        config.output.is_none(),
    ));
    let mut error = Ok(());
    let mut count = 0u64;
    // --redact: addresses become this run's pseudonyms here too.
    let mut pseudonyms = match (config.redact, config.redact_key.as_deref()) {
        (false, _) => None,
        (true, Some(text)) => Some(secret::Key::from_passphrase(text)),
        (true, None) => Some(secret::Key::random()?),
    }
    .map(secret::pseudonym::Pseudonyms::new);
    let early = std::cell::RefCell::new(Vec::new());
    let pass = pipeline::analyze_files_noting(
        config,
        None,
        |_| (),
        &wall_clock,
        &mut |mut r| {
            count += 1;
            if let Some(p) = pseudonyms.as_mut() {
                r.conn.client.0 = p.of(r.conn.client.0);
                r.conn.server.0 = p.of(r.conn.server.0);
                r.conn.tunnel = None;
            }
            for w in early.borrow_mut().drain(..) {
                exporter.warn_in_head(w);
            }
            if r.cause == Retirement::Open {
                exporter.date_head(r.at.at);
            }
            if error.is_ok() {
                let c = TcpConnection::from_connection(r.id, &r.conn, r.at.at);
                error = sink.write(|out| exporter.connection(&c, || table::tcp_row(&c), out));
            }
        },
        &mut |w| early.borrow_mut().push(w),
    )?;
    error?;
    let warnings = report_warnings(&pass);
    exporter.settle_head(pass.capture.evaluation_time, &warnings);
    let capture = pass.capture.clone();
    let line = table::tcp_summary_line(&capture, count);
    let limits = notes(&capture, &pass);
    let tail = report::Tail::<()> {
        capture,
        summary: None,
        warnings,
        extract: None,
    };
    sink.write(|out| exporter.finish(&tail, &line, out))?;
    Ok((pass.warnings, false, limits, Vec::new()))
}

/// The connections `--extract` takes, as the report's pass found them,
/// and the time they were judged at.
#[derive(Default)]
struct Chosen {
    connections: Vec<extract::Chosen>,
    judged_at: Option<time::Timestamp>,
    /// `--redact`: the run's address pseudonyms, shared by the report and
    /// the extract so both name a host alike.
    pseudonyms: Option<secret::pseudonym::Pseudonyms>,
    /// What the extract holds, for stderr once the report is written.
    note: Option<String>,
    /// What the `--report` page holds, for stderr likewise.
    html_note: Option<String>,
}

/// Whether `--extract` takes a connection: the `--connection` ids; else
/// the verdicts `--verdict` lists; else every one not `alive`.
fn extracts(x: &config::ExtractConfig, listing: Listing, id: u64, verdict: Verdict) -> bool {
    match listing {
        _ if !x.connections.is_empty() => x.connections.contains(&id),
        Listing::Only(set) => set.contains(verdict),
        Listing::All | Listing::Incidents => verdict != Verdict::Alive,
    }
}

/// Writes the extract: what went where, for the report (and, in words,
/// for stderr: `chosen.note`).
fn write_extract(
    config: &AnalyzeConfig,
    x: &config::ExtractConfig,
    chosen: &mut Chosen,
) -> Result<report::ExtractInfo, String> {
    let written = extract::write(
        &config.inputs,
        &chosen.connections,
        &x.path,
        chosen.judged_at,
        config.show_secrets,
        chosen.pseudonyms.as_mut(),
    )?;
    let each: Vec<String> = written
        .connections
        .iter()
        .map(|p| {
            format!(
                "#{} frames {}-{} ({} packets)",
                p.id, p.first, p.last, p.packets
            )
        })
        .collect();
    let missing: Vec<u64> = x
        .connections
        .iter()
        .copied()
        .filter(|id| !written.connections.iter().any(|p| p.id == *id))
        .collect();
    chosen.note = Some(format!(
        "--extract {}: {} packets of {} connection{} (pcapng; each packet's comment names its input and frame){}{}{}",
        x.path.display(),
        written.packets,
        written.connections.len(),
        if written.connections.len() == 1 { "" } else { "s" },
        if each.is_empty() { "" } else { ": " },
        each.join(", "),
        pipeline::series::missing_picks(config, &missing)
    ));
    Ok(report::ExtractInfo {
        path: x.path.display().to_string(),
        packets: written.packets,
        connections: written
            .connections
            .iter()
            .map(|p| report::ExtractedConnection {
                id: p.id,
                first_frame: p.first,
                last_frame: p.last,
                packets: p.packets,
            })
            .collect(),
        frames: written
            .frames
            .iter()
            .map(|&(frame, original)| report::ExtractedFrame { frame, original })
            .collect(),
    })
}

fn findings(
    config: &AnalyzeConfig,
    color: bool,
    sink: &mut Sink,
    chosen: &mut Chosen,
) -> Result<RunOutcome, String> {
    let mut exporter = Exporter::new(
        config.format,
        color,
        TableKind::Findings,
        head(config, FINDINGS_SCHEMA, true),
    )
    .with_layout(Layout::for_output(
        color,
        config.listing,
        config.output.is_none(),
    ))
    .with_markdown(
        config.listing != Listing::Incidents,
        report::markdown::reproduce_flags(config),
        report::markdown::tshark_options(config),
    );
    let mut judging = Judging::new(
        config.thresholds,
        config.show_secrets,
        config.redact_key.as_deref(),
        &config.ws_ports,
        &config.tls_ports,
        load_keys(config.tls_keylog.as_deref())?,
    )?;
    if config.redact {
        judging.redact = judging.redact.clone().hiding_names();
        let key = match config.redact_key.as_deref() {
            Some(text) => secret::Key::from_passphrase(text),
            None => secret::Key::random()?,
        };
        chosen.pseudonyms = Some(secret::pseudonym::Pseudonyms::new(key));
    }
    if config.show_secrets {
        warn_show_secrets();
    }
    let redact = &judging.redact;
    let new_observer = |seg: &decode::Segment<'_>| judging.observer(seg);
    let mut summary = Summary::default();
    let mut explained: Option<ConnectionFindings> = None;
    let listed = |v: Verdict| match config.listing {
        Listing::Only(set) => set.contains(v),
        Listing::All | Listing::Incidents => true,
    };
    let mut plain_on_tls_port = std::collections::BTreeMap::<u16, usize>::new();
    let mut html = config.html.as_ref().map(|h| {
        let page = report::html::HtmlReport::new(h.connections.clone());
        match config.listing {
            Listing::Only(_) => page.drawing_every_one(),
            Listing::All | Listing::Incidents => page,
        }
    });
    let mut error = Ok(());
    let keys = judging.keys.clone();
    let early = std::cell::RefCell::new(Vec::new());
    let mut on_warning = |w| early.borrow_mut().push(w);
    let pass = pipeline::analyze_files_noting(
        config,
        Some(&keys),
        new_observer,
        &wall_clock,
        &mut |mut r| {
            for w in early.borrow_mut().drain(..) {
                exporter.warn_in_head(w);
            }
            if r.cause == Retirement::Open {
                exporter.date_head(r.at.at);
            }
            let (client, server) = (r.conn.client, r.conn.server);
            if let Some(p) = chosen.pseudonyms.as_mut() {
                r.conn.client.0 = p.of(client.0);
                r.conn.server.0 = p.of(server.0);
                // A tunnel's outer endpoints are addresses too.
                r.conn.tunnel = None;
            }
            let session = &r.conn.observer.session;
            if session.tls_port_was_plain() {
                *plain_on_tls_port.entry(r.conn.server.1).or_default() += 1;
            }
            if !session.is_judged() {
                summary.count(session, None, r.conn.server.1);
                return;
            }
            let retired = (r.cause != Retirement::Open).then_some(r.cause);
            let at = judged_at(&r.conn.observer.judge, retired, r.at);
            let c = ConnectionFindings::new(r.id, &r.conn, at, retired, redact);
            summary.count(session, Some(c.judged.verdict), r.conn.server.1);
            if let Some(x) = &config.extract {
                if extracts(x, config.listing, c.id, c.judged.verdict) {
                    chosen.connections.push(extract::Chosen {
                        id: c.id,
                        client,
                        server,
                        first: r.conn.first.frame,
                        last: r.conn.last.frame,
                    });
                }
            }
            // The page lists what the table does: --verdict narrows it
            // (a --connection pick is drawn whatever its verdict).
            let on_page = listed(c.judged.verdict)
                || config
                    .html
                    .as_ref()
                    .is_some_and(|h| h.connections.contains(&c.id));
            if let (Some(h), true) = (html.as_mut(), on_page) {
                let (first, last) = (r.conn.first.frame, r.conn.last.frame);
                let (start, end) = (
                    c.tcp.first_packet,
                    c.judged.judged_at.max(c.tcp.last_packet),
                );
                let wanted = pipeline::series::Wanted {
                    client,
                    server,
                    first,
                    last,
                    start,
                    end,
                };
                h.add(&c, || wanted);
            }
            if config.explain.is_some() {
                if config.explain == Some(c.id) {
                    explained = Some(c);
                }
            } else if error.is_ok() && listed(c.judged.verdict) {
                error = sink.write(|out| exporter.findings(&c, out));
            }
        },
        &mut on_warning,
    )?;
    error?;
    chosen.judged_at = pass.capture.evaluation_time;
    if let Some(id) = config.explain {
        let c = explained.ok_or_else(|| no_such_connection(id, &summary))?;
        let text = report::explain::text(&c, &head(config, FINDINGS_SCHEMA, true).inputs);
        sink.write(|out| out.write_all(text.as_bytes()))?;
        let notes = notes(&pass.capture, &pass);
        let said = plain_on_tls_port_warnings(&plain_on_tls_port);
        return Ok((pass.warnings, false, notes, said));
    }
    let capture = pass.capture.clone();
    let line = table::findings_summary_line(&summary, &capture);
    let failed = config.fail_on.is_some_and(|set| summary.any_in(set));
    let limits = notes(&capture, &pass);
    let said = plain_on_tls_port_warnings(&plain_on_tls_port);
    let mut warnings = report_warnings(&pass);
    warnings.extend(said.iter().cloned());
    let extract = match &config.extract {
        Some(x) => Some(write_extract(config, x, chosen)?),
        None => None,
    };
    exporter.settle_head(capture.evaluation_time, &warnings);
    if let (Some(h), Some(report)) = (&config.html, html) {
        let inputs = head(config, FINDINGS_SCHEMA, true).inputs;
        let page = report::html::Page {
            inputs: &inputs,
            summary_line: &line,
            warnings: &warnings,
        };
        let end = pass.capture.evaluation_time.unwrap_or_default();
        chosen.html_note = Some(pipeline::series::write_report(
            config,
            Some(&keys),
            &h.path,
            report,
            end,
            &page,
        )?);
    }
    let tail = report::Tail {
        capture,
        summary: Some(summary),
        warnings,
        extract,
    };
    sink.write(|out| exporter.finish(&tail, &line, out))?;
    Ok((pass.warnings, failed, limits, said))
}

/// The run's TLS secrets: `--tls-keylog`'s, else none yet (Decryption
/// Secrets Blocks add theirs as they are read). Errors: the file cannot be
/// read, or holds no key log line. Lines not understood in a file that has
/// good ones are skipped, with a warning on stderr naming the first.
pub(crate) fn load_keys(
    path: Option<&std::path::Path>,
) -> Result<std::sync::Arc<websocket::tls::KeyStore>, String> {
    use websocket::tls::{KeyLog, KeyStore};
    let Some(path) = path else {
        return Ok(std::sync::Arc::new(KeyStore::default()));
    };
    let (log, skipped) = KeyLog::read_file(path)?;
    if let Some(first) = skipped.first {
        eprintln!(
            "wspulse: {}: {} line(s) not understood, skipped (first: line {first})",
            path.display(),
            skipped.lines
        );
    }
    Ok(std::sync::Arc::new(KeyStore::new(log)))
}

/// Said on stderr whenever a report may hold values from the wire.
pub(crate) fn warn_show_secrets() {
    eprintln!(
        "wspulse: --show-secrets: this report holds values from the wire (query values, tokens, payloads); do not share it"
    );
}
