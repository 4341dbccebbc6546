//! Tunnels and encapsulations: VXLAN, Geneve, GTP-U, GRE and ERSPAN,
//! IP-in-IP and 6in4, PPPoE sessions and MPLS, unwrapped one layer at a
//! time down to the TCP inside.
//!
//! A packet reaches this module only when the plain decode found no TCP,
//! so a capture without tunnels pays nothing here. The loop is bounded
//! ([`MAX_DEPTH`] layers, against hostile nesting) and copies no bytes:
//! every inner packet is a sub-slice of the outer one.
//!
//! A connection inside a tunnel is keyed by the tunnel too
//! ([`Segment::tunnel`]), so two tunnels carrying equal inner addresses and
//! ports stay two connections. Only what both directions of a connection
//! carry alike can key it: the VNI, the GRE key, the ERSPAN session, the
//! PPPoE session, and the unordered pair of outer addresses. A GTP-U TEID
//! is chosen by the receiving end (3GPP TS 29.281 §5.1), so the two
//! directions of one connection carry two TEIDs: GTP-U is keyed by its
//! outer addresses alone. MPLS labels are chosen per hop and per direction
//! and key nothing. A tunnel whose two directions take different outer
//! endpoints (asymmetric overlay routing), or GRE keys that differ per
//! direction (an input and an output key, an NVGRE FlowID per direction),
//! splits a connection in two.

mod headers;
#[cfg(test)]
mod tests;

use std::hash::{Hash, Hasher};
use std::net::IpAddr;

use etherparse::{EtherType, IpNumber, LaxNetSlice, LaxSlicedPacket, LinkSlice, TransportSlice};
use serde::Serialize;

use super::{segment_from, Segment, Skip};
use headers::{Header, Inner};

/// Most encapsulations unwrapped in one packet; a packet nested deeper is
/// counted as [`Skip::TunnelTooDeep`].
pub const MAX_DEPTH: usize = 8;

/// Well-known UDP destination ports of the tunnels carried over UDP.
const VXLAN_PORT: u16 = 4789; // RFC 7348 §5 (IANA)
const GENEVE_PORT: u16 = 6081; // RFC 8926 §3.3
const GTP_U_PORT: u16 = 2152; // 3GPP TS 29.281 §4.4.2.3

const PPPOE_SESSION: u16 = 0x8864;
const MPLS_UNICAST: u16 = 0x8847;
const MPLS_MULTICAST: u16 = 0x8848;

/// The kinds of encapsulation that enter a tunnel's identity (MPLS does
/// not: see the module's notes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Vxlan,
    Geneve,
    GtpU,
    Gre,
    Erspan,
    /// IPv4 or IPv6 directly in IPv4 or IPv6 (IP-in-IP, 6in4, …).
    IpInIp,
    Pppoe,
}

/// The outermost encapsulation of a connection, as the report names it:
/// its kind, and the identifier both directions carry (VNI, GRE key,
/// ERSPAN session, PPPoE session). 8 bytes: every connection holds one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tag {
    pub kind: Kind,
    has_id: bool,
    id: u32,
}

impl Tag {
    /// The identifier both directions carry; `None` for GTP-U (whose
    /// TEIDs differ per direction), IP-in-IP, GRE without a key and
    /// ERSPAN type I.
    pub fn id(self) -> Option<u32> {
        self.has_id.then_some(self.id)
    }
}

/// "vxlan 100", "gre key 5", "gtp-u", …: the table's words.
impl std::fmt::Display for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (name, what) = match self.kind {
            Kind::Vxlan => ("vxlan", ""),
            Kind::Geneve => ("geneve", ""),
            Kind::GtpU => ("gtp-u", ""),
            Kind::Gre => ("gre", "key "),
            Kind::Erspan => ("erspan", "session "),
            Kind::IpInIp => ("ip-in-ip", ""),
            Kind::Pppoe => ("pppoe", "session "),
        };
        match self.id() {
            Some(id) => write!(f, "{name} {what}{id}"),
            None => f.write_str(name),
        }
    }
}

impl Tag {
    /// A Wireshark display filter term selecting this tunnel, with its
    /// trailing `&&`; empty for IP-in-IP, whose only identity is its
    /// outer addresses.
    pub fn wireshark_term(self) -> String {
        let field = match self.kind {
            Kind::Vxlan => "vxlan.vni",
            Kind::Geneve => "geneve.vni",
            Kind::GtpU => return "gtp && ".into(),
            Kind::Gre => "gre.key",
            Kind::Erspan => "erspan.spanid",
            Kind::IpInIp => return String::new(),
            Kind::Pppoe => "pppoe.session_id",
        };
        match self.id() {
            Some(id) => format!("{field} == {id} && "),
            None => format!("{} && ", self.kind_filter()),
        }
    }

    /// The protocol's own filter word, for a tunnel without an id.
    fn kind_filter(self) -> &'static str {
        match self.kind {
            Kind::Gre => "gre",
            Kind::Erspan => "erspan",
            _ => "",
        }
    }
}

/// `{"kind": "vxlan", "id": 100}`, `id` null when there is none.
impl Serialize for Tag {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Tag", 2)?;
        st.serialize_field("kind", &self.kind)?;
        st.serialize_field("id", &self.id())?;
        st.end()
    }
}

/// The tunnel a segment came in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tunnel {
    /// 0 for none; else a hash of every encapsulation's identity, which
    /// keys the connection with its addresses and ports.
    pub context: u64,
    /// The outermost encapsulation with an identity, for the report.
    pub tag: Option<Tag>,
}

/// The outer endpoints of an encapsulation, lower first, so that both
/// directions name the same ones.
#[derive(Clone, Copy, Hash)]
enum Outer {
    None,
    Ip(IpAddr, IpAddr),
    Mac([u8; 6], [u8; 6]),
}

/// One encapsulation's identity: its kind, its identifier when both
/// directions carry the same one, and its outer endpoints.
#[derive(Hash)]
struct Layer {
    kind: Kind,
    id: Option<u32>,
    outer: Outer,
}

impl Layer {
    fn tag(&self) -> Tag {
        Tag {
            kind: self.kind,
            has_id: self.id.is_some(),
            id: self.id.unwrap_or(0),
        }
    }
}

/// Folds one more layer into a tunnel context: never 0, which stands for
/// "no tunnel". Every tunnelled packet is folded, so the hash is a cheap
/// multiply-rotate one ([`Fold`]) rather than SipHash: the context only
/// tells tunnels apart whose inner 5-tuples are equal already, and is
/// never a hash table's key on its own (the flow table hashes it with the
/// 5-tuple, with SipHash).
fn fold(context: u64, layer: &Layer) -> u64 {
    let mut h = Fold(context);
    layer.hash(&mut h);
    h.finish().max(1)
}

/// The Firefox/rustc "Fx" hash: per word, rotate, xor, multiply.
struct Fold(u64);

impl Fold {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for Fold {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap_or_default()));
        }
        let mut last = [0u8; 8];
        let rest = chunks.remainder();
        last[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(last) ^ ((rest.len() as u64) << 56));
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

/// Whether a skip may hide an encapsulation, so it is worth a look here.
pub(super) fn may_hide_tunnel(skip: Skip) -> bool {
    matches!(skip, Skip::NotTcp | Skip::NotIp | Skip::Pppoe | Skip::Mpls)
}

/// Unwraps the encapsulations around `outer`, which decoded to `skip`
/// (one that [`may_hide_tunnel`]), until TCP is found: the segment, keyed
/// by its tunnel context. Otherwise the kind of the innermost layer not
/// decoded; `skip` itself when `outer` is no tunnel at all.
pub(super) fn decapsulate<'a>(
    outer: &LaxSlicedPacket<'a>,
    mut skip: Skip,
) -> Result<Segment<'a>, Skip> {
    let mut tunnel = Tunnel::default();
    let mut next = unwrap(outer)?;
    let mut depth = 0;
    while let Some((layer, inner)) = next {
        if depth == MAX_DEPTH {
            return Err(Skip::TunnelTooDeep);
        }
        depth += 1;
        if let Some(layer) = layer {
            tunnel.context = fold(tunnel.context, &layer);
            tunnel.tag = tunnel.tag.or(Some(layer.tag()));
        }
        // Sliced once, in place: the sliced packet is a few hundred bytes.
        let sliced = slice(inner)?;
        match segment_from(&sliced, tunnel) {
            Err(s) if may_hide_tunnel(s) => {
                skip = s;
                next = unwrap(&sliced)?;
            }
            done => return done,
        }
    }
    Err(skip)
}

/// The packet inside an encapsulation, with the layer's identity (`None`
/// for MPLS, which adds none); `None` when there is no encapsulation this
/// module knows.
type Unwrapped<'a> = Option<(Option<Layer>, Inner<'a>)>;

/// What `sliced` encapsulates, or the kind of skip that names why it is
/// not decoded.
fn unwrap<'a>(sliced: &LaxSlicedPacket<'a>) -> Result<Unwrapped<'a>, Skip> {
    let (outer, ip) = match &sliced.net {
        Some(LaxNetSlice::Ipv4(ip)) => {
            let h = ip.header();
            let (a, b) = order(h.source_addr().into(), h.destination_addr().into());
            (Outer::Ip(a, b), ip.payload())
        }
        Some(LaxNetSlice::Ipv6(ip)) => {
            let h = ip.header();
            let (a, b) = order(h.source_addr().into(), h.destination_addr().into());
            (Outer::Ip(a, b), ip.payload())
        }
        Some(LaxNetSlice::Arp(_)) => return Ok(None),
        None => return link_layer(sliced),
    };
    let layer = |kind, id| Some(Layer { kind, id, outer });
    let (layer, header) = match (&sliced.transport, ip.ip_number) {
        (Some(TransportSlice::Udp(udp)), _) => {
            let payload = udp.payload();
            match udp.destination_port() {
                VXLAN_PORT => {
                    let h = headers::vxlan(payload)?;
                    (layer(Kind::Vxlan, h.id), h)
                }
                GENEVE_PORT => {
                    let h = headers::geneve(payload)?;
                    (layer(Kind::Geneve, h.id), h)
                }
                GTP_U_PORT => {
                    let h = headers::gtp_u(payload)?;
                    (layer(Kind::GtpU, None), h)
                }
                _ => return Ok(None),
            }
        }
        (Some(_), _) => return Ok(None),
        // RFC 2003 (IPv4 in IP) and RFC 4213 §3.5 / RFC 2473 (IPv6 in IP).
        (None, IpNumber::IPV4 | IpNumber::IPV6) => {
            let h = Header {
                id: None,
                inner: Inner::Ip(ip.payload),
            };
            (layer(Kind::IpInIp, None), h)
        }
        (None, IpNumber::GRE) => {
            let (h, erspan) = headers::gre(ip.payload)?;
            let kind = if erspan { Kind::Erspan } else { Kind::Gre };
            (layer(kind, h.id), h)
        }
        (None, IpNumber::ENCAPSULATING_SECURITY_PAYLOAD) => return Err(Skip::Esp),
        (None, _) => return Ok(None),
    };
    Ok(Some((layer, header.inner)))
}

/// Encapsulations below IP: PPPoE sessions and MPLS label stacks, found
/// by the EtherType etherparse stopped at.
fn link_layer<'a>(sliced: &LaxSlicedPacket<'a>) -> Result<Unwrapped<'a>, Skip> {
    if sliced.stop_err.is_some() {
        return Ok(None);
    }
    let Some(payload) = sliced.ether_payload() else {
        return Ok(None);
    };
    let (layer, header) = match payload.ether_type.0 {
        PPPOE_SESSION => {
            let h = headers::pppoe_session(payload.payload)?;
            // RFC 2516 §4: the session ID and the two MAC addresses name
            // the session.
            let outer = match &sliced.link {
                Some(LinkSlice::Ethernet2(e)) => {
                    let (a, b) = order(e.source(), e.destination());
                    Outer::Mac(a, b)
                }
                _ => Outer::None,
            };
            let layer = Layer {
                kind: Kind::Pppoe,
                id: h.id,
                outer,
            };
            (Some(layer), h)
        }
        MPLS_UNICAST | MPLS_MULTICAST => (None, headers::mpls(payload.payload)?),
        _ => return Ok(None),
    };
    Ok(Some((layer, header.inner)))
}

fn order<T: Ord>(a: T, b: T) -> (T, T) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// Slices an inner packet as etherparse does an outer one.
fn slice(inner: Inner<'_>) -> Result<LaxSlicedPacket<'_>, Skip> {
    match inner {
        Inner::Ethernet(b) | Inner::EtherType(headers::TEB, b) => {
            LaxSlicedPacket::from_ethernet(b).map_err(|_| Skip::BadHeaders)
        }
        Inner::Ip(b) => LaxSlicedPacket::from_ip(b).map_err(|_| Skip::BadHeaders),
        Inner::EtherType(proto, b) => Ok(LaxSlicedPacket::from_ether_type(EtherType(proto), b)),
    }
}
