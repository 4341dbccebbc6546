//! Cipher suites this reader decrypts, and the derivation of a direction's
//! record key from the logged secrets: the TLS 1.3 key schedule (RFC 8446
//! §7.1, §7.3) and the TLS 1.2 PRF key expansion (RFC 5246 §5, §6.3).
//!
//! The AEAD suites only: AES-128-GCM and AES-256-GCM (RFC 5288 for TLS
//! 1.2, RFC 8446 §B.4 for TLS 1.3) and ChaCha20-Poly1305 (RFC 7905, RFC
//! 8446 §B.4). CBC suites are reported as unsupported. The primitives are
//! `ring`'s, the crypto provider rustls already links for the probe.

use ring::{aead, hmac};

use super::keylog::SecretBytes;

/// The bulk cipher of a suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cipher {
    Aes128Gcm,
    Aes256Gcm,
    ChaCha20Poly1305,
}

impl Cipher {
    fn algorithm(self) -> &'static aead::Algorithm {
        match self {
            Cipher::Aes128Gcm => &aead::AES_128_GCM,
            Cipher::Aes256Gcm => &aead::AES_256_GCM,
            Cipher::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
        }
    }

    /// Whether TLS 1.2 records carry an 8-byte explicit nonce (RFC 5288
    /// §3: the GCM suites; RFC 7905 §2: not ChaCha20-Poly1305).
    pub fn explicit_nonce(self) -> bool {
        self != Cipher::ChaCha20Poly1305
    }

    fn key_len(self) -> usize {
        self.algorithm().key_len()
    }
}

/// A supported cipher suite: its IANA name, cipher and PRF hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Suite {
    pub id: u16,
    pub name: &'static str,
    pub cipher: Cipher,
    /// SHA-384 (else SHA-256) is the HKDF / PRF hash.
    pub sha384: bool,
    /// A TLS 1.3 suite (RFC 8446 §B.4).
    pub tls13: bool,
}

const fn s(id: u16, name: &'static str, cipher: Cipher, sha384: bool, tls13: bool) -> Suite {
    Suite {
        id,
        name,
        cipher,
        sha384,
        tls13,
    }
}

use Cipher::{Aes128Gcm as A128, Aes256Gcm as A256, ChaCha20Poly1305 as C20};

/// RFC 8446 §B.4, RFC 5288 §3, RFC 5289 §3.2, RFC 7905 §2.
const SUITES: [Suite; 14] = [
    s(0x1301, "TLS_AES_128_GCM_SHA256", A128, false, true),
    s(0x1302, "TLS_AES_256_GCM_SHA384", A256, true, true),
    s(0x1303, "TLS_CHACHA20_POLY1305_SHA256", C20, false, true),
    s(
        0xc02b,
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        A128,
        false,
        false,
    ),
    s(
        0xc02c,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        A256,
        true,
        false,
    ),
    s(
        0xc02f,
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        A128,
        false,
        false,
    ),
    s(
        0xc030,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        A256,
        true,
        false,
    ),
    s(
        0xcca8,
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        C20,
        false,
        false,
    ),
    s(
        0xcca9,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        C20,
        false,
        false,
    ),
    s(
        0xccaa,
        "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        C20,
        false,
        false,
    ),
    s(
        0x009c,
        "TLS_RSA_WITH_AES_128_GCM_SHA256",
        A128,
        false,
        false,
    ),
    s(0x009d, "TLS_RSA_WITH_AES_256_GCM_SHA384", A256, true, false),
    s(
        0x009e,
        "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
        A128,
        false,
        false,
    ),
    s(
        0x009f,
        "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
        A256,
        true,
        false,
    ),
];

impl Suite {
    /// The suite with IANA number `id`, if this reader decrypts it.
    pub fn find(id: u16) -> Option<Suite> {
        SUITES.iter().copied().find(|s| s.id == id)
    }

    fn hmac(self) -> hmac::Algorithm {
        if self.sha384 {
            hmac::HMAC_SHA384
        } else {
            hmac::HMAC_SHA256
        }
    }

    /// The hash's output length in bytes (32 or 48).
    pub fn hash_len(self) -> usize {
        if self.sha384 {
            48
        } else {
            32
        }
    }

    /// A TLS 1.3 traffic key and IV from a traffic secret (RFC 8446 §7.3:
    /// `key = HKDF-Expand-Label(Secret, "key", "", key_length)`, `iv =
    /// HKDF-Expand-Label(Secret, "iv", "", 12)`). `None` when the secret is
    /// not the hash's length.
    pub fn tls13_key(self, secret: &SecretBytes) -> Option<RecordKey> {
        let secret = secret.expose();
        if secret.len() != self.hash_len() {
            return None;
        }
        let mut key = [0u8; 32];
        let key = &mut key[..self.cipher.key_len()];
        let mut iv = [0u8; 12];
        self.expand_label(secret, b"key", key);
        self.expand_label(secret, b"iv", &mut iv);
        RecordKey::new(self.cipher, key, iv, Nonce::Tls13)
    }

    /// The next traffic secret after a KeyUpdate (RFC 8446 §7.2:
    /// `HKDF-Expand-Label(application_traffic_secret_N, "traffic upd", "",
    /// Hash.length)`).
    pub fn next_secret(self, secret: &SecretBytes) -> Option<SecretBytes> {
        let mut out = [0u8; 48];
        let out = &mut out[..self.hash_len()];
        self.expand_label(secret.expose(), b"traffic upd", out);
        SecretBytes::new(out)
    }

    /// RFC 8446 §7.1 HKDF-Expand-Label with an empty context: HKDF-Expand
    /// (RFC 5869 §2.3) of `HkdfLabel { length, "tls13 " + label, "" }`.
    fn expand_label(self, secret: &[u8], label: &[u8], out: &mut [u8]) {
        let mut info = Vec::with_capacity(4 + 6 + label.len());
        info.extend((out.len() as u16).to_be_bytes());
        info.push((6 + label.len()) as u8);
        info.extend(b"tls13 ");
        info.extend(label);
        info.push(0);
        let prk = hmac::Key::new(self.hmac(), secret);
        let mut t: Vec<u8> = Vec::new();
        for (i, chunk) in out.chunks_mut(self.hash_len()).enumerate() {
            let mut ctx = hmac::Context::with_key(&prk);
            ctx.update(&t);
            ctx.update(&info);
            ctx.update(&[i as u8 + 1]);
            t = ctx.sign().as_ref().to_vec();
            chunk.copy_from_slice(&t[..chunk.len()]);
        }
    }

    /// The TLS 1.2 record keys of both directions (client's, server's) from
    /// the master secret (RFC 5246 §6.3: `key_block = PRF(master_secret,
    /// "key expansion", server_random + client_random)`, cut into
    /// client_write_key, server_write_key, client_write_IV,
    /// server_write_IV; AEAD suites have no MAC keys). The IV is the 4-byte
    /// salt of RFC 5288 §3 or the 12-byte nonce base of RFC 7905 §2.
    pub fn tls12_keys(
        self,
        master: &SecretBytes,
        client_random: &[u8; 32],
        server_random: &[u8; 32],
    ) -> Option<(RecordKey, RecordKey)> {
        let key_len = self.cipher.key_len();
        let iv_len = match self.cipher {
            Cipher::ChaCha20Poly1305 => 12,
            _ => 4,
        };
        let mut seed = [0u8; 64];
        seed[..32].copy_from_slice(server_random);
        seed[32..].copy_from_slice(client_random);
        let mut block = [0u8; 2 * 32 + 2 * 12];
        let block = &mut block[..2 * key_len + 2 * iv_len];
        self.prf(master.expose(), b"key expansion", &seed, block);
        let (keys, ivs) = block.split_at(2 * key_len);
        let nonce = match self.cipher {
            Cipher::ChaCha20Poly1305 => Nonce::Tls12Xor,
            _ => Nonce::Tls12Explicit,
        };
        let iv = |b: &[u8]| {
            let mut iv = [0u8; 12];
            iv[..b.len()].copy_from_slice(b);
            iv
        };
        let client = RecordKey::new(self.cipher, &keys[..key_len], iv(&ivs[..iv_len]), nonce)?;
        let server = RecordKey::new(self.cipher, &keys[key_len..], iv(&ivs[iv_len..]), nonce)?;
        Some((client, server))
    }

    /// RFC 5246 §5: `PRF(secret, label, seed) = P_hash(secret, label +
    /// seed)`, `P_hash` = HMAC(secret, A(i) + seed) for A(i) = HMAC(secret,
    /// A(i-1)), A(0) = label + seed.
    fn prf(self, secret: &[u8], label: &[u8], seed: &[u8], out: &mut [u8]) {
        let key = hmac::Key::new(self.hmac(), secret);
        let mut label_seed = label.to_vec();
        label_seed.extend(seed);
        let mut a = hmac::sign(&key, &label_seed).as_ref().to_vec();
        for chunk in out.chunks_mut(self.hash_len()) {
            let mut ctx = hmac::Context::with_key(&key);
            ctx.update(&a);
            ctx.update(&label_seed);
            let block = ctx.sign();
            chunk.copy_from_slice(&block.as_ref()[..chunk.len()]);
            a = hmac::sign(&key, &a).as_ref().to_vec();
        }
    }
}

/// How a record's nonce is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Nonce {
    /// RFC 8446 §5.3: the IV XOR the 64-bit sequence number, left-padded.
    Tls13,
    /// RFC 5288 §3: 4-byte salt + the record's 8-byte explicit nonce.
    Tls12Explicit,
    /// RFC 7905 §2: as TLS 1.3, no explicit nonce.
    Tls12Xor,
}

/// One direction's record protection: the AEAD key, its IV and the
/// record sequence number (RFC 8446 §5.3, RFC 5246 §6.1).
pub struct RecordKey {
    key: aead::LessSafeKey,
    iv: [u8; 12],
    nonce: Nonce,
    seq: u64,
}

/// RFC 8446 §5.2: the AEAD tag (16 bytes for every supported cipher).
const TAG: usize = 16;

impl RecordKey {
    fn new(cipher: Cipher, key: &[u8], iv: [u8; 12], nonce: Nonce) -> Option<Self> {
        let key = aead::UnboundKey::new(cipher.algorithm(), key).ok()?;
        Some(RecordKey {
            key: aead::LessSafeKey::new(key),
            iv,
            nonce,
            seq: 0,
        })
    }

    /// The sequence number of the next record.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Puts the sequence number back (after trying a record that turned out
    /// not to be this key's).
    pub fn set_seq(&mut self, seq: u64) {
        self.seq = seq;
    }

    /// A record that could not be read still takes its sequence number.
    pub fn skip(&mut self) {
        self.seq = self.seq.wrapping_add(1);
    }

    /// Decrypts one record in place: `header` is its 5-byte header,
    /// `payload` its bytes. Returns the plaintext (TLS 1.3: the inner
    /// plaintext, content type and padding still on) or `None` when it does
    /// not authenticate. The sequence number advances either way, so one
    /// bad record does not lose the ones after it.
    pub fn open<'a>(&mut self, header: [u8; 5], payload: &'a mut [u8]) -> Option<&'a mut [u8]> {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let xor = |iv: [u8; 12]| {
            let mut n = iv;
            for (b, s) in n[4..].iter_mut().zip(seq.to_be_bytes()) {
                *b ^= s;
            }
            n
        };
        // The additional data: at most 13 bytes, no allocation per record.
        let mut aad = [0u8; 13];
        let (nonce, body, aad) = match self.nonce {
            Nonce::Tls13 => {
                aad[..5].copy_from_slice(&header);
                (xor(self.iv), payload, &aad[..5])
            }
            Nonce::Tls12Explicit | Nonce::Tls12Xor => {
                let (nonce, body) = if self.nonce == Nonce::Tls12Explicit {
                    if payload.len() < 8 {
                        return None;
                    }
                    let (explicit, body) = payload.split_at_mut(8);
                    let mut n = self.iv;
                    n[4..].copy_from_slice(explicit);
                    (n, body)
                } else {
                    (xor(self.iv), payload)
                };
                // RFC 5246 §6.2.3.3: seq_num + type + version + length of
                // the plaintext.
                let plain = body.len().checked_sub(TAG)? as u16;
                aad[..8].copy_from_slice(&seq.to_be_bytes());
                aad[8..11].copy_from_slice(&header[..3]);
                aad[11..].copy_from_slice(&plain.to_be_bytes());
                (nonce, body, &aad[..])
            }
        };
        let nonce = aead::Nonce::assume_unique_for_key(nonce);
        self.key
            .open_in_place(nonce, aead::Aad::from(aad), body)
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8448 §3 (Simple 1-RTT Handshake): the server's handshake
    /// traffic secret gives this key and IV.
    #[test]
    fn tls13_key_schedule_matches_rfc8448() {
        let hex = |s: &str| -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        };
        let suite = Suite::find(0x1301).unwrap();
        let secret = SecretBytes::new(&hex(
            "b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38",
        ))
        .unwrap();
        let mut key = [0u8; 16];
        let mut iv = [0u8; 12];
        suite.expand_label(secret.expose(), b"key", &mut key);
        suite.expand_label(secret.expose(), b"iv", &mut iv);
        assert_eq!(key.to_vec(), hex("3fce516009c21727d0f2e4e86ee403bc"));
        assert_eq!(iv.to_vec(), hex("5d313eb2671276ee13000b30"));
    }

    #[test]
    fn tls12_prf_matches_a_known_vector() {
        // The widely used P_SHA256 test vector (IETF TLS list, 2009).
        let suite = Suite::find(0xc02f).unwrap();
        let secret = [
            0x9b, 0xbe, 0x43, 0x6b, 0xa9, 0x40, 0xf0, 0x17, 0xb1, 0x76, 0x52, 0x84, 0x9a, 0x71,
            0xdb, 0x35,
        ];
        let seed = [
            0xa0, 0xba, 0x9f, 0x93, 0x6c, 0xda, 0x31, 0x18, 0x27, 0xa6, 0xf7, 0x96, 0xff, 0xd5,
            0x19, 0x8c,
        ];
        let mut out = [0u8; 16];
        suite.prf(&secret, b"test label", &seed, &mut out);
        assert_eq!(
            out,
            [
                0xe3, 0xf2, 0x29, 0xba, 0x72, 0x7b, 0xe1, 0x7b, 0x8d, 0x12, 0x26, 0x20, 0x55, 0x7c,
                0xd4, 0x53
            ]
        );
    }

    #[test]
    fn cbc_suites_are_not_decrypted() {
        assert!(Suite::find(0xc013).is_none());
        assert!(Suite::find(0x1303).is_some_and(|s| s.tls13));
    }
}
