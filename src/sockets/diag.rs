//! The host's TCP sockets through netlink sock_diag (sock_diag(7)): one
//! `SOCK_DIAG_BY_FAMILY` dump per address family, asking for the
//! `INET_DIAG_INFO` extension (the socket's `struct tcp_info`), as `ss -tin`
//! does. Any local user may dump; no capture privilege is needed.
//!
//! The socket belongs to the network namespace it was opened in: with a
//! namespace name, it is opened by a thread that first entered
//! `/run/netns/NAME` (setns(2), as root), so the rest of the process stays
//! where it is.

use std::net::SocketAddr;
use std::time::Duration;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
use netlink_packet_sock_diag::inet::nlas::Nla;
use netlink_packet_sock_diag::inet::{
    ExtensionFlags, InetRequest, InetResponse, SocketId, StateFlags,
};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket};

use super::reading::{parse_tcp_info, Reading};

/// The longest one dump waits for the kernel: it answers in microseconds,
/// so this only bounds a wedged kernel.
const RECV_TIMEOUT: Duration = Duration::from_secs(2);

/// Dump messages read per dump at most, a bound against a kernel that
/// never says done (each message holds many sockets).
const MAX_MESSAGES: usize = 1 << 20;

/// A netlink sock_diag socket, in the namespace it was opened in.
pub struct Diag {
    socket: Socket,
    seq: u32,
}

impl Diag {
    /// Opens the socket here, or in the network namespace `netns` (a name
    /// under /run/netns, as `ip netns add` makes). Errors: a one-line
    /// reason (no such namespace, not root, no netlink).
    pub fn open(netns: Option<&str>) -> Result<Diag, String> {
        let socket = match netns {
            None => open_socket()?,
            Some(name) => {
                let name = name.to_string();
                std::thread::spawn(move || {
                    enter_netns(&name)?;
                    open_socket()
                })
                .join()
                .map_err(|_| "the thread entering the namespace failed".to_string())??
            }
        };
        Ok(Diag { socket, seq: 0 })
    }

    /// Every TCP socket of the namespace, IPv4 then IPv6, with `states`
    /// (a mask of `1 << state`). Errors: the kernel refused or did not
    /// answer.
    pub fn dump(&mut self, states: u32) -> Result<Vec<Reading>, String> {
        let mut out = Vec::new();
        for family in [AF_INET, AF_INET6] {
            self.dump_family(family, states, &mut out)?;
        }
        Ok(out)
    }

    fn dump_family(
        &mut self,
        family: u8,
        states: u32,
        out: &mut Vec<Reading>,
    ) -> Result<(), String> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(
            header,
            SockDiagMessage::InetRequest(InetRequest {
                family,
                protocol: IPPROTO_TCP,
                extensions: ExtensionFlags::INFO,
                states: StateFlags::from_bits_truncate(states),
                socket_id: if family == AF_INET {
                    SocketId::new_v4()
                } else {
                    SocketId::new_v6()
                },
            })
            .into(),
        );
        packet.finalize();
        let mut buf = vec![0; packet.buffer_len()];
        packet.serialize(&mut buf[..]);
        self.socket
            .send(&buf, 0)
            .map_err(|e| format!("sock_diag: cannot send the request: {e}"))?;
        let mut rx = vec![0u8; 1 << 16];
        for _ in 0..MAX_MESSAGES {
            let n = self
                .socket
                .recv(&mut &mut rx[..], 0)
                .map_err(|e| format!("sock_diag: no answer from the kernel: {e}"))?;
            let mut offset = 0;
            while offset < n {
                let bytes = &rx[offset..n];
                let msg = <NetlinkMessage<SockDiagMessage>>::deserialize(bytes)
                    .map_err(|e| format!("sock_diag: an answer could not be read: {e}"))?;
                let len = msg.header.length as usize;
                match msg.payload {
                    NetlinkPayload::Done(_) => return Ok(()),
                    NetlinkPayload::Error(e) => {
                        return Err(format!("sock_diag: the kernel refused the dump: {e}"))
                    }
                    NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r))
                        if msg.header.sequence_number == self.seq =>
                    {
                        out.extend(reading(&r));
                    }
                    _ => {}
                }
                if len == 0 {
                    break;
                }
                offset += (len + 3) & !3;
            }
        }
        Err("sock_diag: the dump did not end".into())
    }
}

/// One response as a [`Reading`]; `None` for a socket with no address
/// (never the case for TCP).
fn reading(r: &InetResponse) -> Option<Reading> {
    let id = &r.header.socket_id;
    let send_queue = r.header.send_queue;
    let parsed = r.nlas.iter().find_map(|nla| match nla {
        Nla::TcpInfo(bytes) => parse_tcp_info(bytes, send_queue),
        _ => None,
    });
    Some(Reading {
        local: SocketAddr::new(unmap(id.source_address), id.source_port),
        remote: SocketAddr::new(unmap(id.destination_address), id.destination_port),
        state: r.header.state,
        recv_queue: r.header.recv_queue,
        send_queue,
        info: parsed.map(|p| p.0),
        limited: parsed.and_then(|p| p.1),
    })
}

/// An IPv4-mapped IPv6 address as the IPv4 address a capture shows.
fn unmap(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4),
        v4 => v4,
    }
}

fn open_socket() -> Result<Socket, String> {
    let mut socket = Socket::new(NETLINK_SOCK_DIAG)
        .map_err(|e| format!("cannot open a netlink sock_diag socket: {e}"))?;
    socket
        .bind_auto()
        .map_err(|e| format!("cannot bind the netlink socket: {e}"))?;
    set_timeout(&socket)?;
    Ok(socket)
}

/// Bounds every receive by [`RECV_TIMEOUT`] (SO_RCVTIMEO, socket(7)).
fn set_timeout(socket: &Socket) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    let tv = libc::timeval {
        tv_sec: RECV_TIMEOUT.as_secs() as libc::time_t,
        tv_usec: 0,
    };
    // SAFETY: the pointer and length describe `tv`, alive for the call.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(format!(
            "cannot set the netlink socket's timeout: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Moves the calling thread into the network namespace `/run/netns/NAME`.
fn enter_netns(name: &str) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(format!(
            "--netns '{name}': give a namespace name as `ip netns list` shows it"
        ));
    }
    let path = format!("/run/netns/{name}");
    let file = std::fs::File::open(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            format!("--netns {name}: no such network namespace ({path} does not exist; see `ip netns list`)")
        }
        _ => format!("--netns {name}: cannot open {path}: {e}"),
    })?;
    // SAFETY: setns takes a namespace fd we hold open for the call.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::EPERM) => format!(
                "--netns {name}: entering a network namespace needs root (CAP_SYS_ADMIN): {e}"
            ),
            _ => format!("--netns {name}: cannot enter {path}: {e}"),
        });
    }
    Ok(())
}
