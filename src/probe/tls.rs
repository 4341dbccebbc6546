//! `wss://`: TLS under the probe's WebSocket connection (RFC 6455 §3,
//! §4.1: the TLS handshake comes first, with SNI for a host name), through
//! rustls with ring as its explicit crypto provider. Roots are Mozilla's
//! (webpki-roots), or the PEM certificates of `--ca-file` instead, as
//! curl's `--cacert` replaces its bundle.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned};
use serde::Serialize;

use super::connect::Bounded;

/// How the probe checks the server's certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trust {
    /// Mozilla's root programme (webpki-roots).
    MozillaRoots,
    /// The CA certificates of a PEM file (`--ca-file`), and only those.
    CaFile(std::path::PathBuf),
    /// `--insecure`: any certificate, any name. Signatures are still
    /// checked, so the session is encrypted, but not authenticated.
    Insecure,
}

/// The probe's byte stream: plain TCP for `ws://`, TLS over it for `wss://`.
pub enum Wire {
    Plain(Bounded),
    Tls(Box<StreamOwned<ClientConnection, Bounded>>),
}

impl Wire {
    /// The bounded socket under any TLS.
    pub fn bounded(&mut self) -> &mut Bounded {
        match self {
            Wire::Plain(b) => b,
            Wire::Tls(s) => &mut s.sock,
        }
    }

    /// The TCP socket, for `TCP_INFO` and timeouts.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Wire::Plain(b) => &b.stream,
            Wire::Tls(s) => &s.sock.stream,
        }
    }
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Wire::Plain(b) => b.read(buf),
            Wire::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Wire::Plain(b) => b.write(buf),
            Wire::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Wire::Plain(b) => b.flush(),
            Wire::Tls(s) => s.flush(),
        }
    }
}

/// What the TLS handshake settled, as printed under `tls`.
#[derive(Clone, Debug, Serialize)]
pub struct TlsInfo {
    /// `TLSv1_3` or `TLSv1_2`.
    pub version: String,
    /// The IANA name, such as `TLS13_AES_128_GCM_SHA256`.
    pub cipher_suite: String,
    /// False with `--insecure`: the certificate and name were not checked.
    pub certificate_checked: bool,
}

/// A TLS client set-up, built once and shared by every connection.
pub struct Config {
    pub client: Arc<ClientConfig>,
    pub trust: Trust,
}

/// The client configuration for `trust`.
///
/// Errors (one line): an unreadable `--ca-file`, one with no PEM
/// certificate, one whose certificates rustls rejects.
pub fn config(trust: &Trust) -> Result<Config, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up failed: {e}"))?;
    let config = match trust {
        Trust::MozillaRoots => {
            let roots: RootCertStore = webpki_roots::TLS_SERVER_ROOTS.iter().cloned().collect();
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        Trust::CaFile(path) => builder
            .with_root_certificates(ca_file(path)?)
            .with_no_client_auth(),
        Trust::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth(),
    };
    Ok(Config {
        client: Arc::new(config),
        trust: trust.clone(),
    })
}

fn ca_file(path: &Path) -> Result<RootCertStore, String> {
    let shown = path.display();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("--ca-file {shown}: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("--ca-file {shown}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("--ca-file {shown}: no PEM certificate in it"));
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| format!("--ca-file {shown}: {e}"))?;
    }
    Ok(roots)
}

/// Runs the TLS handshake on `sock` within its deadline.
///
/// Errors (one line, naming `shown`): the certificate not valid for the
/// host, an unknown issuer, a server that does not speak TLS, a timeout.
pub fn handshake(
    config: Arc<ClientConfig>,
    trust: &Trust,
    host: &str,
    mut sock: Bounded,
    shown: &str,
) -> Result<(Wire, TlsInfo), String> {
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| format!("{host} is not a name TLS can check a certificate against"))?;
    let mut conn =
        ClientConnection::new(config, name).map_err(|e| format!("TLS set-up failed: {e}"))?;
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut sock) {
            return Err(failure(&e, host, shown));
        }
    }
    let info = TlsInfo {
        version: conn
            .protocol_version()
            .map_or_else(|| "unknown".into(), |v| format!("{v:?}")),
        cipher_suite: conn
            .negotiated_cipher_suite()
            .map_or_else(|| "unknown".into(), |s| format!("{:?}", s.suite())),
        certificate_checked: *trust != Trust::Insecure,
    };
    Ok((Wire::Tls(Box::new(StreamOwned::new(conn, sock))), info))
}

/// One line for a failed TLS handshake.
fn failure(e: &std::io::Error, host: &str, shown: &str) -> String {
    use rustls::{CertificateError, Error};
    use std::io::ErrorKind;
    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
        return format!("the TLS handshake with {shown} timed out");
    }
    if e.kind() == ErrorKind::UnexpectedEof {
        return format!("{shown} closed the connection during the TLS handshake");
    }
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<Error>());
    match inner {
        Some(Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        )) => format!("the TLS certificate of {shown} is not valid for {host}"),
        Some(Error::InvalidCertificate(CertificateError::UnknownIssuer)) => format!(
            "the TLS certificate of {shown} has an unknown issuer (--ca-file names your CA)"
        ),
        Some(Error::InvalidCertificate(c)) => {
            format!("the TLS certificate of {shown} was refused: {c:?}")
        }
        Some(Error::InvalidMessage(_)) => {
            format!("{shown} did not answer in TLS (a plain ws:// or HTTP port?)")
        }
        Some(other) => format!("the TLS handshake with {shown} failed: {other}"),
        None => format!("the TLS handshake with {shown} failed: {e}"),
    }
}

/// `--insecure`: accepts any certificate for any name, but still checks
/// the handshake signatures with the provider's algorithms.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
