//! Opening the probe's connection: TCP with a deadline, then the
//! WebSocket opening handshake (RFC 6455 §4.1) with the user's headers.
//! Every error is one line and never holds a header value.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::HandshakeError;
use tungstenite::http::{HeaderName, HeaderValue};
use tungstenite::WebSocket;

use super::tls::{self, TlsInfo, Wire};
use super::{secs, Family, ProbeConfig};

/// The probe's socket. Until `deadline` passes, every read and write waits
/// at most the time left; after it, they fail with `TimedOut`. `None`:
/// the socket's own timeouts apply.
pub struct Bounded {
    pub stream: TcpStream,
    pub deadline: Option<Instant>,
}

impl Bounded {
    /// Sets the socket timeouts to what is left, or fails once it is spent.
    fn arm(&self) -> std::io::Result<()> {
        let Some(deadline) = self.deadline else {
            return Ok(());
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        self.stream.set_write_timeout(Some(left))
    }
}

impl Read for Bounded {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.arm()?;
        self.stream.read(buf)
    }
}

impl Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.arm()?;
        self.stream.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.stream.flush()
    }
}

/// An open probe connection and what its set-up settled.
pub struct Opened {
    pub ws: WebSocket<Wire>,
    /// `wss://` only.
    pub tls: Option<TlsInfo>,
}

/// Connects to the first address of the target that accepts within
/// `connect_timeout`, then completes the TLS handshake (`wss://`) and the
/// WebSocket handshake within another `connect_timeout` in all (a server
/// dripping its answer byte by byte cannot stretch it).
///
/// Errors: name resolution (also bounded by `connect_timeout`), no
/// address of the `-4`/`-6` family, connection refused, timeout, a TLS
/// failure (see [`tls::handshake`]), the server's HTTP status when it
/// refuses the upgrade, a malformed header.
pub fn open(config: &ProbeConfig, tls_config: Option<&tls::Config>) -> Result<Opened, String> {
    let t = &config.target;
    let shown = &t.redacted;
    let mut addrs = resolve(&t.host, t.port, config.connect_timeout)?;
    let all = addrs.len();
    addrs.retain(|a| match config.family {
        Some(Family::V4) => a.is_ipv4(),
        Some(Family::V6) => a.is_ipv6(),
        None => true,
    });
    if addrs.is_empty() && all > 0 {
        let family = if config.family == Some(Family::V4) {
            "IPv4"
        } else {
            "IPv6"
        };
        return Err(format!("{} has no {family} address", t.host));
    }
    let mut last = format!("{} resolves to no address", t.host);
    let mut stream = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, config.connect_timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                last = format!("connection refused by {addr} ({shown})");
            }
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
                last = format!(
                    "connecting to {addr} ({shown}) timed out after {}",
                    secs(config.connect_timeout)
                );
            }
            Err(e) => last = format!("cannot connect to {addr} ({shown}): {e}"),
        }
    }
    let stream = stream.ok_or(last)?;
    let io = |e: std::io::Error| format!("cannot set up the socket: {e}");
    stream.set_nodelay(true).map_err(io)?;
    let stream = Bounded {
        stream,
        deadline: Some(Instant::now() + config.connect_timeout),
    };
    let (wire, tls) = match tls_config {
        Some(c) => {
            let (wire, info) = tls::handshake(c.client.clone(), &c.trust, &t.host, stream, shown)?;
            (wire, Some(info))
        }
        None => (Wire::Plain(stream), None),
    };
    let request = request(config)?;
    let ws_config = tungstenite::protocol::WebSocketConfig::default()
        .max_write_buffer_size(super::MAX_WRITE_BUFFER);
    match tungstenite::client::client_with_config(request, wire, Some(ws_config)) {
        Ok((mut ws, _response)) => {
            ws.get_mut().bounded().deadline = None;
            Ok(Opened { ws, tls })
        }
        Err(HandshakeError::Interrupted(_)) => Err(format!(
            "the WebSocket handshake with {shown} timed out after {}",
            secs(config.connect_timeout)
        )),
        Err(HandshakeError::Failure(tungstenite::Error::Http(response))) => Err(format!(
            "{shown} refused the WebSocket upgrade: HTTP {}",
            response.status()
        )),
        Err(HandshakeError::Failure(tungstenite::Error::Io(e))) => Err(match e.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => format!(
                "the WebSocket handshake with {shown} timed out after {}",
                secs(config.connect_timeout)
            ),
            _ => format!("the WebSocket handshake with {shown} failed: {e}"),
        }),
        Err(HandshakeError::Failure(e)) => {
            Err(format!("the WebSocket handshake with {shown} failed: {e}"))
        }
    }
}

/// The host's addresses, within `timeout`: the system resolver has no
/// deadline of its own, so it runs on a thread the probe stops waiting for.
fn resolve(host: &str, port: u16, timeout: Duration) -> Result<Vec<SocketAddr>, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let name = host.to_string();
    std::thread::spawn(move || {
        let found = (name.as_str(), port)
            .to_socket_addrs()
            .map(|a| a.collect::<Vec<_>>());
        let _ = tx.send(found);
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(addrs)) => Ok(addrs),
        Ok(Err(e)) => Err(format!("cannot resolve {host}: {e}")),
        Err(_) => Err(format!(
            "resolving {host} timed out after {}",
            secs(timeout)
        )),
    }
}

/// The upgrade request: the URL's resource, `-H` headers (marked
/// sensitive), `--subprotocol` and `--origin`.
fn request(config: &ProbeConfig) -> Result<tungstenite::handshake::client::Request, String> {
    let mut request = config
        .target
        .request_uri()
        .into_client_request()
        .map_err(|e| format!("{} is not a usable URL: {e}", config.target.redacted))?;
    let headers = request.headers_mut();
    for (name, value) in &config.headers {
        let key = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("-H: '{name}' is not a valid header name"))?;
        let mut value = HeaderValue::from_str(value)
            .map_err(|_| format!("-H {name}: the value is not a valid header value"))?;
        value.set_sensitive(true);
        headers.append(key, value);
    }
    if let Some(p) = &config.subprotocol {
        let v = HeaderValue::from_str(p)
            .map_err(|_| "--subprotocol: not a valid header value".to_string())?;
        headers.insert("sec-websocket-protocol", v);
    }
    if let Some(o) = &config.origin {
        let v = HeaderValue::from_str(o)
            .map_err(|_| "--origin: not a valid header value".to_string())?;
        headers.insert("origin", v);
    }
    Ok(request)
}

/// Sets the read timeout the probe's loop polls with.
pub fn poll_with(ws: &WebSocket<Wire>, timeout: Duration) -> Result<(), String> {
    let s = ws.get_ref().tcp();
    s.set_read_timeout(Some(timeout))
        .and_then(|()| s.set_write_timeout(Some(timeout)))
        .map_err(|e| format!("cannot set up the socket: {e}"))
}
