//! A TLS connection's `tls` object in the findings: what its ClientHello
//! and ServerHello said (RFC 8446 §4.1.2, §4.1.3), read without keys.

use serde::Serialize;

use super::redact::Redactor;
use crate::evidence::FrameRef;
use crate::websocket::tls::hello::version_name;
use crate::websocket::tls::TlsSeen;

/// The `tls` object of a connection judged on TLS records. Every field is
/// null (or empty) when the capture does not hold the hello it comes from.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TlsJson {
    /// The server name the client asked for (SNI, RFC 6066 §3), shown as a
    /// Host header is (see [`Redactor::sni`]).
    pub sni: Option<String>,
    /// ALPN protocols the client offered, in its order (RFC 7301 §3.1).
    pub alpn_offered: Vec<String>,
    /// The ALPN protocol the server chose.
    pub alpn: Option<String>,
    /// The version in use, from the ServerHello's `supported_versions`
    /// (RFC 8446 §4.2.1) or its legacy version: `TLSv1_3`, `TLSv1_2`, …
    pub version: Option<String>,
    pub client_hello_frame: Option<FrameRef>,
    pub server_hello_frame: Option<FrameRef>,
    /// Why a hello that began in the capture was not read: `too_long`
    /// (over 16 KiB), `malformed`, `interrupted` (a gap or another record
    /// came first).
    pub hello_unread: Option<&'static str>,
}

impl TlsJson {
    /// The object for `seen` (`None`: no direction began with a TLS record,
    /// so every field is null).
    pub fn new(seen: Option<TlsSeen<'_>>, redact: &Redactor) -> Self {
        let Some(seen) = seen else {
            return TlsJson::default();
        };
        let mut out = TlsJson {
            hello_unread: seen.unread.map(|e| e.code()),
            ..TlsJson::default()
        };
        if let Some((hello, at)) = seen.client_hello {
            out.sni = hello.sni.as_ref().map(|s| redact.sni(s));
            out.alpn_offered = hello.alpn.iter().map(|p| redact.alpn(p)).collect();
            out.client_hello_frame = Some(at.frame);
        }
        if let Some((hello, at)) = seen.server_hello {
            out.alpn = hello.alpn.as_deref().map(|p| redact.alpn(p));
            out.version = Some(version_name(hello.version));
            out.server_hello_frame = Some(at.frame);
        }
        out
    }
}
