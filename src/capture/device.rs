//! A network interface captured with libpcap (the `live` feature):
//! immediate mode (each packet delivered as it arrives, not when a kernel
//! block fills), a kernel buffer sized for bursts, whole packets, and the
//! tcpdump filter expression compiled into the kernel.

use std::os::unix::io::AsRawFd;
use std::time::Duration;

use super::{FrameRef, KernelStats, LinkType, Packet};
use crate::config::DeviceConfig;
use crate::time::Timestamp;

/// An open interface. Frames are numbered from 1 in capture order, as
/// Wireshark would number a file of them.
pub struct Device {
    cap: pcap::Capture<pcap::Active>,
    link: LinkType,
    frame: u64,
}

/// Packets handed over per call at most, so the caller's batch stays small.
const MAX_PER_POLL: usize = 4096;

/// What `--list-interfaces` shows of one interface.
#[derive(Clone, Debug)]
pub struct InterfaceInfo {
    /// What `-i` takes.
    pub name: String,
    /// libpcap's description, for pseudo-devices such as `any`.
    pub description: Option<String>,
    pub addresses: Vec<std::net::IpAddr>,
    /// Interface flags (IFF_UP, IFF_RUNNING, IFF_LOOPBACK).
    pub up: bool,
    pub running: bool,
    pub loopback: bool,
}

/// The interfaces libpcap can capture on (`any` included on Linux).
pub fn list() -> Result<Vec<InterfaceInfo>, String> {
    let devices = pcap::Device::list().map_err(|e| format!("listing interfaces: {e}"))?;
    Ok(devices
        .into_iter()
        .map(|d| InterfaceInfo {
            up: d.flags.is_up(),
            running: d.flags.is_running(),
            loopback: d.flags.is_loopback(),
            addresses: d.addresses.iter().map(|a| a.addr).collect(),
            description: d.desc,
            name: d.name,
        })
        .collect())
}

/// The one-line error for a capture that lacks the right, with the
/// commands that give it.
pub fn permission_message(name: &str) -> String {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "$(command -v wspulse)".into());
    format!(
        "{name}: capturing needs root or the CAP_NET_RAW capability; grant it once with \
         `sudo setcap cap_net_raw,cap_net_admin=eip {exe}`, or run as root (with --user NAME \
         to drop privileges once the interface is open), or pipe a capture in: \
         sudo tcpdump -i {name} -U -w - ... | wspulse live -r -"
    )
}

fn no_such_interface(name: &str) -> String {
    format!("{name}: no such interface (wspulse live --list-interfaces lists them)")
}

/// Why libpcap refused: its own words, or ours where they say more.
fn open_error(name: &str, e: pcap::Error) -> String {
    let text = e.to_string();
    let lower = text.to_lowercase();
    if lower.contains("permission") || lower.contains("operation not permitted") {
        permission_message(name)
    } else if lower.contains("no such device") {
        no_such_interface(name)
    } else {
        format!("{name}: {text}")
    }
}

impl Device {
    /// Opens `name`. For `any`, picks LINUX_SLL2 when offered, so each
    /// packet keeps the interface it came from. Errors are one line: no
    /// such interface (with where to find one), no permission (with the
    /// `setcap` line), or libpcap's words, e.g. for a filter it cannot
    /// compile.
    pub fn open(opts: &DeviceConfig, filter: Option<&str>) -> Result<Device, String> {
        let name = opts.name.as_str();
        if name != "any" {
            if let Ok(known) = pcap::Device::list() {
                if !known.iter().any(|d| d.name == name) {
                    return Err(no_such_interface(name));
                }
            }
        }
        let cap = pcap::Capture::from_device(name)
            .map_err(|e| open_error(name, e))?
            .immediate_mode(true)
            .buffer_size(opts.buffer_size.min(i32::MAX as u32) as i32)
            .snaplen(opts.snaplen.min(i32::MAX as u32) as i32)
            .promisc(false)
            .timeout(100)
            .open()
            .map_err(|e| open_error(name, e))?;
        let mut cap = cap.setnonblock().map_err(|e| open_error(name, e))?;
        if name == "any" {
            let offered = cap.list_datalinks().unwrap_or_default();
            if offered.contains(&pcap::Linktype::LINUX_SLL2) {
                cap.set_datalink(pcap::Linktype::LINUX_SLL2)
                    .map_err(|e| open_error(name, e))?;
            }
        }
        if let Some(expr) = filter {
            cap.filter(expr, true)
                .map_err(|e| format!("filter expression '{expr}': {e}"))?;
        }
        let link = LinkType::from_linktype(cap.get_datalink().0 as u32);
        Ok(Device {
            cap,
            link,
            frame: 0,
        })
    }

    /// Hands every packet available now to `on_packet` (at most a few
    /// thousand per call); when none is, waits up to `wait` for one.
    /// Returns how many were handed over. A libpcap error (the interface
    /// went away) is one line.
    pub fn poll(
        &mut self,
        wait: Duration,
        on_packet: &mut dyn FnMut(&Packet<'_>),
    ) -> Result<usize, String> {
        let mut n = 0;
        let mut waited = false;
        while n < MAX_PER_POLL {
            match self.cap.next_packet() {
                Ok(p) => {
                    self.frame += 1;
                    let ts = p.header.ts;
                    // time_t is i32 on some targets, i64 on Linux.
                    #[allow(clippy::useless_conversion)]
                    let secs = i64::from(ts.tv_sec);
                    let usecs = u64::try_from(ts.tv_usec).unwrap_or(0);
                    let at = Timestamp::from_parts(secs, usecs, 1_000_000);
                    on_packet(&Packet {
                        at,
                        frame: FrameRef::new(0, self.frame),
                        link: self.link,
                        data: p.data,
                        orig_len: p.header.len,
                    });
                    n += 1;
                }
                Err(pcap::Error::TimeoutExpired) if n == 0 && !waited => {
                    wait_readable(self.cap.as_raw_fd(), wait);
                    waited = true;
                }
                Err(pcap::Error::TimeoutExpired) => break,
                Err(e) => return Err(format!("capture stopped: {e}")),
            }
        }
        Ok(n)
    }

    /// libpcap's counters so far.
    pub fn stats(&mut self) -> Option<KernelStats> {
        let s = self.cap.stats().ok()?;
        Some(KernelStats {
            received: u64::from(s.received),
            dropped: u64::from(s.dropped),
            if_dropped: u64::from(s.if_dropped),
        })
    }

    /// The link type packets come with (LINUX_SLL2 for `any`).
    pub fn link(&self) -> LinkType {
        self.link
    }
}

/// Blocks until `fd` is readable or `wait` passed (poll(2)); an
/// interrupted wait simply returns early.
fn wait_readable(fd: std::os::unix::io::RawFd, wait: Duration) {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = wait.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: one valid pollfd, and its count; poll does not keep it.
    unsafe {
        libc::poll(&mut pfd, 1, ms);
    }
}
