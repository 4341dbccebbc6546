//! `wspulse live`: the live tap. Packets from an interface (libpcap) or a
//! capture being written (`-r -`) go through the same steps as `analyze`;
//! every connection is judged at each tick of the capture clock, verdict
//! changes are written as they happen, and when stopped (`--duration`,
//! `--count`, SIGINT, SIGTERM) the final report follows in analyze's
//! formats.
//!
//! - `source`: reader threads and the bounded queue of packet batches;
//! - `clock`: the capture clock carried forward by the wall clock, ticks;
//! - `engine`: ingest, judge, retire, stats;
//! - `output`: records in the chosen format; `view`: the terminal view.

mod book;
mod clock;
mod engine;
mod extracting;
pub mod metrics;
mod output;
pub mod privilege;
mod publish;
mod saving;
mod sockets;
mod source;
mod view;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use crate::config::{Color, Format, LiveConfig, LiveSource};
use crate::pipeline::Judging;
use crate::report::findings::FINDINGS_SCHEMA;
use crate::report::live::{LiveHead, LIVE_SCHEMA};
use crate::report::{Head, InputInfo};
use crate::sink::Sink;
use crate::time::wall_clock;
use engine::Engine;
use output::Output;
use source::{Msg, Source};

pub use clock::{LiveClock, Ticks};

/// Set by SIGINT or SIGTERM: the loop notices within [`MAX_WAIT`].
static STOP: AtomicBool = AtomicBool::new(false);

/// The longest the loop sleeps between looks at the stop flag and the
/// duration.
const MAX_WAIT: Duration = Duration::from_millis(200);

#[cfg(not(feature = "live"))]
const NO_LIBPCAP: &str = "capturing on an interface needs libpcap, which this wspulse was \
    built without: install libpcap-dev and rebuild with `cargo build --release --features live`; \
    meanwhile pipe a capture in: tcpdump -i IFACE -U -w - 'tcp port 8080' | wspulse live -r -";

/// The first SIGINT or SIGTERM stops the capture (the report follows); a
/// second one quits at once, exit status 130, as a shell reports SIGINT.
fn stop_on_signals() {
    let installed = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            view::restore_terminal();
            std::process::exit(130);
        }
    });
    if let Err(e) = installed {
        eprintln!("wspulse: warning: Ctrl-C will not stop the capture cleanly: {e}");
    }
}

/// The snapshot length packets are saved with: `-s` for an interface, the
/// largest libpcap takes for a stream (its packets were cut already).
fn snaplen(config: &LiveConfig) -> u32 {
    match &config.source {
        LiveSource::Interface(d) => d.snaplen,
        LiveSource::Stream(_) => crate::config::LIVE_SNAPLEN,
    }
}

/// Opens the packet source; returns it and the name reports give it.
fn open_source(config: &LiveConfig) -> Result<(Source, String), String> {
    match &config.source {
        LiveSource::Stream(input) => Ok((Source::stream(input)?, input.display())),
        #[cfg(feature = "live")]
        LiveSource::Interface(d) => {
            let device = crate::capture::device::Device::open(d, config.filter.as_deref())?;
            Ok((Source::device(device)?, d.name.clone()))
        }
        #[cfg(not(feature = "live"))]
        LiveSource::Interface(_) => Err(NO_LIBPCAP.into()),
    }
}

fn head(config: &LiveConfig, format: Format, name: &str, started: crate::time::Timestamp) -> Head {
    let inputs = vec![InputInfo {
        index: 0,
        path: name.to_string(),
    }];
    if format != Format::Ndjson {
        return Head {
            schema: FINDINGS_SCHEMA,
            inputs,
            thresholds: Some(config.thresholds),
            live: None,
            evaluation: None,
        };
    }
    let device = match &config.source {
        LiveSource::Interface(d) => Some(d),
        LiveSource::Stream(_) => None,
    };
    Head {
        schema: LIVE_SCHEMA,
        inputs,
        thresholds: Some(config.thresholds),
        live: Some(LiveHead {
            source: if device.is_some() {
                "interface"
            } else {
                "stream"
            },
            interface: device.map(|d| d.name.clone()),
            filter: config.filter.clone(),
            snaplen: device.map(|d| d.snaplen),
            buffer_size: device.map(|d| d.buffer_size),
            limits: config.limits,
            interval_s: config.interval,
            stats_interval_s: config.stats_interval,
            started_at: started,
        }),
        evaluation: None,
    }
}

/// `wspulse live`. Exit 0, or 1 when `--fail-on` matched; errors are one
/// line for stderr.
pub fn run(config: &LiveConfig) -> Result<ExitCode, String> {
    let mut judging = Judging::new(
        config.thresholds,
        config.show_secrets,
        config.redact_key.as_deref(),
        &config.ws_ports,
        &config.tls_ports,
        crate::load_keys(config.tls_keylog.as_deref())?,
    )?;
    // --redact: names hidden, and one key for every pseudonym of the run
    // (the records' and the extract files' agree).
    let pseudonyms = if config.redact {
        judging.redact = judging.redact.clone().hiding_names();
        let key = match config.redact_key.as_deref() {
            Some(text) => crate::secret::Key::from_passphrase(text),
            None => crate::secret::Key::random()?,
        };
        Some(crate::secret::pseudonym::Pseudonyms::new(key))
    } else {
        None
    };
    stop_on_signals();
    // Refused before anything is captured: a user's file is never
    // overwritten.
    let saver = match &config.write {
        Some(w) => Some(saving::Saver::new(w.clone(), snaplen(config))?),
        None => None,
    };
    let extractor = match &config.extract {
        Some(path) => {
            let mut x =
                extracting::Extractor::new(path, config.show_secrets, config.limits.max_flows)?;
            if let Some(p) = &pseudonyms {
                x.redact(p.clone());
            }
            Some(x)
        }
        None => None,
    };
    let (source, name) = open_source(config)?;
    // Bound while still privileged (a port below 1024 needs it), then
    // privileges go, as tcpdump -Z drops them once the device is open.
    let publisher = match config.metrics {
        Some(addr) => Some(publish::Publisher::start(addr)?),
        None => None,
    };
    // Opened while still privileged: entering --netns needs root; the
    // socket stays in its namespace after privileges go.
    let mut sockets = match config.sockets {
        true => Some(sockets::SocketSource::open(
            config.netns.as_deref(),
            config.interval,
        )?),
        false => None,
    };
    if let Some(user) = &config.user {
        privilege::drop_privileges(user)?;
    }
    if config.show_secrets {
        crate::warn_show_secrets();
    }
    let terminal = std::io::stdout().is_terminal();
    let format = config
        .format
        .unwrap_or(if config.output.is_none() && terminal {
            Format::Table
        } else {
            Format::Ndjson
        });
    let color = match config.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => terminal && std::env::var_os("NO_COLOR").is_none(),
    };
    let sink = Sink::append(config.output.as_deref())?;
    let (started, wall_now) = (Instant::now(), wall_clock());
    // With --write, frame references name the saved files (index k is
    // FILE, then FILEk, as tcpdump -C names them).
    let cited = match &config.write {
        Some(w) => w.path.display().to_string(),
        None => name.clone(),
    };
    let out = Output::new(format, sink, head(config, format, &cited, wall_now), color);
    let mut engine = Engine::new(config, &judging, out, name.clone(), (wall_now, started))?;
    if let Some(p) = publisher {
        engine.publish(p);
    }
    if let Some(s) = saver {
        engine.save(s);
    }
    if let Some(x) = extractor {
        engine.extract(x);
    }
    if let Some(p) = pseudonyms {
        engine.redact(p);
    }
    // The view takes the terminal when stdout is one and the records do
    // not go there as they happen.
    if terminal && (config.output.is_some() || format == Format::Table) {
        let filter = config.filter.as_deref().map(|f| format!(" · {f}"));
        let title = format!("wspulse live · {name}{}", filter.unwrap_or_default());
        engine.show(view::View::open(title, color));
    }
    let deadline = config
        .duration
        .map(|d| started + Duration::from_nanos(d.nanos() as u64));
    let mut end = source::End::default();
    loop {
        let now = Instant::now();
        if STOP.load(Ordering::SeqCst) || engine.output_gone() || deadline.is_some_and(|d| now >= d)
        {
            break;
        }
        engine.on_wall(now);
        let mut wake = engine.next_wake().min(now + MAX_WAIT);
        if let Some(d) = deadline {
            wake = wake.min(d);
        }
        if let Some(s) = &sockets {
            wake = wake.min(s.next());
        }
        match source.recv(wake.saturating_duration_since(now)) {
            Ok(Msg::Started) => engine.begin()?,
            Ok(Msg::Packets(batch)) => {
                if engine.on_batch(&batch, Instant::now(), config.count) {
                    break;
                }
            }
            Ok(Msg::Kernel(k)) => engine.on_kernel(k),
            Ok(Msg::End(e)) => {
                end = e;
                break;
            }
            Ok(Msg::Failed(e)) => return Err(e),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        engine.on_queue(source.queue());
        if let Some(s) = &mut sockets {
            read_sockets(&mut engine, s);
        }
    }
    engine.on_queue(source.queue());
    let kernel = source.stop();
    let outcome = engine.finish(Instant::now(), kernel, end)?;
    for warning in &outcome.warnings {
        eprintln!("wspulse: warning: {warning}");
    }
    for note in &outcome.notes {
        eprintln!("wspulse: note: {note}");
    }
    Ok(if outcome.failed {
        ExitCode::from(crate::EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

/// `--sockets`: a reading of the host's sockets when one is due; a
/// failure is said once and ends the readings (the capture goes on).
fn read_sockets(engine: &mut Engine, s: &mut sockets::SocketSource) {
    let said = s.failed.is_some();
    if let Some(dump) = s.poll(Instant::now()) {
        engine.on_sockets(&dump, Instant::now(), s);
    }
    if let (false, Some(e)) = (said, &s.failed) {
        eprintln!("wspulse: warning: no more socket readings: {e}");
    }
}

/// `wspulse live --list-interfaces`: one line per interface.
pub fn list_interfaces() -> Result<ExitCode, String> {
    #[cfg(feature = "live")]
    {
        for i in crate::capture::device::list()? {
            let mut flags = Vec::new();
            if i.up {
                flags.push("up");
            }
            if i.running {
                flags.push("running");
            }
            if i.loopback {
                flags.push("loopback");
            }
            let addresses: Vec<String> = i.addresses.iter().map(|a| a.to_string()).collect();
            println!(
                "{:<16} {:<22} {}{}",
                i.name,
                flags.join(","),
                addresses.join(" "),
                i.description
                    .map(|d| format!("  ({d})"))
                    .unwrap_or_default()
            );
        }
        Ok(ExitCode::SUCCESS)
    }
    #[cfg(not(feature = "live"))]
    Err(NO_LIBPCAP.into())
}
