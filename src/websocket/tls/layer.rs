//! A TLS connection's two directions, and the decision to decrypt it: when
//! the ServerHello is read, the ClientHello's random finds the secrets in
//! the run's key store, the version and suite say how to use them, and both
//! directions get their decryptors before their next record.

use super::decrypt::{Decryptor, Plain};
use super::hello::{ClientHello, ServerHello};
use super::keylog::KeyStore;
use super::suite::Suite;
use super::{KeyContext, TlsReader, TlsSeen};
use crate::evidence::Moment;
use crate::side::{PerSide, Side};

/// What a direction's bytes gave, for the session.
#[derive(Debug, PartialEq, Eq)]
pub enum TlsOut<'a> {
    /// A record of this many bytes (not decrypting).
    Record(u64),
    /// Keys were found: from now on this connection's application data
    /// comes as [`TlsOut::Plain`], in both directions.
    Decrypting,
    /// Application data, or bytes of it lost.
    Plain(Plain<'a>),
}

/// Why a TLS connection was not decrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotDecrypted {
    /// The run has no secrets: no `--tls-keylog`, no Decryption Secrets
    /// Block.
    NoKeylog,
    /// No secrets for this connection's client random.
    NoKey,
    /// A resumed session (RFC 5246 §7.4.1.2 session id echoed; RFC 8446
    /// §4.2.11 `pre_shared_key`) whose secrets are not in the key log.
    ResumedWithoutKeys,
    /// A cipher suite this reader does not decrypt (CBC, export, …).
    UnsupportedSuite,
    /// A version before TLS 1.2.
    UnsupportedVersion,
    /// The ClientHello or ServerHello is not in the capture.
    HandshakeNotCaptured,
}

impl NotDecrypted {
    /// The report's code: `no_keylog`, `no_key`, `resumed_without_keys`,
    /// `unsupported_suite`, `unsupported_version`,
    /// `handshake_not_captured`.
    pub fn code(self) -> &'static str {
        match self {
            NotDecrypted::NoKeylog => "no_keylog",
            NotDecrypted::NoKey => "no_key",
            NotDecrypted::ResumedWithoutKeys => "resumed_without_keys",
            NotDecrypted::UnsupportedSuite => "unsupported_suite",
            NotDecrypted::UnsupportedVersion => "unsupported_version",
            NotDecrypted::HandshakeNotCaptured => "handshake_not_captured",
        }
    }
}

/// Whether and how a connection was decrypted, for the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decryption {
    /// The suite's IANA name when decrypted, else why not.
    pub outcome: Result<&'static str, NotDecrypted>,
    /// Records opened (both directions).
    pub records: u64,
    /// Records that failed to authenticate (both directions).
    pub failed: u64,
}

/// Both directions of a TLS connection.
#[derive(Default)]
pub struct TlsLayer {
    sides: PerSide<Option<TlsReader>>,
    decision: Option<Result<&'static str, NotDecrypted>>,
}

impl TlsLayer {
    /// `side`'s first bytes are here: it is read as TLS from now on
    /// (`began`: they start with a record header).
    pub fn start(&mut self, side: Side, began: bool) {
        self.sides[side] = Some(TlsReader::new(began));
    }

    /// Whether `side`'s bytes are read here.
    pub fn reads(&self, side: Side) -> bool {
        self.sides[side].is_some()
    }

    /// Whether the connection is being decrypted.
    pub fn decrypting(&self) -> bool {
        matches!(self.decision, Some(Ok(_)))
    }

    /// Reads `side`'s in-order bytes; what they hold goes to `out`.
    /// `keys`: the run's secrets.
    pub fn on_data(
        &mut self,
        side: Side,
        bytes: &[u8],
        now: Moment,
        keys: Option<&KeyStore>,
        out: &mut dyn FnMut(TlsOut<'_>),
    ) {
        let (this, other) = self.sides.pair_mut(side);
        let Some(this) = this.as_mut() else {
            return;
        };
        let client_hello = other.as_ref().and_then(|o| o.client_hello());
        let mut decision = None;
        let mut decide = |sh: &ServerHello| {
            let got = decide(keys, client_hello, sh);
            decision = Some(got.as_ref().map(|(s, ..)| s.name).map_err(|e| *e));
            got.ok().map(|(_, client, server)| (server, client))
        };
        let mut ctx = KeyContext {
            decide: &mut decide,
            other: None,
            quiet: keys.is_some_and(|k| !k.is_empty()),
        };
        this.on_data(bytes, now, &mut ctx, out);
        let installed = ctx.other.take();
        if let Some(d) = decision {
            self.decision = Some(d);
        }
        if let (Some(d), Some(other)) = (installed, other.as_mut()) {
            other.set_decryptor(d);
        }
    }

    /// `len` bytes of `side`'s stream are missing.
    pub fn on_gap(&mut self, side: Side, len: u64, out: &mut dyn FnMut(TlsOut<'_>)) {
        if let Some(r) = self.sides[side].as_mut() {
            r.on_gap(len, out);
        }
    }

    /// The roles were swapped.
    pub fn swap_sides(&mut self) {
        self.sides.swap();
    }

    /// Whether a direction began with a TLS record header.
    pub fn began(&self) -> bool {
        Side::BOTH
            .iter()
            .any(|&s| self.sides[s].as_ref().is_some_and(|r| r.began()))
    }

    /// What the hellos said, and whether the connection was decrypted
    /// (`had_keys`: the run had secrets).
    pub fn seen(&self, had_keys: bool) -> TlsSeen<'_> {
        let mut seen = TlsSeen {
            decryption: Some(self.decryption(had_keys)),
            ..TlsSeen::default()
        };
        for side in Side::BOTH {
            if let Some(r) = &self.sides[side] {
                seen.add(side, r);
            }
        }
        seen
    }

    /// Whether and how the connection was decrypted. `keys`: whether the
    /// run had any secrets, for a connection whose ServerHello was never
    /// read.
    pub fn decryption(&self, had_keys: bool) -> Decryption {
        let outcome = self.decision.unwrap_or(Err(if had_keys {
            NotDecrypted::HandshakeNotCaptured
        } else {
            NotDecrypted::NoKeylog
        }));
        let (mut records, mut failed) = (0, 0);
        for side in Side::BOTH {
            if let Some((r, f)) = self.sides[side].as_ref().and_then(|r| r.decrypted()) {
                records += r;
                failed += f;
            }
        }
        Decryption {
            outcome,
            records,
            failed,
        }
    }
}

/// The suite and both directions' decryptors (client's, server's) for a
/// connection whose ServerHello is `sh`, or why it cannot be decrypted.
fn decide(
    keys: Option<&KeyStore>,
    ch: Option<&ClientHello>,
    sh: &ServerHello,
) -> Result<(Suite, Decryptor, Decryptor), NotDecrypted> {
    let Some(keys) = keys.filter(|k| !k.is_empty()) else {
        return Err(NotDecrypted::NoKeylog);
    };
    let ch = ch.ok_or(NotDecrypted::HandshakeNotCaptured)?;
    let tls13 = match sh.version {
        0x0304 => true,
        0x0303 => false,
        _ => return Err(NotDecrypted::UnsupportedVersion),
    };
    let suite = Suite::find(sh.cipher_suite)
        .filter(|s| s.tls13 == tls13)
        .ok_or(NotDecrypted::UnsupportedSuite)?;
    let resumed = if tls13 {
        sh.psk
    } else {
        !ch.session_id.is_empty() && ch.session_id == sh.session_id
    };
    let missing = if resumed {
        NotDecrypted::ResumedWithoutKeys
    } else {
        NotDecrypted::NoKey
    };
    let secrets = keys.get(&ch.random).ok_or(missing)?;
    if tls13 {
        let (Some(c), Some(s)) = (secrets.client_traffic, secrets.server_traffic) else {
            return Err(missing);
        };
        let client = Decryptor::tls13(suite, secrets.client_handshake.as_ref(), &c);
        let server = Decryptor::tls13(suite, secrets.server_handshake.as_ref(), &s);
        match (client, server) {
            (Some(c), Some(s)) => Ok((suite, c, s)),
            _ => Err(missing),
        }
    } else {
        let master = secrets.master.ok_or(missing)?;
        let (c, s) = suite
            .tls12_keys(&master, &ch.random, &sh.random)
            .ok_or(missing)?;
        Ok((
            suite,
            Decryptor::tls12(suite, c),
            Decryptor::tls12(suite, s),
        ))
    }
}
