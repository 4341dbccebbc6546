//! Big and odd handshake heads, built packet by packet: Cookies of 9, 16
//! and 32 KB, other headers too long to keep, a 101 whose request was not
//! seen or was cut, and `--ws-port` on a head that cannot be read. Each
//! holds three Ping/Pong pairs after the handshake: wspulse must find the
//! WebSocket connection and its heartbeats.

mod common;
mod pcapgen;

use std::path::PathBuf;

use pcapgen::{request_with, Capture, ACK, PSH_ACK, RESPONSE, SYN};
use serde_json::Value;

fn cookie(bytes: usize) -> String {
    let mut value = String::new();
    let mut n = 0;
    while value.len() < bytes {
        value.push_str(&format!("c{n}={}; ", "v".repeat(40)));
        n += 1;
    }
    format!("Cookie: {}\r\n", value.trim_end_matches("; "))
}

/// The one connection's findings, which must be WebSocket with its three
/// Ping/Pong pairs.
fn three_heartbeats(path: &PathBuf, extra: &[&str]) -> Value {
    let mut args = vec!["analyze", "--format", "json"];
    args.extend_from_slice(extra);
    args.push(path.to_str().unwrap());
    let c = common::json(&args);
    let conns = c["connections"].as_array().unwrap();
    assert_eq!(conns.len(), 1, "{path:?} {extra:?}: {c:#}");
    let conn = conns[0].clone();
    assert_eq!(conn["frames"]["server"]["ping"], 3, "{path:?} {extra:?}");
    assert_eq!(conn["frames"]["client"]["pong"], 3, "{path:?} {extra:?}");
    // A capture that lost bytes of the request says so, and only that.
    let lost = common::codes(&conn["reasons"]) == vec![("capture_loss".into(), "client".into())];
    assert!(
        conn["verdict"] == "alive" || (conn["verdict"] == "suspect" && lost),
        "{path:?} {extra:?}: {conn:#}"
    );
    conn
}

/// Kind: a big Cookie hides the Upgrade. Cookie values are dropped unkept,
/// so they do not count against the head cap, whatever their size.
#[test]
fn big_cookies_do_not_hide_the_upgrade() {
    let case = common::repo().join("tests/data/cases/big-cookie-upgrade/c9f_cookie9k.pcap");
    for port in [&[][..], &["--ws-port", "8080"][..]] {
        let conn = three_heartbeats(&case, port);
        assert_eq!(conn["handshake"]["seen"], true);
        assert_eq!(conn["handshake"]["path"], "/ws");
    }
    for kb in [16, 32, 200] {
        let mut cap = Capture::new();
        cap.handshake();
        cap.request(&request_with(&cookie(kb * 1024)), &[]);
        cap.response();
        cap.heartbeats();
        let path = cap.write(&format!("cookie{kb}k.pcap"));
        for port in [&[][..], &["--ws-port", "8080"][..]] {
            let conn = three_heartbeats(&path, port);
            assert_eq!(conn["handshake"]["seen"], true, "{kb} KB {port:?}");
            assert_eq!(conn["handshake"]["accept_valid"], true, "{kb} KB");
            assert_eq!(conn["handshake"]["host"], "example.com", "{kb} KB");
        }
    }
}

/// Heads servers accept, of headers that are kept: still parsed.
#[test]
fn a_20k_head_of_kept_headers_is_parsed() {
    let mut cap = Capture::new();
    cap.handshake();
    cap.request(
        &request_with(&format!("X-Big: {}\r\n", "b".repeat(20_000))),
        &[],
    );
    cap.response();
    cap.heartbeats();
    let conn = three_heartbeats(&cap.write("xbig20k.pcap"), &[]);
    assert_eq!(conn["handshake"]["path"], "/ws");
}

/// Kind: the server's valid 101 establishes the session, however much of
/// the request the capture could read: too long to keep, not seen at
/// all, or cut by a hole.
#[test]
fn a_valid_101_establishes_the_session() {
    // Too long to keep (128 KB of headers that are not credentials).
    let mut cap = Capture::new();
    cap.handshake();
    let filler: String = (0..128)
        .map(|i| format!("X-F{i}: {}\r\n", "f".repeat(1000)))
        .collect();
    cap.request(&request_with(&filler), &[]);
    cap.response();
    cap.heartbeats();
    let conn = three_heartbeats(&cap.write("toolong.pcap"), &[]);
    assert_eq!(conn["handshake"]["status"], 101);

    // Not seen: the capture starts after the request, or missed it.
    let mut cap = Capture::new();
    cap.send(true, SYN, b"", false);
    cap.send(false, SYN | ACK, b"", false);
    cap.send(true, ACK, b"", false);
    cap.request(&request_with(""), &[0]);
    cap.response();
    cap.heartbeats();
    let path = cap.write("after.pcap");
    for port in [&[][..], &["--ws-port", "8080"][..]] {
        let conn = three_heartbeats(&path, port);
        assert_eq!(conn["handshake"]["status"], 101);
    }
    let mut cap = Capture::new();
    cap.handshake();
    cap.request(&request_with(""), &[0]);
    cap.response();
    cap.heartbeats();
    let path = cap.write("unseen.pcap");
    for port in [&[][..], &["--ws-port", "8080"][..]] {
        let conn = three_heartbeats(&path, port);
        assert_eq!(conn["handshake"]["status"], 101);
    }

    // Cut: the capture missed the middle of a 9 KB request.
    let mut cap = Capture::new();
    cap.handshake();
    cap.request(&request_with(&cookie(9 * 1024)), &[3]);
    cap.response();
    cap.heartbeats();
    let conn = three_heartbeats(&cap.write("cut.pcap"), &[]);
    assert_eq!(conn["handshake"]["status"], 101);
}

/// Kind: `--ws-port` on a head that cannot be read as HTTP falls back to
/// finding frames mid-stream; without it, such a connection is not
/// WebSocket.
#[test]
fn ws_port_falls_back_to_midstream_decoding() {
    let mut cap = Capture::new();
    cap.handshake();
    // A request line, then a control byte no HTTP head may hold.
    cap.request(b"GET /ws HTTP/1.1\r\nX-Odd: \x01\r\n\r\n", &[]);
    cap.send(false, PSH_ACK, b"HTTP/1.1 101 \x01\r\n\r\n", true);
    cap.heartbeats();
    let path = cap.write("unreadable.pcap");
    three_heartbeats(&path, &["--ws-port", "8080"]);
    let c = common::json(&["analyze", "--format", "json", path.to_str().unwrap()]);
    assert!(c["connections"].as_array().unwrap().is_empty(), "{c:#}");
}

/// A response head too long to keep, to a WebSocket Upgrade: the frames
/// that follow decide (the server's unmasked, the client's masked).
#[test]
fn a_response_too_long_to_keep_is_decided_by_its_frames() {
    let mut cap = Capture::new();
    cap.handshake();
    cap.request(&request_with(""), &[]);
    let filler: String = (0..80)
        .map(|i| format!("X-F{i}: {}\r\n", "f".repeat(1000)))
        .collect();
    let mut head = RESPONSE[..RESPONSE.len() - 2].to_vec();
    head.extend_from_slice(filler.as_bytes());
    head.extend_from_slice(b"\r\n");
    for part in head.chunks(1448) {
        cap.send(false, PSH_ACK, part, true);
    }
    cap.heartbeats();
    three_heartbeats(&cap.write("long-response.pcap"), &[]);
}
