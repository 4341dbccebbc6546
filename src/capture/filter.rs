//! Which packets and connections the user asked for.
//!
//! Two mechanisms: connection selectors (`--port`, `--host`), which need no
//! library and match either endpoint, and a full tcpdump filter expression
//! (`-f`), compiled by libpcap when the `live` feature links it, and applied to
//! offline packets exactly as tcpdump would.

use std::net::IpAddr;

use super::Packet;

/// `--port` and `--host`, each repeatable: a connection matches when one of
/// its endpoints has one of the ports (if any were given) and one of its
/// endpoints is in one of the host prefixes (if any were given).
#[derive(Clone, Debug, Default)]
pub struct Selectors {
    pub ports: Vec<u16>,
    pub hosts: Vec<HostPrefix>,
}

/// An address prefix, `10.0.0.0/8` or `fd00::/8` (RFC 4632 §3.1 CIDR
/// notation); a bare address is a prefix of its full length (/32, /128).
/// An IPv4 prefix matches IPv4 addresses only, and IPv6 IPv6 only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostPrefix {
    addr: IpAddr,
    bits: u8,
}

/// `ADDR/BITS`, as `--host` takes it.
impl std::fmt::Display for HostPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.bits)
    }
}

impl HostPrefix {
    /// Whether `ip` lies in the prefix.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(p), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(p) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(p), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(p) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for HostPrefix {
    type Err = String;

    /// `ADDR` or `ADDR/BITS`; errors name the value and what is wrong.
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| {
            format!("'{s}' is not an address or prefix: use e.g. 10.0.0.5, 10.0.0.0/8, fd00::/8")
        })?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => max,
            Some(b) => b
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|&n| n <= max)
                .ok_or_else(|| format!("'{s}': the prefix length must be 0 to {max}"))?,
        };
        Ok(HostPrefix { addr, bits })
    }
}

impl Selectors {
    pub fn is_empty(&self) -> bool {
        self.ports.is_empty() && self.hosts.is_empty()
    }

    pub fn matches(&self, a: (IpAddr, u16), b: (IpAddr, u16)) -> bool {
        let port_ok = self.ports.is_empty() || self.ports.iter().any(|&p| p == a.1 || p == b.1);
        let host_ok = self.hosts.is_empty()
            || self
                .hosts
                .iter()
                .any(|h| h.contains(a.0) || h.contains(b.0));
        port_ok && host_ok
    }
}

/// A compiled tcpdump filter expression, one BPF program per link type seen
/// (a pcapng file can mix link types; BPF offsets depend on the link header).
#[cfg(feature = "live")]
pub struct PacketFilter {
    expression: String,
    programs: Vec<(super::LinkType, Option<pcap::BpfProgram>)>,
}

#[cfg(feature = "live")]
impl PacketFilter {
    /// Compiles once for Ethernet up front, so a typo fails before any work.
    pub fn new(expression: &str) -> Result<Self, String> {
        let mut filter = PacketFilter {
            expression: expression.to_string(),
            programs: Vec::new(),
        };
        filter
            .compile(super::LinkType::Ethernet)
            .map_err(|e| format!("filter expression '{expression}': {e}"))?;
        Ok(filter)
    }

    fn compile(&mut self, link: super::LinkType) -> Result<(), pcap::Error> {
        use super::LinkType;
        // DLT_ values as libpcap's pcap_open_dead wants them.
        let dlt = match link {
            LinkType::Null { big_endian: false } => Some(0),
            LinkType::Null { big_endian: true } => Some(108),
            LinkType::Ethernet => Some(1),
            LinkType::RawIp => Some(12),
            LinkType::LinuxSll => Some(113),
            LinkType::LinuxSll2 => Some(276),
            LinkType::Other(_) => None,
        };
        let program = match dlt {
            Some(dlt) => {
                Some(pcap::Capture::dead(pcap::Linktype(dlt))?.compile(&self.expression, true)?)
            }
            None => None,
        };
        self.programs.push((link, program));
        Ok(())
    }

    /// True when the packet passes. A link type the expression cannot be
    /// compiled for (or that libpcap does not know) passes nothing.
    pub fn matches(&mut self, packet: &Packet<'_>) -> bool {
        if !self.programs.iter().any(|(l, _)| *l == packet.link)
            && self.compile(packet.link).is_err()
        {
            self.programs.push((packet.link, None));
        }
        self.programs
            .iter()
            .find(|(l, _)| *l == packet.link)
            .and_then(|(_, p)| p.as_ref())
            .is_some_and(|p| p.filter(packet.data))
    }
}

/// Without libpcap there is no BPF compiler; the CLI refuses `-f` before we
/// get here, so this type cannot be built.
#[cfg(not(feature = "live"))]
pub enum PacketFilter {}

#[cfg(not(feature = "live"))]
impl PacketFilter {
    pub fn new(_expression: &str) -> Result<Self, String> {
        Err(
            "-f needs libpcap to compile the expression: this wspulse was built without the \
             `live` feature (install libpcap-dev and build with `--features live`); \
             --port and --host work without it"
                .to_string(),
        )
    }

    pub fn matches(&mut self, _packet: &Packet<'_>) -> bool {
        match *self {}
    }
}

#[cfg(test)]
mod host_prefix_tests {
    use super::HostPrefix;

    fn contains(prefix: &str, ip: &str) -> bool {
        prefix
            .parse::<HostPrefix>()
            .unwrap()
            .contains(ip.parse().unwrap())
    }

    #[test]
    fn cidr_prefixes_match_the_addresses_inside() {
        assert!(contains("10.0.0.0/8", "10.77.0.2"));
        assert!(!contains("10.0.0.0/8", "11.0.0.1"));
        assert!(contains("10.77.0.1", "10.77.0.1"));
        assert!(!contains("10.77.0.1", "10.77.0.2"));
        assert!(contains("0.0.0.0/0", "192.0.2.1"));
        assert!(contains("fd00::/8", "fd12::1"));
        assert!(!contains("fd00::/8", "fe80::1"));
        assert!(!contains("0.0.0.0/0", "::1"), "families never mix");
    }

    #[test]
    fn bad_prefixes_say_what_is_wrong() {
        let e = "10.0.0.0/33".parse::<HostPrefix>().unwrap_err();
        assert!(e.contains("0 to 32"), "{e}");
        let e = "example.com".parse::<HostPrefix>().unwrap_err();
        assert!(e.contains("'example.com'"), "{e}");
    }
}
