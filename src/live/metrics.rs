//! `--metrics ADDR`: what a live run sees, served over HTTP as Prometheus
//! text exposition (format 0.0.4,
//! <https://prometheus.io/docs/instrumenting/exposition_formats/>) for
//! dashboards and alerts.
//!
//! The live loop hands over a [`MetricsSnapshot`] after each judging tick;
//! the text is rendered then, and every `GET /metrics` is served that text
//! from a background thread, so a scrape never waits on the capture and the
//! capture never waits on a scrape. Names follow Prometheus conventions:
//! the `wspulse_` prefix, `_total` for counters, the unit in the name.
//!
//! The text format is written here rather than with a client library: it is
//! a dozen lines of a stable format, and a library's registry of live
//! counters does not fit values that arrive as one snapshot per tick.

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use tiny_http::{Header, Method, Response, Server};

/// The content type of the text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What a live run has seen, as of one judging tick. Counters (`*_total`
/// and the kernel counts) only grow over a run; the others are the state
/// now.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricsSnapshot {
    /// Open connections by their current verdict (`Verdict::name`, e.g.
    /// `"false_alive"`), exposed as the gauge
    /// `wspulse_connections{verdict}`. List every verdict, zeros included,
    /// so a series does not vanish when its count drops to zero.
    pub connections_by_verdict: Vec<(&'static str, u64)>,
    /// Reasons holding now on open connections, by reason code and side
    /// (`"client"`, `"server"`, or `""` for a reason that names no side, as
    /// `no_heartbeat`): the gauge `wspulse_reasons{code, side}`.
    pub reasons_by_code: Vec<(&'static str, &'static str, u64)>,
    /// Packets captured: `wspulse_packets_total`.
    pub packets_total: u64,
    /// Bytes captured (as kept, after the snaplen): `wspulse_captured_bytes_total`.
    pub bytes_total: u64,
    /// WebSocket connections seen since the start: `wspulse_connections_seen_total`.
    pub connections_total: u64,
    /// Connections retired (closed, aborted, idle, capped) and reported:
    /// `wspulse_connections_retired_total`.
    pub retired_total: u64,
    /// Packets the kernel passed to the capture (libpcap `ps_recv`):
    /// `wspulse_kernel_received_packets_total`.
    pub kernel_received: u64,
    /// Packets the kernel dropped because the capture buffer was full
    /// (libpcap `ps_drop`): `wspulse_kernel_dropped_packets_total`. Any
    /// growth means findings may rest on incomplete evidence.
    pub kernel_dropped: u64,
    /// Packets the interface or its driver dropped (libpcap `ps_ifdrop`):
    /// `wspulse_interface_dropped_packets_total`.
    pub kernel_if_dropped: u64,
    /// How long the last judging pass over every open connection took, in
    /// seconds: `wspulse_judge_last_duration_seconds`.
    pub judge_seconds_last: f64,
    /// Seconds spent judging since the start, and the number of passes: the
    /// summary `wspulse_judge_duration_seconds` (`_sum`, `_count`), whose
    /// rates give the mean pass time.
    pub judge_seconds_total: f64,
    pub judge_runs_total: u64,
}

/// An HTTP server answering `GET /metrics` with the latest snapshot (404 for
/// any other path, 405 for another method on it), from a background thread
/// that stops when the server is dropped.
pub struct MetricsServer {
    server: Arc<Server>,
    text: Arc<Mutex<String>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    addr: SocketAddr,
}

impl MetricsServer {
    /// Listens on `addr` (`HOST:PORT`, e.g. `127.0.0.1:9464` or `[::]:9464`;
    /// port 0 picks a free port, see [`MetricsServer::local_addr`]) and
    /// serves an all-zero snapshot until the first
    /// [`MetricsServer::update`].
    ///
    /// Errors, naming the address: it is not `HOST:PORT`, its host name does
    /// not resolve, or it cannot be bound (in use, not local, a port below
    /// 1024 without privileges).
    pub fn start(addr: &str) -> Result<MetricsServer, String> {
        let candidates: Vec<SocketAddr> = addr
            .to_socket_addrs()
            .map_err(|e| {
                format!(
                    "--metrics {addr}: not an address to listen on ({e}); use HOST:PORT, such \
                     as 127.0.0.1:9464 or [::]:9464"
                )
            })?
            .collect();
        let listener = TcpListener::bind(&candidates[..])
            .map_err(|e| format!("--metrics {addr}: cannot listen there: {e}"))?;
        let local = listener
            .local_addr()
            .map_err(|e| format!("--metrics {addr}: {e}"))?;
        let server = Server::from_listener(listener, None)
            .map_err(|e| format!("--metrics {addr}: cannot serve: {e}"))?;
        let server = Arc::new(server);
        let text = Arc::new(Mutex::new(render(&MetricsSnapshot::default())));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (server, text, stop) = (server.clone(), text.clone(), stop.clone());
            std::thread::Builder::new()
                .name("wspulse-metrics".into())
                .spawn(move || serve(&server, &text, &stop))
                .map_err(|e| format!("--metrics {addr}: cannot start a thread: {e}"))?
        };
        Ok(MetricsServer {
            server,
            text,
            stop,
            thread: Some(thread),
            addr: local,
        })
    }

    /// The address actually bound (the port chosen when 0 was given).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces what scrapes see from now on.
    pub fn update(&self, snapshot: &MetricsSnapshot) {
        let text = render(snapshot);
        *self.text.lock().unwrap_or_else(PoisonError::into_inner) = text;
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(server: &Server, text: &Mutex<String>, stop: &AtomicBool) {
    loop {
        let request = match server.recv() {
            Ok(request) => request,
            Err(_) if stop.load(Ordering::SeqCst) => return,
            // A failed accept or a broken request: the next one may work.
            Err(_) => continue,
        };
        let path = request.url().split('?').next().unwrap_or_default();
        let response = if path != "/metrics" {
            Response::from_string("not found: metrics are at /metrics\n").with_status_code(404)
        } else if !matches!(request.method(), Method::Get | Method::Head) {
            Response::from_string("only GET\n").with_status_code(405)
        } else {
            let body = text.lock().unwrap_or_else(PoisonError::into_inner).clone();
            let mut response = Response::from_string(body);
            if let Ok(header) = Header::from_bytes("Content-Type", CONTENT_TYPE) {
                response.add_header(header);
            }
            response
        };
        // A scraper that went away is its own problem.
        let _ = request.respond(response);
    }
}

/// The snapshot as text exposition: for each family a `# HELP` and a
/// `# TYPE` line, then its samples.
pub fn render(s: &MetricsSnapshot) -> String {
    let mut out = String::with_capacity(2048);
    family(
        &mut out,
        "wspulse_connections",
        "gauge",
        "Open WebSocket connections by their current verdict.",
    );
    for &(verdict, n) in &s.connections_by_verdict {
        sample(&mut out, "wspulse_connections", &[("verdict", verdict)], n);
    }
    family(
        &mut out,
        "wspulse_reasons",
        "gauge",
        "Reasons holding now on open connections, by reason code and the side at fault.",
    );
    for &(code, side, n) in &s.reasons_by_code {
        sample(
            &mut out,
            "wspulse_reasons",
            &[("code", code), ("side", side)],
            n,
        );
    }
    let counters: [(&str, &str, u64); 7] = [
        (
            "wspulse_packets_total",
            "Packets captured.",
            s.packets_total,
        ),
        (
            "wspulse_captured_bytes_total",
            "Bytes captured, as kept after the snapshot length.",
            s.bytes_total,
        ),
        (
            "wspulse_connections_seen_total",
            "WebSocket connections seen since the start.",
            s.connections_total,
        ),
        (
            "wspulse_connections_retired_total",
            "Connections retired (closed, aborted, idle or capped) and reported.",
            s.retired_total,
        ),
        (
            "wspulse_kernel_received_packets_total",
            "Packets the kernel passed to the capture (libpcap ps_recv).",
            s.kernel_received,
        ),
        (
            "wspulse_kernel_dropped_packets_total",
            "Packets the kernel dropped for lack of capture buffer (libpcap ps_drop): findings may miss evidence.",
            s.kernel_dropped,
        ),
        (
            "wspulse_interface_dropped_packets_total",
            "Packets the interface or its driver dropped (libpcap ps_ifdrop).",
            s.kernel_if_dropped,
        ),
    ];
    for (name, help, value) in counters {
        family(&mut out, name, "counter", help);
        sample(&mut out, name, &[], value);
    }
    family(
        &mut out,
        "wspulse_judge_last_duration_seconds",
        "gauge",
        "How long the last judging pass over the open connections took.",
    );
    sample_f64(
        &mut out,
        "wspulse_judge_last_duration_seconds",
        s.judge_seconds_last,
    );
    family(
        &mut out,
        "wspulse_judge_duration_seconds",
        "summary",
        "Time spent judging the open connections, per pass.",
    );
    sample_f64(
        &mut out,
        "wspulse_judge_duration_seconds_sum",
        s.judge_seconds_total,
    );
    sample(
        &mut out,
        "wspulse_judge_duration_seconds_count",
        &[],
        s.judge_runs_total,
    );
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: u64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (label, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{label}=\"{}\"", escape_label(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

fn sample_f64(out: &mut String, name: &str, value: f64) {
    // The format's spellings for values that are not finite numbers.
    let value = match value {
        v if v.is_nan() => "NaN".to_string(),
        v if v == f64::INFINITY => "+Inf".to_string(),
        v if v == f64::NEG_INFINITY => "-Inf".to_string(),
        v => v.to_string(),
    };
    let _ = writeln!(out, "{name} {value}");
}

/// Label values escape backslash, double quote and line feed.
fn escape_label(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

/// Help text escapes backslash and line feed.
fn escape_help(v: &str) -> String {
    v.replace('\\', r"\\").replace('\n', r"\n")
}

#[cfg(test)]
mod tests;
