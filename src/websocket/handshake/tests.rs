//! The Upgrade handshake parser against well-formed, split, hostile and
//! credential-carrying heads.

use super::*;

const REQUEST: &[u8] = b"GET /chat?room=1 HTTP/1.1\r\n\
    Host: server.example.com\r\n\
    Upgrade: websocket\r\n\
    Connection: Upgrade\r\n\
    Cookie: session=SECRET-COOKIE-VALUE\r\n\
    Authorization: Bearer SECRET-TOKEN\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Origin: http://example.com\r\n\
    Sec-WebSocket-Protocol: chat, superchat\r\n\
    Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

const RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
    Upgrade: websocket\r\n\
    Connection: Upgrade\r\n\
    Set-Cookie: id=SECRET-SET-COOKIE\r\n\
    Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
    Sec-WebSocket-Protocol: chat\r\n\r\n";

fn done<T: std::fmt::Debug>(p: HandshakeParse<T>) -> (T, usize, usize) {
    match p {
        HandshakeParse::Done {
            value,
            header_len,
            body_offset,
        } => (value, header_len, body_offset),
        other => panic!("expected Done, got {other:?}"),
    }
}

#[test]
fn rfc_example_request_and_response() {
    let (req, len, off) = done(HeaderAccumulator::<UpgradeRequest>::new().push(REQUEST));
    assert_eq!((len, off), (REQUEST.len(), REQUEST.len()));
    assert!(req.is_websocket_upgrade());
    assert_eq!(req.path, "/chat?room=1");
    assert_eq!(req.host.as_deref(), Some("server.example.com"));
    assert_eq!(req.origin.as_deref(), Some("http://example.com"));
    assert_eq!(req.version.as_deref(), Some("13"));
    assert_eq!(req.protocols, ["chat", "superchat"]);
    assert_eq!(
        req.extensions,
        ["permessage-deflate; client_max_window_bits"]
    );
    assert!(permessage_deflate(&req.extensions));
    let (resp, _, _) = done(HeaderAccumulator::<UpgradeResponse>::new().push(RESPONSE));
    assert_eq!(resp.status, 101);
    assert_eq!(resp.outcome(), UpgradeOutcome::Accepted);
    assert_eq!(resp.protocol.as_deref(), Some("chat"));
    assert!(resp.upgrade_websocket && resp.connection_upgrade);
    assert!(accept_matches(
        req.key.as_deref().unwrap(),
        resp.accept.as_deref().unwrap()
    ));
}

#[test]
fn wrong_accept_does_not_match() {
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    assert!(accept_matches(key, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    assert!(!accept_matches(key, "s3pPLMBiTxaQ9kYGzzhZRbK+xOp="));
    assert!(!accept_matches(
        "AQIDBAUGBwgJCgsMDQ4PEA==",
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    ));
    assert!(!accept_matches(key, ""));
}

#[test]
fn every_split_gives_the_same_head() {
    let (whole, _, _) = done(HeaderAccumulator::<UpgradeRequest>::new().push(REQUEST));
    for cut in 0..REQUEST.len() {
        let mut acc = HeaderAccumulator::<UpgradeRequest>::new();
        assert_eq!(
            acc.push(&REQUEST[..cut]),
            HandshakeParse::NeedMore,
            "cut {cut}"
        );
        let (req, len, off) = done(acc.push(&REQUEST[cut..]));
        assert_eq!(
            (&req, len, off),
            (&whole, REQUEST.len(), REQUEST.len() - cut)
        );
    }
    let mut acc = HeaderAccumulator::<UpgradeResponse>::new();
    let mut results: Vec<_> = RESPONSE.chunks(1).map(|c| acc.push(c)).collect();
    let last = results.pop().unwrap();
    assert!(results.iter().all(|r| *r == HandshakeParse::NeedMore));
    assert_eq!(done(last).0.status, 101);
}

#[test]
fn lowercase_names_and_multi_token_connection() {
    let head =
        b"GET / HTTP/1.1\r\nhost: a\r\nupgrade: WebSocket\r\nconnection: keep-alive, Upgrade\r\n\
        sec-websocket-key: abc\r\nsec-websocket-version: 13\r\n\r\n";
    let req = parse_request(head).unwrap();
    assert!(req.is_websocket_upgrade());
    assert_eq!(
        (req.host.as_deref(), req.key.as_deref()),
        (Some("a"), Some("abc"))
    );
    // Bare LF line ends are accepted too.
    let lf = b"GET / HTTP/1.1\nUpgrade: websocket\nConnection: close, upgrade\n\n";
    let (req, len, _) = done(HeaderAccumulator::<UpgradeRequest>::new().push(lf));
    assert!(req.is_websocket_upgrade());
    assert_eq!(len, lf.len());
}

#[test]
fn not_an_upgrade() {
    let plain =
        parse_request(b"GET / HTTP/1.1\r\nConnection: keep-alive\r\nUpgrade: websocket\r\n\r\n")
            .unwrap();
    assert!(!plain.is_websocket_upgrade());
    let h2c =
        parse_request(b"GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n").unwrap();
    assert!(!h2c.is_websocket_upgrade());
    let post =
        parse_request(b"POST / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
            .unwrap();
    assert!(!post.method_get && !post.is_websocket_upgrade());
    // "upgrade" must be a whole token, not a substring.
    let sub =
        parse_request(b"GET / HTTP/1.1\r\nConnection: upgrades\r\nUpgrade: websockets\r\n\r\n")
            .unwrap();
    assert!(!sub.connection_upgrade && !sub.upgrade_websocket);
}

#[test]
fn refused_and_other_statuses() {
    let head = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
    let (resp, _, _) = done(HeaderAccumulator::<UpgradeResponse>::new().push(head));
    assert_eq!(
        (resp.status, resp.outcome()),
        (403, UpgradeOutcome::Refused)
    );
    assert_eq!(
        parse_response(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
            .unwrap()
            .outcome(),
        UpgradeOutcome::Refused
    );
    assert_eq!(
        parse_response(b"HTTP/1.1 302 Found\r\n\r\n")
            .unwrap()
            .outcome(),
        UpgradeOutcome::Other
    );
    assert_eq!(parse_response(b"HTTP/1.0 200\r\n\r\n").unwrap().status, 200);
    assert_eq!(parse_response(b"HTTP/1.1 20x OK\r\n\r\n"), None);
    assert_eq!(parse_response(b"HTTP/2 101\r\n\r\n"), None);
}

#[test]
fn frames_coalesced_with_the_101_response() {
    let frames = [0x81, 0x02, b'h', b'i', 0x89, 0x00];
    let mut seg = RESPONSE[40..].to_vec();
    seg.extend_from_slice(&frames);
    let mut acc = HeaderAccumulator::<UpgradeResponse>::new();
    assert_eq!(acc.push(&RESPONSE[..40]), HandshakeParse::NeedMore);
    let (_, len, off) = done(acc.push(&seg));
    assert_eq!(len, RESPONSE.len());
    assert_eq!(&seg[off..], &frames);
    // Later pushes are all frame stream.
    let (_, len, off) = done(acc.push(&[0x8A, 0x00]));
    assert_eq!((len, off), (RESPONSE.len(), 0));
}

#[test]
fn non_http_bytes() {
    let tls = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc];
    assert_eq!(
        HeaderAccumulator::<UpgradeRequest>::new().push(&tls),
        HandshakeParse::NotHttp
    );
    assert_eq!(
        HeaderAccumulator::<UpgradeResponse>::new().push(&tls),
        HandshakeParse::NotHttp
    );
    // A WebSocket frame, as seen when a capture starts mid-stream.
    assert_eq!(
        HeaderAccumulator::<UpgradeResponse>::new().push(&[0x81, 0x02, b'h', b'i']),
        HandshakeParse::NotHttp
    );
    // A request where a response is expected, and the reverse.
    assert_eq!(
        HeaderAccumulator::<UpgradeResponse>::new().push(b"GET / HTTP/1.1\r\n"),
        HandshakeParse::NotHttp
    );
    assert_eq!(
        HeaderAccumulator::<UpgradeRequest>::new().push(b"HTTP/1.1 101 x\r\n"),
        HandshakeParse::NotHttp
    );
    // Decided as early as the first byte, and sticky.
    let mut acc = HeaderAccumulator::<UpgradeResponse>::new();
    assert_eq!(acc.push(b"X"), HandshakeParse::NotHttp);
    assert_eq!(acc.push(b"TTP/1.1 101\r\n\r\n"), HandshakeParse::NotHttp);
    // Split prefixes stay undecided while they may still be HTTP.
    let mut acc = HeaderAccumulator::<UpgradeResponse>::new();
    assert_eq!(acc.push(b"HT"), HandshakeParse::NeedMore);
    // Binary inside the head.
    assert_eq!(
        HeaderAccumulator::<UpgradeRequest>::new().push(b"GET / HTTP/1.1\r\nX: \x00\r\n\r\n"),
        HandshakeParse::NotHttp
    );
    // A malformed start line with a blank line after it.
    assert_eq!(
        HeaderAccumulator::<UpgradeRequest>::new().push(b"GET /\r\nA: b\r\n\r\n"),
        HandshakeParse::NotHttp
    );
}

/// Credential values are dropped unkept, so they do not count against
/// the head kept: a Cookie far bigger than it still lets the Upgrade
/// through. Only the bytes read are bounded, at `MAX_HEAD_SEEN`.
#[test]
fn credential_values_do_not_count_against_the_cap() {
    for size in [9 * 1024, 16 * 1024, 32 * 1024, 2 * MAX_HEAD_LEN] {
        let mut head = b"GET /ws HTTP/1.1\r\nHost: h\r\nCookie: ".to_vec();
        head.resize(head.len() + size, b'c');
        head.extend_from_slice(b"\r\nAuthorization: Bearer ");
        head.resize(head.len() + size, b't');
        head.extend_from_slice(b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
        let mut acc = HeaderAccumulator::<UpgradeRequest>::new();
        let mut last = HandshakeParse::NeedMore;
        for part in head.chunks(1448) {
            last = acc.push(part);
        }
        let (req, len, _) = done(last);
        assert!(req.is_websocket_upgrade(), "{size}");
        assert_eq!(req.host.as_deref(), Some("h"));
        assert_eq!(len, head.len());
    }
    let mut head = b"GET /ws HTTP/1.1\r\nCookie: ".to_vec();
    head.resize(MAX_HEAD_SEEN + 1, b'c');
    assert_eq!(
        HeaderAccumulator::<UpgradeRequest>::new().push(&head),
        HandshakeParse::TooLong
    );
}

#[test]
fn too_long() {
    let mut acc = HeaderAccumulator::<UpgradeRequest>::new();
    assert_eq!(acc.push(b"GET / HTTP/1.1\r\n"), HandshakeParse::NeedMore);
    let filler = format!("X-Filler: {}\r\n", "a".repeat(1000));
    let mut last = HandshakeParse::NeedMore;
    for _ in 0..MAX_HEAD_LEN / 1000 + 1 {
        last = acc.push(filler.as_bytes());
    }
    assert_eq!(last, HandshakeParse::TooLong);
    assert_eq!(acc.push(b"\r\n"), HandshakeParse::TooLong);
    // Exactly at the limit is fine.
    let mut head = b"GET / HTTP/1.1\r\nX: ".to_vec();
    head.resize(MAX_HEAD_LEN - 4, b'a');
    head.extend_from_slice(b"\r\n\r\n");
    assert_eq!(
        done(HeaderAccumulator::<UpgradeRequest>::new().push(&head)).1,
        MAX_HEAD_LEN
    );
    head.insert(20, b'a');
    assert_eq!(
        HeaderAccumulator::<UpgradeRequest>::new().push(&head),
        HandshakeParse::TooLong
    );
}

#[test]
fn credentials_are_never_kept() {
    let secrets = [
        "SECRET-COOKIE-VALUE",
        "SECRET-TOKEN",
        "SECRET-SET-COOKIE",
        "SECRET-FOLDED",
    ];
    let with_fold = [
        &REQUEST[..REQUEST.len() - 2],
        b"proxy-authorization: Basic x\r\n SECRET-FOLDED\r\n\r\n".as_slice(),
    ]
    .concat();
    for (name, head) in [("request", with_fold.as_slice()), ("response", RESPONSE)] {
        for cut in 0..head.len() {
            let debug = if name == "request" {
                let mut acc = HeaderAccumulator::<UpgradeRequest>::new();
                acc.push(&head[..cut]);
                let mid = String::from_utf8_lossy(&acc.kept).into_owned();
                let (value, _, _) = done(acc.push(&head[cut..]));
                format!("{mid}{value:?}{}", String::from_utf8_lossy(&acc.kept))
            } else {
                let mut acc = HeaderAccumulator::<UpgradeResponse>::new();
                acc.push(&head[..cut]);
                let mid = String::from_utf8_lossy(&acc.kept).into_owned();
                let (value, _, _) = done(acc.push(&head[cut..]));
                format!("{mid}{value:?}{}", String::from_utf8_lossy(&acc.kept))
            };
            for s in secrets {
                assert!(!debug.contains(s), "{name} cut {cut} keeps {s}: {debug}");
            }
            // The fields after the secret ones still parse.
            assert!(debug.contains("chat"), "{name} cut {cut}");
        }
    }
    // The parsers drop them as well when given a raw head.
    let debug = format!("{:?}", parse_request(REQUEST).unwrap());
    assert!(!debug.contains("SECRET"));
}

#[test]
fn mid_collection_state_holds_no_secret_prefix() {
    // The secret header's name is complete, its value is streaming in.
    let mut acc = HeaderAccumulator::<UpgradeRequest>::new();
    acc.push(b"GET / HTTP/1.1\r\nCookie: abcSECRET");
    assert_eq!(acc.kept, b"GET / HTTP/1.1\r\n");
    let rest = b"more\r\nHost: h\r\n\r\n";
    assert_eq!(acc.push(rest), done_req("h", 33 + rest.len(), rest.len()));
}

fn done_req(host: &str, header_len: usize, body_offset: usize) -> HandshakeParse<UpgradeRequest> {
    let req = UpgradeRequest {
        method_get: true,
        path: "/".into(),
        host: Some(host.into()),
        ..UpgradeRequest::default()
    };
    HandshakeParse::Done {
        value: req,
        header_len,
        body_offset,
    }
}

#[test]
fn permessage_deflate_detection() {
    let ext = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(permessage_deflate(&ext(&["permessage-deflate"])));
    assert!(permessage_deflate(&ext(&[
        "x-foo",
        "PerMessage-Deflate ; server_no_context_takeover"
    ])));
    assert!(!permessage_deflate(&ext(&["x-webkit-deflate-frame"])));
    assert!(!permessage_deflate(&ext(&["permessage-deflate-v2"])));
    assert!(!permessage_deflate(&[]));
}
