//! One TCP socket as sock_diag reports it (RFC-less: Linux's
//! `inet_diag_msg` and its `INET_DIAG_INFO` attribute, a `struct tcp_info`;
//! see sock_diag(7) and tcp(7)), and the parsing of that attribute's bytes.

use std::net::SocketAddr;

use serde::Serialize;

use crate::probe::SocketReading;

/// Linux TCP states (include/net/tcp_states.h), as `inet_diag_msg` gives
/// them.
pub const TCP_ESTABLISHED: u8 = 1;
pub const TCP_LISTEN: u8 = 10;

/// The name `ss` prints for a TCP state number.
pub fn state_name(state: u8) -> &'static str {
    match state {
        1 => "established",
        2 => "syn_sent",
        3 => "syn_recv",
        4 => "fin_wait1",
        5 => "fin_wait2",
        6 => "time_wait",
        7 => "close",
        8 => "close_wait",
        9 => "last_ack",
        10 => "listen",
        11 => "closing",
        _ => "unknown",
    }
}

/// One socket of the host: its two ends, its state, its queues, and what
/// its `tcp_info` said (`None` when the kernel sent none, as for a socket
/// in TIME_WAIT).
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    /// This host's end.
    pub local: SocketAddr,
    /// The other end.
    pub remote: SocketAddr,
    /// The TCP state number (see [`state_name`]).
    pub state: u8,
    /// `idiag_rqueue`: bytes received and not read by the application.
    pub recv_queue: u32,
    /// `idiag_wqueue`: bytes in the send queue, sent and unacknowledged
    /// plus not yet sent (what `SIOCOUTQ` gives).
    pub send_queue: u32,
    pub info: Option<SocketReading>,
    /// Time-limited counters of Linux 4.10 (`tcpi_busy_time`,
    /// `tcpi_rwnd_limited`, `tcpi_sndbuf_limited`), ms; `None` on older
    /// kernels.
    pub limited: Option<Limited>,
}

/// How long the socket has been busy sending, and how much of it was
/// limited by the peer's receive window or by its own send buffer (ms,
/// cumulative since the connection began).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Limited {
    pub busy_ms: u64,
    pub rwnd_limited_ms: u64,
    pub sndbuf_limited_ms: u64,
}

/// Reads a native-endian integer of `N` bytes at `at`, if `bytes` holds it.
fn field<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at + N)?.try_into().ok()
}

/// Parses the `INET_DIAG_INFO` attribute: a `struct tcp_info` as long as
/// the running kernel's (older kernels send a shorter one, newer ones a
/// longer one). `send_queue` is the message's `idiag_wqueue`. Fields past
/// the end the kernel sent are `None`; `None` for the whole reading when
/// even the base struct (up to `tcpi_total_retrans`) is missing.
pub fn parse_tcp_info(bytes: &[u8], send_queue: u32) -> Option<(SocketReading, Option<Limited>)> {
    use libc::tcp_info as T;
    use std::mem::offset_of;
    let u8_at = |at: usize| field::<1>(bytes, at).map(|b| b[0]);
    let u32_at = |at: usize| field::<4>(bytes, at).map(u32::from_ne_bytes);
    let u64_at = |at: usize| field::<8>(bytes, at).map(u64::from_ne_bytes);
    let total_retrans = u32_at(offset_of!(T, tcpi_total_retrans))?;
    let rtt = u32_at(offset_of!(T, tcpi_rtt))?;
    let rttvar = u32_at(offset_of!(T, tcpi_rttvar))?;
    let notsent_bytes = u32_at(offset_of!(T, tcpi_notsent_bytes));
    let reading = SocketReading {
        unacked_segments: u32_at(offset_of!(T, tcpi_unacked))?,
        retransmits: u8_at(offset_of!(T, tcpi_retransmits))?,
        backoff: u8_at(offset_of!(T, tcpi_backoff))?,
        probes: u8_at(offset_of!(T, tcpi_probes))?,
        total_retrans,
        rtt_ms: f64::from(rtt) / 1e3,
        rttvar_ms: f64::from(rttvar) / 1e3,
        snd_mss: u32_at(offset_of!(T, tcpi_snd_mss))?,
        last_data_sent_ms: u32_at(offset_of!(T, tcpi_last_data_sent))?,
        last_data_recv_ms: u32_at(offset_of!(T, tcpi_last_data_recv))?,
        last_ack_recv_ms: u32_at(offset_of!(T, tcpi_last_ack_recv))?,
        bytes_acked: u64_at(offset_of!(T, tcpi_bytes_acked)),
        notsent_bytes,
        snd_wnd: u32_at(offset_of!(T, tcpi_snd_wnd)),
        queued_bytes: Some(send_queue),
        // sock_diag has no SIOCOUTQNSD: `tcpi_notsent_bytes` is the same
        // count (write_seq − snd_nxt), and with the send queue it makes
        // the exact unacknowledged bytes.
        unsent_bytes: notsent_bytes,
    };
    let limited = (|| {
        let us = |at| u64_at(at).map(|v| v / 1000);
        Some(Limited {
            busy_ms: us(offset_of!(T, tcpi_busy_time))?,
            rwnd_limited_ms: us(offset_of!(T, tcpi_rwnd_limited))?,
            sndbuf_limited_ms: us(offset_of!(T, tcpi_sndbuf_limited))?,
        })
    })();
    Some((reading, limited))
}

#[cfg(test)]
mod tests {
    use super::*;
    use libc::tcp_info as T;
    use std::mem::{offset_of, size_of};

    fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
        buf[at..at + bytes.len()].copy_from_slice(bytes);
    }

    fn full() -> Vec<u8> {
        let mut b = vec![0u8; size_of::<T>()];
        put(&mut b, offset_of!(T, tcpi_unacked), &3u32.to_ne_bytes());
        put(&mut b, offset_of!(T, tcpi_backoff), &[4]);
        put(&mut b, offset_of!(T, tcpi_snd_mss), &1448u32.to_ne_bytes());
        put(&mut b, offset_of!(T, tcpi_rtt), &1500u32.to_ne_bytes());
        put(
            &mut b,
            offset_of!(T, tcpi_total_retrans),
            &7u32.to_ne_bytes(),
        );
        put(
            &mut b,
            offset_of!(T, tcpi_bytes_acked),
            &9000u64.to_ne_bytes(),
        );
        put(
            &mut b,
            offset_of!(T, tcpi_notsent_bytes),
            &65536u32.to_ne_bytes(),
        );
        put(&mut b, offset_of!(T, tcpi_snd_wnd), &0u32.to_ne_bytes());
        put(
            &mut b,
            offset_of!(T, tcpi_rwnd_limited),
            &2_500_000u64.to_ne_bytes(),
        );
        b
    }

    #[test]
    fn a_full_tcp_info_gives_every_field_the_judge_uses() {
        let (r, limited) = parse_tcp_info(&full(), 70_000).unwrap();
        assert_eq!((r.unacked_segments, r.backoff, r.snd_mss), (3, 4, 1448));
        assert_eq!((r.rtt_ms, r.total_retrans), (1.5, 7));
        assert_eq!(r.bytes_acked, Some(9000));
        assert_eq!(r.not_sent(), Some(65536));
        assert_eq!(r.snd_wnd, Some(0));
        // the send queue less what was not sent: sent and unacknowledged
        assert_eq!(r.unacked_bytes(), 70_000 - 65536);
        assert_eq!(limited.unwrap().rwnd_limited_ms, 2500);
    }

    #[test]
    fn an_older_kernels_shorter_struct_leaves_the_newer_fields_unknown() {
        let b = full();
        let cut = offset_of!(T, tcpi_notsent_bytes);
        let (r, limited) = parse_tcp_info(&b[..cut], 10).unwrap();
        assert_eq!(r.bytes_acked, Some(9000));
        assert_eq!((r.notsent_bytes, r.snd_wnd, limited), (None, None, None));
    }

    #[test]
    fn a_truncated_attribute_is_refused_not_read_past_its_end() {
        let b = full();
        assert!(parse_tcp_info(&b[..offset_of!(T, tcpi_total_retrans) + 3], 0).is_none());
        assert!(parse_tcp_info(&[], 0).is_none());
        // longer than this build knows (a newer kernel): still read
        let mut longer = b.clone();
        longer.extend_from_slice(&[0xff; 64]);
        assert_eq!(parse_tcp_info(&longer, 0).unwrap().0.total_retrans, 7);
    }
}
