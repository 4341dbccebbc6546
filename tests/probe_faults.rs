//! `wspulse probe` against servers that fail one way each, over real
//! sockets on loopback (see `probe_kit::RAW_PEER`): Pings never answered,
//! empty Pongs, a server that stops reading, a Close with no TCP close
//! after it, an RST. Each asserts the verdict, the reasons and their sides,
//! and that the run ends within its deadlines plus a margin.

mod probe_kit;

use std::time::Duration;

use probe_kit::*;

#[test]
fn a_server_that_never_answers_pings_owes_the_pong() {
    let Some(server) = Server::raw("silent") else {
        return;
    };
    let url = server.url("/");
    let args = [
        "--duration",
        "3s",
        "--ping-interval",
        "250ms",
        "--pong-timeout",
        "1s",
        &url,
    ];
    let (v, took) = probe_ok(&args, Duration::from_secs(10));
    assert_eq!(v["verdict"], "false_alive", "{v:#}");
    assert!(
        reasons(&v).contains(&("ping_unanswered".into(), "server".into())),
        "{v:#}"
    );
    assert!(
        !reasons(&v).iter().any(|(_, side)| side == "client"),
        "nothing against the probe: {v:#}"
    );
    assert_eq!(v["pings"]["answered"], 0, "{v:#}");
    // The server's kernel acknowledged every Ping: TCP is fine, the
    // application is not.
    assert_eq!(v["tcp_info"]["unacked_segments"], 0, "{v:#}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn empty_pongs_answer_nothing_and_are_a_note_against_the_server() {
    let Some(server) = Server::raw("empty-pongs") else {
        return;
    };
    let url = server.url("/");
    let args = ["--count", "3", "--ping-interval", "200ms", &url];
    let (v, _) = probe_ok(&args, Duration::from_secs(10));
    assert_eq!(v["pings"]["answered"], 0, "{v:#}");
    assert_eq!(v["pings"]["mismatched"], 3, "{v:#}");
    assert_eq!(v["frames"]["server"]["pong"], 3, "{v:#}");
    assert!(
        notes(&v).contains(&("pong_payload_mismatch".into(), "server".into())),
        "{v:#}"
    );
}

/// The case heartbeats alone cannot see: the server's process is up, its
/// kernel ACKs, but the application stopped reading. The probe's writes
/// fill the server's receive window, then its own send queue; TCP_INFO and
/// the queue ioctls prove it.
#[test]
fn a_server_that_stopped_reading_shows_in_the_probes_own_send_queue() {
    let Some(server) = Server::raw("no-read") else {
        return;
    };
    let url = server.url("/");
    let text = "x".repeat(8000);
    let args = [
        "--duration",
        "5s",
        "--ping-interval",
        "250ms",
        "--send",
        &text,
        "--send-interval",
        "20ms",
        "--zero-window-stall",
        "2s",
        &url,
    ];
    let (out, took) = probe(
        &[&["--format", "json"][..], &args].concat(),
        Duration::from_secs(12),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = conn(&out);
    assert_eq!(v["verdict"], "false_alive", "{v:#}");
    assert!(
        reasons(&v).contains(&("zero_window_stall".into(), "server".into())),
        "{v:#}"
    );
    if cfg!(target_os = "linux") {
        let info = &v["tcp_info"];
        assert_eq!(info["snd_wnd"], 0, "the server's window is shut: {info}");
        let unsent = info["unsent_bytes"].as_u64().expect("SIOCOUTQNSD");
        let queued = info["queued_bytes"].as_u64().expect("SIOCOUTQ");
        assert!(unsent > 10_000, "written and never sent: {info}");
        assert!(queued >= unsent, "{info}");
    }
    assert!(
        !v.to_string().contains("xxxxxxxx"),
        "the --send text was printed"
    );
    assert!(took < Duration::from_secs(8), "took {took:?}");
}

#[test]
fn a_close_with_tcp_held_open_after_it_is_said() {
    let Some(server) = Server::raw("close-hold") else {
        return;
    };
    let url = server.url("/");
    let args = [
        "--duration",
        "10s",
        "--ping-interval",
        "250ms",
        "--close-timeout",
        "1s",
        &url,
    ];
    let (v, took) = probe_ok(&args, Duration::from_secs(10));
    // Close frames went both ways: closed, as the spec's verdicts say; the
    // TCP connection the server should have closed first is the finding.
    assert_eq!(v["verdict"], "closed", "{v:#}");
    assert_eq!(v["close"]["server"]["code"], 1001, "{v:#}");
    let ended = v["ended"].as_str().expect("ended");
    assert!(ended.contains("kept TCP open past 1s"), "{ended}");
    // The Close came at 1 s; then 1 s of waiting: not the 10 s duration.
    assert!(took < Duration::from_secs(4), "took {took:?}");
}

#[test]
fn a_reset_is_aborted_and_check_says_critical() {
    let Some(server) = Server::raw("rst") else {
        return;
    };
    let url = server.url("/");
    let args = [
        "--duration",
        "6s",
        "--ping-interval",
        "250ms",
        "--check",
        &url,
    ];
    let (out, took) = probe(&args, Duration::from_secs(10));
    let line = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(line.starts_with("WSPULSE CRITICAL - "), "{line}");
    assert!(line.contains(" aborted"), "{line}");
    assert!(line.contains("| connections=1 "), "{line}");
    assert!(took < Duration::from_secs(4), "took {took:?}");
}
