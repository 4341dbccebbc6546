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
/// endpoints has one of the hosts (if any were given).
#[derive(Clone, Debug, Default)]
pub struct Selectors {
    pub ports: Vec<u16>,
    pub hosts: Vec<IpAddr>,
}

impl Selectors {
    pub fn is_empty(&self) -> bool {
        self.ports.is_empty() && self.hosts.is_empty()
    }

    pub fn matches(&self, a: (IpAddr, u16), b: (IpAddr, u16)) -> bool {
        let port_ok = self.ports.is_empty() || self.ports.iter().any(|&p| p == a.1 || p == b.1);
        let host_ok = self.hosts.is_empty() || self.hosts.iter().any(|&h| h == a.0 || h == b.0);
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
