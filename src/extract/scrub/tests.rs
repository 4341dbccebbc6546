use super::*;

fn walk(d: &mut Direction, seq: u32, bytes: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    d.rewrite(seq, false, &mut b);
    b
}

const REQUEST: &[u8] = b"GET /chat?token=abc123 HTTP/1.1\r\nHost: example.com\r\nCookie: sid=s3cr3t\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Api-Key: k9k9\r\nSec-WebSocket-Extensions: a; b=15; c=secret\r\nX-Folded: one\r\n two\r\n\r\n";

#[test]
fn handshake_keeps_names_and_its_own_headers_only() {
    let mut d = Direction::default();
    let out = String::from_utf8(walk(&mut d, 1000, REQUEST)).unwrap();
    assert!(
        out.starts_with("GET /00000000000000000 HTTP/1.1\r\n"),
        "{out}"
    );
    assert!(out.contains("Host: 00000000000\r\n"), "{out}");
    assert!(out.contains("Cookie: 0000000000\r\n"), "{out}");
    assert!(out.contains("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"));
    assert!(!out.contains("k9k9") && !out.contains("s3cr3t") && !out.contains("abc"));
    assert!(
        out.contains("Extensions: a; b=15; c=000000\r\nX-Folded: 000\r\n 000\r\n"),
        "{out}"
    );
    assert_eq!(out.len(), REQUEST.len(), "lengths stay");
}

#[test]
fn masked_frame_payload_unmasks_to_zeros_and_headers_stay() {
    let mut d = Direction::default();
    let hs = walk(&mut d, 1, REQUEST);
    assert_eq!(hs.len(), REQUEST.len());
    let key = [0x11, 0x22, 0x33, 0x44];
    let mut frame = vec![0x81, 0x85];
    frame.extend(key);
    frame.extend(b"hello".iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
    // A Close with code 1000 and a reason, unmasked (server to client).
    frame.extend([0x88, 0x06, 0x03, 0xe8]);
    frame.extend(b"bye!");
    let seq = 1 + REQUEST.len() as u32;
    let out = walk(&mut d, seq, &frame);
    assert_eq!(&out[..6], &frame[..6], "header and mask key kept");
    let unmasked: Vec<u8> = out[6..11]
        .iter()
        .zip(key.iter().cycle())
        .map(|(b, k)| b ^ k)
        .collect();
    assert_eq!(unmasked, vec![0; 5]);
    assert_eq!(&out[11..15], &[0x88, 0x06, 0x03, 0xe8], "close code kept");
    assert_eq!(&out[15..], &[0; 4], "close reason zeroed");
    // A retransmission of the same bytes is rewritten the same way.
    assert_eq!(walk(&mut d, seq, &frame), out);
}

#[test]
fn after_a_gap_everything_is_zeroed() {
    let mut d = Direction::default();
    walk(&mut d, 1, REQUEST);
    let seq = 1 + REQUEST.len() as u32 + 100;
    // Looks like a frame header, but its place in the stream is unknown.
    assert_eq!(walk(&mut d, seq, &[0x81, 0x02, b'h', b'i']), vec![0; 4]);
}

#[test]
fn tls_keeps_record_headers_and_handshake_zeroes_application_data() {
    let mut d = Direction::default();
    let mut bytes = vec![0x16, 3, 1, 0, 3, 1, 2, 3];
    bytes.extend([0x17, 3, 3, 0, 4, 9, 9, 9, 9]);
    let out = walk(&mut d, 7, &bytes);
    assert_eq!(&out[..13], &bytes[..13]);
    assert_eq!(&out[13..], &[0; 4]);
}

#[test]
fn a_stream_that_is_neither_is_zeroed() {
    let mut d = Direction::default();
    assert_eq!(walk(&mut d, 5, b"\x00\x01secret"), vec![0; 8]);
}

const APP_REQUEST: &[u8] = b"GET /socket.io/?EIO=4&transport=websocket&token=abc123 HTTP/1.1\r\nSec-WebSocket-Protocol: graphql-transport-ws, Bearer.eyJhbGciOi\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

#[test]
fn paths_query_names_and_protocol_tokens_stay_values_do_not() {
    let mut d = Direction::new(true);
    let out = String::from_utf8(walk(&mut d, 1, APP_REQUEST)).unwrap();
    assert!(
        out.starts_with("GET /socket.io/?EIO=4&transport=000000000&token=000000 HTTP/1.1\r\n"),
        "{out}"
    );
    assert!(
        out.contains("Sec-WebSocket-Protocol: graphql-transport-ws, 00000000000000000\r\n"),
        "{out}"
    );
    // Under --redact, the path goes too.
    let mut d = Direction::new(false);
    let out = String::from_utf8(walk(&mut d, 1, APP_REQUEST)).unwrap();
    assert!(out.starts_with("GET /000000000/00000"), "{out}");
    assert!(!out.contains("abc123") && !out.contains("eyJ"), "{out}");
}

#[test]
fn heartbeat_messages_stay_other_messages_do_not() {
    let mut d = Direction::new(true);
    walk(&mut d, 1, APP_REQUEST);
    let seq = 1 + APP_REQUEST.len() as u32;
    let key = [0x11, 0x22, 0x33, 0x44];
    let masked = |payload: &[u8]| -> Vec<u8> {
        let mut f = vec![0x81, 0x80 | payload.len() as u8];
        f.extend(key);
        f.extend(payload.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
        f
    };
    // A Socket.IO pong, a graphql-transport-ws ping, then a message.
    let mut frames = masked(b"3");
    frames.extend(masked(br#"{"type":"ping"}"#));
    frames.extend(masked(b"42[\"secret\"]"));
    let out = walk(&mut d, seq, &frames);
    let beats = masked(b"3").len() + masked(br#"{"type":"ping"}"#).len();
    assert_eq!(&out[..beats], &frames[..beats], "heartbeats kept as sent");
    let last: Vec<u8> = out[beats + 6..]
        .iter()
        .zip(key.iter().cycle())
        .map(|(b, k)| b ^ k)
        .collect();
    assert_eq!(last, vec![0; 12], "other messages zeroed");
    // A heartbeat the segment cuts off cannot be read whole: zeroed.
    let mut d = Direction::new(true);
    walk(&mut d, 1, APP_REQUEST);
    let ping = masked(br#"{"type":"ping"}"#);
    let out = walk(&mut d, seq, &ping[..10]);
    assert_ne!(&out[6..10], &ping[6..10]);
}
