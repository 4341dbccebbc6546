//! One direction's record decryption, once its keys are known: records are
//! collected whole (at most one record's bytes are held, and only while it
//! is incomplete), opened with the direction's AEAD key, and their
//! application data handed on in order.
//!
//! TLS 1.2 (RFC 5246 §7.1): records are in the clear until the direction's
//! ChangeCipherSpec; from it on, every record is protected with the key
//! block's key, sequence numbers from 0.
//!
//! TLS 1.3 (RFC 8446 §5.2, §7): every protected record has the outer type
//! application_data; its inner content type is the last non-zero byte of
//! the plaintext. The direction's handshake messages (EncryptedExtensions
//! … Finished) use the handshake traffic key; after its Finished, the
//! application traffic key. A KeyUpdate (§4.6.3) moves the direction to the
//! next traffic secret (§7.2). Handshake messages are followed by their
//! 4-byte headers only, never kept.

use super::keylog::SecretBytes;
use super::suite::{RecordKey, Suite};

/// RFC 8446 §5.1 content types.
const CHANGE_CIPHER_SPEC: u8 = 20;
const HANDSHAKE: u8 = 22;
const APPLICATION_DATA: u8 = 23;

/// RFC 8446 §4 handshake message types.
const FINISHED: u8 = 20;
const KEY_UPDATE: u8 = 24;

/// What a decrypted record gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Plain<'a> {
    /// Application data bytes, in stream order.
    Data(&'a [u8]),
    /// About this many application bytes cannot be read: a record failed
    /// to authenticate, or a capture gap cut it.
    Lost(u64),
}

/// Where the direction is in its key schedule. The handshake variant holds
/// two keys for the few records of a handshake; the whole decryptor is
/// boxed, one per direction, so its size is the larger variant's either way.
#[allow(clippy::large_enum_variant)]
enum Phase {
    /// TLS 1.2, before this direction's ChangeCipherSpec.
    Tls12Clear(RecordKey),
    /// TLS 1.2, protected.
    Tls12(RecordKey),
    /// TLS 1.3, before this direction's Finished: the handshake key, and
    /// the first application key (tried when the handshake key fails: a
    /// capture that missed the Finished still reads on).
    Tls13Handshake(Option<RecordKey>, RecordKey),
    /// TLS 1.3 application data.
    Tls13(RecordKey),
    /// Nothing more can be read (record boundaries lost).
    Dead,
}

/// One direction's decryptor.
pub struct Decryptor {
    suite: Suite,
    phase: Phase,
    /// The TLS 1.3 application traffic secret in use (for KeyUpdate).
    secret: Option<SecretBytes>,
    header: [u8; 5],
    /// The current record's bytes so far (freed between reads).
    buf: Vec<u8>,
    /// Payload bytes of the current record still to come.
    left: usize,
    /// A gap cut the current record.
    cut: bool,
    walk: Walk,
    /// Records opened.
    pub decrypted: u64,
    /// Records that did not authenticate (tampered, or wrong keys).
    pub failed: u64,
}

impl std::fmt::Debug for Decryptor {
    /// The suite and counts, never a key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decryptor")
            .field("suite", &self.suite.name)
            .field("decrypted", &self.decrypted)
            .field("failed", &self.failed)
            .finish()
    }
}

impl Decryptor {
    /// A TLS 1.2 direction with its key from the key block.
    pub fn tls12(suite: Suite, key: RecordKey) -> Self {
        Decryptor::new(suite, Phase::Tls12Clear(key), None)
    }

    /// A TLS 1.3 direction: its handshake traffic secret (if logged) and
    /// its first application traffic secret. `None` when a secret does not
    /// fit the suite.
    pub fn tls13(
        suite: Suite,
        handshake: Option<&SecretBytes>,
        traffic: &SecretBytes,
    ) -> Option<Self> {
        let hs = handshake.and_then(|s| suite.tls13_key(s));
        let app = suite.tls13_key(traffic)?;
        Some(Decryptor::new(
            suite,
            Phase::Tls13Handshake(hs, app),
            Some(*traffic),
        ))
    }

    fn new(suite: Suite, phase: Phase, secret: Option<SecretBytes>) -> Self {
        Decryptor {
            suite,
            phase,
            secret,
            header: [0; 5],
            buf: Vec::new(),
            left: 0,
            cut: false,
            walk: Walk::default(),
            decrypted: 0,
            failed: 0,
        }
    }

    /// A record header (type, version, length) begins a record.
    pub fn begin(&mut self, kind: u8, version: u16, len: u64, out: &mut dyn FnMut(Plain<'_>)) {
        let [hi, lo] = version.to_be_bytes();
        let [lh, ll] = (len as u16).to_be_bytes();
        self.header = [kind, hi, lo, lh, ll];
        self.buf.clear();
        self.left = len as usize;
        self.cut = false;
        if self.left == 0 {
            self.finish(out);
        }
    }

    /// Payload bytes of the current record.
    pub fn payload(&mut self, bytes: &[u8], out: &mut dyn FnMut(Plain<'_>)) {
        let n = bytes.len().min(self.left);
        if !self.cut {
            self.buf.extend_from_slice(&bytes[..n]);
        }
        self.left -= n;
        if self.left == 0 {
            self.finish(out);
        }
    }

    /// `len` bytes of the current record are missing (the record reader
    /// kept its boundaries): the record cannot be opened, but the ones
    /// after it can.
    pub fn gap(&mut self, len: u64, out: &mut dyn FnMut(Plain<'_>)) {
        self.cut = true;
        self.buf = Vec::new();
        self.left = self.left.saturating_sub(len as usize);
        if self.left == 0 {
            self.finish(out);
        }
    }

    /// Record boundaries were lost: nothing more can be read.
    pub fn lose(&mut self) {
        self.phase = Phase::Dead;
        self.buf = Vec::new();
    }

    /// Between reads: a record not in progress holds no bytes.
    pub fn idle(&mut self) {
        if self.left == 0 {
            self.buf = Vec::new();
        }
    }

    /// Whether the direction's protected records are being read.
    pub fn is_dead(&self) -> bool {
        matches!(self.phase, Phase::Dead)
    }

    /// Bytes of application data a record of `len` protected bytes held,
    /// about (TLS 1.3 padding is unknown).
    fn overhead(&self, len: usize) -> u64 {
        let over = match self.phase {
            Phase::Tls12Clear(_) | Phase::Tls12(_) if self.suite.cipher.explicit_nonce() => 24,
            Phase::Tls13Handshake(..) | Phase::Tls13(_) => 17,
            _ => 16,
        };
        len.saturating_sub(over) as u64
    }

    fn finish(&mut self, out: &mut dyn FnMut(Plain<'_>)) {
        let kind = self.header[0];
        let len = u16::from_be_bytes([self.header[3], self.header[4]]) as usize;
        let protected = match &self.phase {
            Phase::Dead => false,
            Phase::Tls12Clear(_) => {
                if kind == CHANGE_CIPHER_SPEC {
                    // RFC 5246 §7.1: the records after it are protected.
                    let Phase::Tls12Clear(key) = std::mem::replace(&mut self.phase, Phase::Dead)
                    else {
                        unreachable!()
                    };
                    self.phase = Phase::Tls12(key);
                }
                false
            }
            Phase::Tls12(_) => kind != CHANGE_CIPHER_SPEC,
            // RFC 8446 §5: a ChangeCipherSpec, alerts in the clear and the
            // ServerHello are not protected.
            Phase::Tls13Handshake(..) | Phase::Tls13(_) => kind == APPLICATION_DATA,
        };
        if !protected {
            return;
        }
        if self.cut {
            self.advance();
            return out(Plain::Lost(self.overhead(len)));
        }
        let lost = self.overhead(len);
        let header = self.header;
        let mut buf = std::mem::take(&mut self.buf);
        let opened = self.open(header, &mut buf);
        match opened {
            // Without the handshake secret, a record the application key
            // does not open is the handshake's: nothing to read, no failure.
            None if matches!(self.phase, Phase::Tls13Handshake(None, _)) => {}
            None => {
                self.failed += 1;
                out(Plain::Lost(lost));
            }
            Some((inner, range)) => {
                self.decrypted += 1;
                let body = &buf[range];
                match inner {
                    APPLICATION_DATA if !body.is_empty() => out(Plain::Data(body)),
                    HANDSHAKE => self.handshake(body),
                    _ => {}
                }
            }
        }
        buf.clear();
        self.buf = buf;
    }

    /// A record that cannot be opened still takes its sequence number.
    fn advance(&mut self) {
        match &mut self.phase {
            Phase::Tls12(k) | Phase::Tls13(k) => k.skip(),
            Phase::Tls13Handshake(Some(k), _) => k.skip(),
            _ => {}
        }
    }

    /// Opens the record in `buf`: the inner content type and the range of
    /// its content in `buf`.
    fn open(&mut self, header: [u8; 5], buf: &mut [u8]) -> Option<(u8, std::ops::Range<usize>)> {
        match &mut self.phase {
            Phase::Tls12(key) => {
                let kind = header[0];
                let base = buf.as_ptr() as usize;
                let plain = key.open(header, buf)?;
                let from = plain.as_ptr() as usize - base;
                Some((kind, from..from + plain.len()))
            }
            Phase::Tls13(key) => {
                let base = buf.as_ptr() as usize;
                let plain = key.open(header, buf)?;
                let from = plain.as_ptr() as usize - base;
                inner(plain).map(|(k, n)| (k, from..from + n))
            }
            Phase::Tls13Handshake(hs, app) => {
                let base = buf.as_ptr() as usize;
                if let Some(hs) = hs {
                    let copy = buf.to_vec();
                    if let Some(plain) = hs.open(header, buf) {
                        let from = plain.as_ptr() as usize - base;
                        return inner(plain).map(|(k, n)| (k, from..from + n));
                    }
                    buf.copy_from_slice(&copy);
                }
                // Not a handshake record of this key: the first record of
                // the application key, if it opens with it.
                let seq = app.seq();
                let Some(plain) = app.open(header, buf) else {
                    app.set_seq(seq);
                    return None;
                };
                let from = plain.as_ptr() as usize - base;
                let got = inner(plain).map(|(k, n)| (k, from..from + n));
                let Phase::Tls13Handshake(_, app) = std::mem::replace(&mut self.phase, Phase::Dead)
                else {
                    unreachable!()
                };
                self.phase = Phase::Tls13(app);
                self.walk = Walk::default();
                got
            }
            Phase::Tls12Clear(_) | Phase::Dead => None,
        }
    }

    /// Handshake messages in a protected record: a TLS 1.3 Finished ends
    /// the handshake keys; a KeyUpdate moves to the next secret.
    fn handshake(&mut self, body: &[u8]) {
        let mut finished = false;
        let mut update = false;
        self.walk.on(body, &mut |kind| match kind {
            FINISHED => finished = true,
            KEY_UPDATE => update = true,
            _ => {}
        });
        if finished {
            if let Phase::Tls13Handshake(..) = self.phase {
                let Phase::Tls13Handshake(_, app) = std::mem::replace(&mut self.phase, Phase::Dead)
                else {
                    unreachable!()
                };
                self.phase = Phase::Tls13(app);
                self.walk = Walk::default();
            }
        }
        if update {
            if let (Phase::Tls13(_), Some(secret)) = (&self.phase, self.secret) {
                let next = self.suite.next_secret(&secret);
                let key = next.and_then(|s| self.suite.tls13_key(&s));
                self.secret = next;
                self.phase = key.map_or(Phase::Dead, Phase::Tls13);
            }
        }
    }
}

/// RFC 8446 §5.2: the inner plaintext is content, then the content type,
/// then zero padding: the type and the content's length. `None` when it is
/// all zeros.
fn inner(plain: &[u8]) -> Option<(u8, usize)> {
    let at = plain.iter().rposition(|&b| b != 0)?;
    Some((plain[at], at))
}

/// Follows handshake message headers (RFC 8446 §4: type, 24-bit length)
/// across records, reporting each message's type when it is whole.
#[derive(Clone, Copy, Debug, Default)]
struct Walk {
    head: [u8; 4],
    have: u8,
    left: u32,
}

impl Walk {
    fn on(&mut self, mut bytes: &[u8], done: &mut dyn FnMut(u8)) {
        while !bytes.is_empty() {
            if self.left > 0 {
                let n = (self.left as usize).min(bytes.len());
                self.left -= n as u32;
                bytes = &bytes[n..];
                if self.left == 0 {
                    done(self.head[0]);
                }
                continue;
            }
            self.head[self.have as usize] = bytes[0];
            self.have += 1;
            bytes = &bytes[1..];
            if self.have == 4 {
                self.have = 0;
                let [kind, a, b, c] = self.head;
                self.left = u32::from_be_bytes([0, a, b, c]);
                if self.left == 0 {
                    done(kind);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inner_content_type_is_the_last_non_zero_byte() {
        assert_eq!(inner(b"hello\x17\0\0\0"), Some((APPLICATION_DATA, 5)));
        assert_eq!(inner(b"\x16"), Some((HANDSHAKE, 0)));
        // All padding: no content type, not a record to read.
        assert_eq!(inner(&[0, 0, 0]), None);
    }

    #[test]
    fn handshake_messages_are_followed_across_records() {
        // EncryptedExtensions (8, 2 bytes), then a Finished (20, 32 bytes)
        // whose header and body are split over three records.
        let mut stream = vec![8, 0, 0, 2, 0, 0, FINISHED, 0, 0, 32];
        stream.extend([0xaa; 32]);
        for cut in [1, 7, 11, 40] {
            let mut w = Walk::default();
            let mut seen = Vec::new();
            let (a, b) = stream.split_at(cut);
            let (b, c) = b.split_at(b.len() / 2);
            for part in [a, b, c] {
                w.on(part, &mut |k| seen.push(k));
            }
            assert_eq!(seen, vec![8, FINISHED], "cut at {cut}");
        }
    }
}
