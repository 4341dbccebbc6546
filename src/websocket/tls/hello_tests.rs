use super::*;

/// An `opaque<..2^16-1>` vector.
fn v16(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u16).to_be_bytes().to_vec();
    out.extend(body);
    out
}

fn v8(body: &[u8]) -> Vec<u8> {
    let mut out = vec![body.len() as u8];
    out.extend(body);
    out
}

fn ext(kind: u16, data: &[u8]) -> Vec<u8> {
    let mut out = kind.to_be_bytes().to_vec();
    out.extend(v16(data));
    out
}

fn alpn(names: &[&str]) -> Vec<u8> {
    v16(&names
        .iter()
        .flat_map(|n| v8(n.as_bytes()))
        .collect::<Vec<_>>())
}

fn sni(host: &str) -> Vec<u8> {
    let mut entry = vec![0u8];
    entry.extend(v16(host.as_bytes()));
    v16(&entry)
}

/// A handshake message: type, 24-bit length, body.
fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend(&(body.len() as u32).to_be_bytes()[1..]);
    out.extend(body);
    out
}

/// A ClientHello as browsers send them: SNI, GREASE, ALPN, versions.
fn client_hello(host: &str, protocols: &[&str], padding: usize) -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend([7u8; 32]);
    body.extend(v8(&[9; 32]));
    body.extend(v16(&[0x13, 0x01, 0x13, 0x02]));
    body.extend(v8(&[0]));
    let mut exts = ext(0x0a0a, &[]);
    exts.extend(ext(EXT_SERVER_NAME, &sni(host)));
    exts.extend(ext(EXT_ALPN, &alpn(protocols)));
    exts.extend(ext(EXT_SUPPORTED_VERSIONS, &v8(&[0x2a, 0x2a, 3, 4, 3, 3])));
    exts.extend(ext(21, &vec![0; padding]));
    body.extend(v16(&exts));
    message(CLIENT_HELLO, &body)
}

fn server_hello(random: [u8; 32], exts: &[u8]) -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend(random);
    body.extend(v8(&[9; 32]));
    body.extend([0x13, 0x01, 0]);
    body.extend(v16(exts));
    message(SERVER_HELLO, &body)
}

fn read_all(reader: &mut HelloReader, pieces: &[&[u8]]) -> Vec<HelloStep> {
    pieces.iter().map(|p| reader.push(p)).collect()
}

#[test]
fn a_client_hello_gives_its_server_name_protocols_and_versions_at_any_split() {
    let msg = client_hello("feed.example.com", &["h2", "http/1.1"], 0);
    for split in 0..msg.len() {
        let mut r = HelloReader::default();
        let steps = read_all(&mut r, &[&msg[..split], &msg[split..]]);
        let Some(HelloStep::Read(Hello::Client(h))) = steps.last() else {
            panic!("split {split}: {steps:?}");
        };
        assert!(matches!(steps[0], HelloStep::NeedMore), "split {split}");
        assert_eq!(h.sni.as_ref().unwrap().expose(), "feed.example.com");
        assert_eq!(h.alpn, ["h2", "http/1.1"]);
        assert_eq!(h.versions, [0x0304, 0x0303], "GREASE left out");
        assert!(r.is_done());
    }
}

#[test]
fn a_server_hello_gives_the_version_and_protocol_chosen() {
    let mut exts = ext(EXT_SUPPORTED_VERSIONS, &[3, 4]);
    exts.extend(ext(EXT_ALPN, &alpn(&["http/1.1"])));
    let mut r = HelloReader::default();
    let HelloStep::Read(Hello::Server(h)) = r.push(&server_hello([1; 32], &exts)) else {
        panic!()
    };
    assert_eq!(
        h,
        ServerHello {
            version: 0x0304,
            alpn: Some("http/1.1".into()),
            retry: false,
            random: [1; 32],
            cipher_suite: 0x1301,
            session_id: vec![9; 32],
            psk: false,
        }
    );
    assert_eq!(version_name(h.version), "TLSv1_3");
    // TLS 1.2 without extensions: the legacy version is the one in use.
    let mut body = vec![3, 3];
    body.extend([1u8; 32]);
    body.extend([0, 0xc0, 0x2f, 0]);
    let HelloStep::Read(Hello::Server(h)) = HelloReader::default().push(&message(2, &body)) else {
        panic!()
    };
    assert_eq!(version_name(h.version), "TLSv1_2");
    // What a key log lookup and the TLS 1.2 key expansion need.
    assert_eq!((h.cipher_suite, h.random), (0xc02f, [1; 32]));
    assert!(h.session_id.is_empty());
}

#[test]
fn after_a_hello_retry_request_the_real_server_hello_is_read() {
    let hrr = server_hello(RETRY_RANDOM, &ext(EXT_SUPPORTED_VERSIONS, &[3, 4]));
    let mut exts = ext(EXT_SUPPORTED_VERSIONS, &[3, 4]);
    exts.extend(ext(EXT_ALPN, &alpn(&["http/1.1"])));
    let real = server_hello([2; 32], &exts);
    let mut r = HelloReader::default();
    let HelloStep::Read(Hello::Server(first)) = r.push(&hrr) else {
        panic!()
    };
    assert!(first.retry && !r.is_done());
    let HelloStep::Read(Hello::Server(second)) = r.push(&real) else {
        panic!()
    };
    assert!(!second.retry && second.alpn.is_some() && r.is_done());
}

#[test]
fn a_hello_longer_than_the_bound_is_given_up_without_keeping_it() {
    let msg = client_hello("a.example", &["http/1.1"], MAX_HELLO);
    let mut r = HelloReader::default();
    let steps = read_all(&mut r, &[&msg[..3], &msg[3..]]);
    assert!(matches!(steps[0], HelloStep::NeedMore));
    assert!(matches!(steps[1], HelloStep::Failed(HelloError::TooLong)));
    assert!(r.is_done() && r.buf.capacity() == 0);
    // Just under the bound is read.
    let fits = client_hello("a.example", &["http/1.1"], MAX_HELLO - 200);
    assert!(fits.len() - 4 <= MAX_HELLO);
    assert!(matches!(
        HelloReader::default().push(&fits),
        HelloStep::Read(Hello::Client(_))
    ));
}

#[test]
fn overrunning_fields_and_other_messages_are_malformed_not_a_panic() {
    let msg = client_hello("x.example", &["h2"], 0);
    // Every truncation of the body, re-labelled as whole, fails cleanly,
    // but for the one that ends where the extensions begin: a TLS 1.2
    // hello may have none (RFC 5246 §7.4.1.2).
    let no_extensions = 4 + 2 + 32 + 33 + 6 + 2;
    for cut in 4..msg.len() {
        let read = parse(CLIENT_HELLO, &msg[4..cut]);
        assert_eq!(read.is_some(), cut == no_extensions, "cut {cut}");
    }
    let mut r = HelloReader::default();
    let cert = message(11, &[0; 10]);
    assert!(matches!(
        r.push(&cert),
        HelloStep::Failed(HelloError::Malformed)
    ));
    // A capture that began after the hello: nothing to give up.
    let mut r = HelloReader::default();
    assert!(matches!(r.interrupt(), HelloStep::NeedMore) && r.is_done());
    let mut r = HelloReader::default();
    r.push(&msg[..10]);
    assert!(matches!(
        r.interrupt(),
        HelloStep::Failed(HelloError::Interrupted)
    ));
}
