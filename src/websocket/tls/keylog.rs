//! TLS secrets in the NSS key log format (the `SSLKEYLOGFILE` format that
//! NSS, OpenSSL, BoringSSL, Python's `SSLContext.keylog_filename`, Node's
//! `--tls-keylog` and Wireshark all read and write): one secret a line,
//! `LABEL <client random, 64 hex digits> <secret in hex>`, `#` comments.
//!
//! The labels used: `CLIENT_RANDOM` (the TLS 1.2 master secret, 48 bytes,
//! RFC 5246 §8.1) and the TLS 1.3 traffic secrets of RFC 8446 §7.1
//! (`CLIENT_HANDSHAKE_TRAFFIC_SECRET`, `SERVER_HANDSHAKE_TRAFFIC_SECRET`,
//! `CLIENT_TRAFFIC_SECRET_0`, `SERVER_TRAFFIC_SECRET_0`). The early-data and
//! exporter secrets are valid lines but not needed. A connection is matched
//! to its secrets by its ClientHello's random (RFC 8446 §4.1.2).
//!
//! The same text rides in pcapng Decryption Secrets Blocks (secrets type
//! `TLSK`, draft-ietf-opsawg-pcapng §4.7). Secrets are held only in memory,
//! never printed: [`TrafficSecrets`] has a `Debug` that shows which secrets
//! it holds, not their bytes.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::RwLock;

/// The client random a connection's secrets are filed under.
pub type ClientRandom = [u8; 32];

/// Longest secret kept: SHA-384's output (48 bytes), the TLS 1.2 master
/// secret's length too.
const MAX_SECRET: usize = 48;

/// A secret of 32 or 48 bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SecretBytes {
    bytes: [u8; MAX_SECRET],
    len: u8,
}

impl SecretBytes {
    /// `None` when `bytes` is empty or longer than 48 bytes.
    pub fn new(bytes: &[u8]) -> Option<Self> {
        if bytes.is_empty() || bytes.len() > MAX_SECRET {
            return None;
        }
        let mut out = SecretBytes {
            bytes: [0; MAX_SECRET],
            len: bytes.len() as u8,
        };
        out.bytes[..bytes.len()].copy_from_slice(bytes);
        Some(out)
    }

    /// The secret's bytes (for key derivation only).
    pub fn expose(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes({} bytes)", self.len)
    }
}

/// What a key log holds for one connection.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct TrafficSecrets {
    /// `CLIENT_RANDOM`: the TLS 1.2 master secret (48 bytes).
    pub master: Option<SecretBytes>,
    /// `CLIENT_HANDSHAKE_TRAFFIC_SECRET` (TLS 1.3).
    pub client_handshake: Option<SecretBytes>,
    /// `SERVER_HANDSHAKE_TRAFFIC_SECRET` (TLS 1.3).
    pub server_handshake: Option<SecretBytes>,
    /// `CLIENT_TRAFFIC_SECRET_0` (TLS 1.3).
    pub client_traffic: Option<SecretBytes>,
    /// `SERVER_TRAFFIC_SECRET_0` (TLS 1.3).
    pub server_traffic: Option<SecretBytes>,
}

impl fmt::Debug for TrafficSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrafficSecrets")
            .field("master", &self.master.is_some())
            .field("client_handshake", &self.client_handshake.is_some())
            .field("server_handshake", &self.server_handshake.is_some())
            .field("client_traffic", &self.client_traffic.is_some())
            .field("server_traffic", &self.server_traffic.is_some())
            .finish()
    }
}

/// Lines of a key log text that were not understood.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// How many lines.
    pub lines: usize,
    /// The first one's number (1-based).
    pub first: Option<usize>,
}

/// Secrets by client random.
#[derive(Default)]
pub struct KeyLog {
    by_random: HashMap<ClientRandom, TrafficSecrets>,
}

impl fmt::Debug for KeyLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyLog({} connections)", self.by_random.len())
    }
}

impl KeyLog {
    /// Reads a key log file. Errors (one line, naming the file): it cannot
    /// be read, it holds no key log line at all (empty, or only comments),
    /// or it holds lines but none is a key log line (the first such line
    /// is named). Lines not understood in a file that has good
    /// ones are skipped and counted in the returned [`Skipped`]. The file
    /// is only read, never written or copied.
    pub fn read_file(path: &Path) -> Result<(KeyLog, Skipped), String> {
        let text = std::fs::read(path)
            .map_err(|e| format!("{}: cannot read key log: {e}", path.display()))?;
        let mut log = KeyLog::default();
        let skipped = log.add_text(&text);
        if log.by_random.is_empty() {
            return Err(match skipped.first {
                Some(line) => format!(
                    "{}: line {line}: not a key log line (want LABEL CLIENT_RANDOM SECRET, in hex)",
                    path.display()
                ),
                // An empty file decrypts nothing: said, not passed over.
                None => format!(
                    "{}: no key log line in it (it is empty, or holds only comments)",
                    path.display()
                ),
            });
        }
        Ok((log, skipped))
    }

    /// Adds the secrets in `text` (key log lines); returns the lines that
    /// were not understood. Blank lines and `#` comments are not counted.
    pub fn add_text(&mut self, text: &[u8]) -> Skipped {
        let mut skipped = Skipped::default();
        for (n, line) in text.split(|&b| b == b'\n').enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let line = line.trim_ascii();
            if line.is_empty() || line.starts_with(b"#") {
                continue;
            }
            if !self.add_line(line) {
                skipped.lines += 1;
                skipped.first.get_or_insert(n + 1);
            }
        }
        skipped
    }

    fn add_line(&mut self, line: &[u8]) -> bool {
        let mut words = line
            .split(|b| b.is_ascii_whitespace())
            .filter(|w| !w.is_empty());
        let (Some(label), Some(random), Some(secret), None) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            return false;
        };
        let mut r = [0u8; 32];
        let mut s = [0u8; MAX_SECRET];
        if !unhex(random, &mut r) || secret.len() % 2 != 0 || secret.len() / 2 > MAX_SECRET {
            return false;
        }
        let s = &mut s[..secret.len() / 2];
        if !unhex(secret, s) {
            return false;
        }
        let Some(value) = SecretBytes::new(s) else {
            return false;
        };
        let entry = self.by_random.entry(r).or_default();
        let slot = match label {
            b"CLIENT_RANDOM" if s.len() == 48 => &mut entry.master,
            b"CLIENT_HANDSHAKE_TRAFFIC_SECRET" => &mut entry.client_handshake,
            b"SERVER_HANDSHAKE_TRAFFIC_SECRET" => &mut entry.server_handshake,
            b"CLIENT_TRAFFIC_SECRET_0" => &mut entry.client_traffic,
            b"SERVER_TRAFFIC_SECRET_0" => &mut entry.server_traffic,
            // Valid, not needed to read application data.
            b"CLIENT_EARLY_TRAFFIC_SECRET" | b"EXPORTER_SECRET" | b"EARLY_EXPORTER_SECRET" => {
                return true
            }
            _ => {
                if *entry == TrafficSecrets::default() {
                    self.by_random.remove(&r);
                }
                return false;
            }
        };
        *slot = Some(value);
        true
    }

    /// The secrets filed under `random`.
    pub fn get(&self, random: &ClientRandom) -> Option<TrafficSecrets> {
        self.by_random.get(random).copied()
    }

    /// How many connections have secrets.
    pub fn len(&self) -> usize {
        self.by_random.len()
    }

    /// Whether no connection has secrets.
    pub fn is_empty(&self) -> bool {
        self.by_random.is_empty()
    }
}

/// Decodes `hex` (exactly twice `out.len()` digits, either case) into
/// `out`; false on any other input.
fn unhex(hex: &[u8], out: &mut [u8]) -> bool {
    if hex.len() != out.len() * 2 {
        return false;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let (Some(hi), Some(lo)) = (digit(pair[0]), digit(pair[1])) else {
            return false;
        };
        *o = hi << 4 | lo;
    }
    true
}

/// A run's secrets, shared by every connection: the `--tls-keylog` file,
/// and the Decryption Secrets Blocks met while reading (added as they come,
/// so the lock). A connection looks its secrets up once, when its
/// ServerHello is read.
#[derive(Debug, Default)]
pub struct KeyStore {
    log: RwLock<KeyLog>,
}

impl KeyStore {
    pub fn new(log: KeyLog) -> Self {
        KeyStore {
            log: RwLock::new(log),
        }
    }

    /// Adds key log text (from a Decryption Secrets Block); returns the
    /// lines not understood.
    pub fn add_text(&self, text: &[u8]) -> Skipped {
        let mut log = self.log.write().unwrap_or_else(|e| e.into_inner());
        log.add_text(text)
    }

    /// The secrets filed under `random`.
    pub fn get(&self, random: &ClientRandom) -> Option<TrafficSecrets> {
        let log = self.log.read().unwrap_or_else(|e| e.into_inner());
        log.get(random)
    }

    /// Whether the run has no secrets at all (no key log given, no
    /// Decryption Secrets Block read so far).
    pub fn is_empty(&self) -> bool {
        let log = self.log.read().unwrap_or_else(|e| e.into_inner());
        log.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tls12_and_tls13_lines_and_counts_garbage() {
        let r = "ab".repeat(32);
        let text = format!(
            "# a comment\n\nCLIENT_RANDOM {r} {m}\r\nCLIENT_TRAFFIC_SECRET_0 {r} {s}\n\
             garbage here\nSERVER_TRAFFIC_SECRET_0 {r} zz{s}\nEXPORTER_SECRET {r} {s}\n",
            m = "11".repeat(48),
            s = "22".repeat(32),
        );
        let mut log = KeyLog::default();
        let skipped = log.add_text(text.as_bytes());
        assert_eq!(skipped.lines, 2);
        assert_eq!(skipped.first, Some(5));
        let got = log.get(&[0xab; 32]).unwrap();
        assert_eq!(got.master.unwrap().expose(), &[0x11; 48][..]);
        assert_eq!(got.client_traffic.unwrap().expose(), &[0x22; 32][..]);
        assert!(got.server_traffic.is_none());
        assert!(log.get(&[0; 32]).is_none());
        // Debug never shows a secret's bytes.
        assert!(!format!("{got:?}").contains("22"));
    }

    #[test]
    fn a_file_of_nothing_but_garbage_is_an_error_naming_file_and_line() {
        let dir = std::env::temp_dir().join(format!("wspulse-keylog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.keys");
        std::fs::write(&path, "# header\nnot a key log\n").unwrap();
        let err = KeyLog::read_file(&path).unwrap_err();
        assert!(err.contains("bad.keys: line 2"), "{err}");
        assert!(!err.contains('\n'));
        let missing = KeyLog::read_file(&dir.join("none.keys")).unwrap_err();
        assert!(missing.contains("none.keys: cannot read"), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
