//! A TLS connection's `tls` object in the findings: what its ClientHello
//! and ServerHello said (RFC 8446 §4.1.2, §4.1.3), read without keys.

use serde::Serialize;

use super::redact::Redactor;
use crate::evidence::FrameRef;
use crate::websocket::tls::hello::version_name;
use crate::websocket::tls::{NotDecrypted, TlsSeen};

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
    /// The records were decrypted and the connection judged on its frames.
    pub decrypted: bool,
    /// Why not, when not: `no_keylog` (the run had no secrets), `no_key`
    /// (none for this client random), `resumed_without_keys`,
    /// `unsupported_suite`, `unsupported_version`, `handshake_not_captured`.
    pub not_decrypted: Option<&'static str>,
    /// The cipher suite decrypted with (IANA name).
    pub cipher_suite: Option<&'static str>,
    /// Records decrypted, both directions.
    pub records_decrypted: u64,
    /// Records that failed to authenticate (RFC 8446 §5.2: tampered, or
    /// not these keys'): counted, their bytes a gap in the plaintext.
    pub records_failed: u64,
}

impl TlsJson {
    /// The object for `seen` (`None`: no direction began with a TLS record,
    /// so every hello field is null and the handshake was not captured).
    pub fn new(seen: Option<TlsSeen<'_>>, redact: &Redactor) -> Self {
        let Some(seen) = seen else {
            return TlsJson {
                not_decrypted: Some(NotDecrypted::HandshakeNotCaptured.code()),
                ..TlsJson::default()
            };
        };
        let mut out = TlsJson {
            hello_unread: seen.unread.map(|e| e.code()),
            ..TlsJson::default()
        };
        match seen.decryption {
            Some(d) => {
                out.decrypted = d.outcome.is_ok();
                out.cipher_suite = d.outcome.ok();
                out.not_decrypted = d.outcome.err().map(|e| e.code());
                out.records_decrypted = d.records;
                out.records_failed = d.failed;
            }
            None => out.not_decrypted = Some(NotDecrypted::NoKeylog.code()),
        }
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
