//! Prefix-preserving pseudonyms for IP addresses (`--redact`): two
//! addresses that share their first n bits get pseudonyms that share
//! their first n bits, and no more, so subnets stay recognisable while no
//! address is shown.
//!
//! The scheme is Crypto-PAn's (J. Xu, J. Fan, M. Ammar, S. Moon,
//! "Prefix-Preserving IP Address Anonymization", ICNP 2002, §4): output
//! bit i is input bit i XOR f(the first i input bits), with the keyed
//! HMAC-SHA-256 of [`Key::fingerprint`] (RFC 2104) as the pseudorandom
//! function f in place of AES. The same key (`--redact-key`) gives the same
//! pseudonyms in every run; without it the key is random per run.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::Key;

/// Pseudonyms under one key, remembered (each costs one HMAC per bit).
#[derive(Clone)]
pub struct Pseudonyms {
    key: Key,
    seen: HashMap<IpAddr, IpAddr>,
}

impl Pseudonyms {
    pub fn new(key: Key) -> Self {
        Pseudonyms {
            key,
            seen: HashMap::new(),
        }
    }

    /// The pseudonym of `ip`: same family, same for the same input.
    pub fn of(&mut self, ip: IpAddr) -> IpAddr {
        if let Some(&p) = self.seen.get(&ip) {
            return p;
        }
        let p = match ip {
            IpAddr::V4(a) => {
                let bits = u128::from(u32::from(a)) << 96;
                IpAddr::V4(Ipv4Addr::from((self.permute(bits, 32, 4) >> 96) as u32))
            }
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(self.permute(u128::from(a), 128, 6))),
        };
        self.seen.insert(ip, p);
        p
    }

    /// Crypto-PAn over the top `len` bits of `bits`; `family` keeps the
    /// IPv4 and IPv6 functions apart.
    fn permute(&self, bits: u128, len: u32, family: u8) -> u128 {
        let mut out = 0u128;
        for i in 0..len {
            let prefix = if i == 0 {
                0
            } else {
                bits >> (128 - i) << (128 - i)
            };
            let mut input = [0u8; 18];
            input[0] = family;
            input[1] = i as u8;
            input[2..].copy_from_slice(&prefix.to_be_bytes());
            let flip = (self.key.fingerprint(&input) >> 63) as u128;
            let bit = (bits >> (127 - i)) & 1;
            out |= (bit ^ flip) << (127 - i);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p4(p: &mut Pseudonyms, s: &str) -> u32 {
        match p.of(s.parse().unwrap()) {
            IpAddr::V4(a) => u32::from(a),
            IpAddr::V6(_) => panic!("family changed"),
        }
    }

    #[test]
    fn shared_prefixes_are_kept_exactly() {
        let mut p = Pseudonyms::new(Key::default());
        let a = p4(&mut p, "10.77.0.1");
        let b = p4(&mut p, "10.77.0.2");
        let c = p4(&mut p, "10.78.0.1");
        let d = p4(&mut p, "192.168.1.1");
        let common = |x: u32, y: u32| (x ^ y).leading_zeros();
        // 10.77.0.1 and 10.77.0.2 share 30 bits; with 10.78.0.1, 14; with
        // 192.168.1.1, none.
        assert_eq!(common(a, b), 30);
        assert_eq!(common(a, c), 14);
        assert_eq!(common(a, d), 0);
        assert_ne!(a, u32::from(Ipv4Addr::new(10, 77, 0, 1)));
        assert_eq!(p4(&mut p, "10.77.0.1"), a, "stable");
    }

    #[test]
    fn the_key_decides_and_ipv6_is_kept_apart() {
        let mut one = Pseudonyms::new(Key::from_passphrase("one"));
        let mut two = Pseudonyms::new(Key::from_passphrase("two"));
        let mut again = Pseudonyms::new(Key::from_passphrase("one"));
        let ip: IpAddr = "fd00::1".parse().unwrap();
        assert_eq!(one.of(ip), again.of(ip));
        assert_ne!(one.of(ip), two.of(ip));
        assert!(one.of(ip).is_ipv6());
        let (x, y) = (
            one.of("fd00::1".parse().unwrap()),
            one.of("fd00::2".parse().unwrap()),
        );
        let bits = |a: IpAddr| match a {
            IpAddr::V6(a) => u128::from(a),
            IpAddr::V4(_) => unreachable!(),
        };
        assert_eq!((bits(x) ^ bits(y)).leading_zeros(), 126);
    }
}
