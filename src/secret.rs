//! Values from the wire that may be secret: URL queries, Origin user info,
//! subprotocol tokens, extension parameters, control-frame payloads, Close
//! reasons.
//!
//! A [`Secret`] has no `Serialize`, no `Display`, and a `Debug` that shows
//! only its length, so no output format can print one by accident. The only
//! way to its bytes is [`Secret::expose`], which the report layer's redactor
//! calls (`report::redact`): one place decides what a user sees.

pub mod pseudonym;

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The key of a run's fingerprints: random per run, or derived from
/// `--redact-key` so two reports can be compared. Holds the HMAC already
/// keyed (RFC 2104's inner and outer pads hashed once), so a fingerprint
/// costs two SHA-256 blocks, not four.
#[derive(Clone)]
pub struct Key(Hmac<Sha256>);

impl Key {
    /// A fresh random key (the operating system's generator).
    pub fn random() -> Result<Key, String> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| format!("no random key for redaction: {e}"))?;
        Ok(Key::from_bytes(&key))
    }

    fn from_bytes(key: &[u8; 32]) -> Key {
        // HMAC takes keys of any length: this cannot fail.
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        Key(mac)
    }

    /// A key from what the user typed (`--redact-key`): the same text gives
    /// the same fingerprints in every run.
    pub fn from_passphrase(text: &str) -> Key {
        use sha2::Digest;
        Key::from_bytes(&Sha256::digest(text.as_bytes()).into())
    }

    /// The first 8 bytes of HMAC-SHA-256(key, bytes) (RFC 2104): equal
    /// values give equal fingerprints, and nobody without the key can test
    /// a guess against one.
    pub fn fingerprint(&self, bytes: &[u8]) -> u64 {
        let mut mac = self.0.clone();
        mac.update(bytes);
        let out = mac.finalize().into_bytes();
        let mut first = [0u8; 8];
        first.copy_from_slice(&out[..8]);
        u64::from_be_bytes(first)
    }
}

impl Default for Key {
    /// A fixed key, for tests.
    fn default() -> Self {
        Key::from_bytes(&[0x5a; 32])
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(..)")
    }
}

/// A value read off the wire that may carry a credential or private data.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The value itself. Only a redactor should call this: anything
    /// printed from it must go through `report::redact`.
    pub fn expose(&self) -> &T {
        &self.0
    }

    pub fn expose_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: AsRef<[u8]>> Secret<T> {
    pub fn len(&self) -> usize {
        self.0.as_ref().len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.as_ref().is_empty()
    }
}

impl<T: AsRef<[u8]>> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.0.as_ref().len())
    }
}

impl From<&str> for Secret<String> {
    fn from(s: &str) -> Self {
        Secret(s.to_string())
    }
}

/// A label long enough and mixed enough to be a credential rather than a
/// name: 16 or more characters of which digits or upper case make a fair
/// share, or any run of 24 or more letters and digits.
pub fn looks_like_token(s: &str) -> bool {
    s.split(['.', '-', '_']).any(|label| {
        let n = label.len();
        let digits = label.bytes().filter(u8::is_ascii_digit).count();
        let upper = label.bytes().filter(u8::is_ascii_uppercase).count();
        n >= 24 || (n >= 16 && (digits + upper) * 4 >= n) || (n >= 8 && upper == n)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_depend_on_the_key() {
        let a = Key::from_passphrase("incident-42");
        let b = Key::from_passphrase("incident-43");
        assert_eq!(a.fingerprint(b"ping"), a.fingerprint(b"ping"));
        assert_ne!(a.fingerprint(b"ping"), a.fingerprint(b"pong"));
        assert_ne!(a.fingerprint(b"ping"), b.fingerprint(b"ping"));
        assert_ne!(
            Key::random().unwrap().fingerprint(b"x"),
            a.fingerprint(b"x")
        );
    }

    #[test]
    fn debug_shows_only_the_length() {
        let s = Secret::new("token=hunter2".to_string());
        assert_eq!(format!("{s:?}"), "Secret(13 bytes)");
        assert_eq!(s.expose(), "token=hunter2");
    }
}
