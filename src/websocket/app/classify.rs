//! One data message's first bytes, classified as a heartbeat of a given
//! protocol, or used to recognise the protocol when nothing named it. The
//! bytes are read here and dropped: nothing of them leaves but the verdict
//! of the classification and, for a declaration, its numbers.

use super::{AppProtocol, Beat};
use crate::time::Span;

/// What a message is, as far as its first bytes tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    Beat(Beat),
    /// Engine.IO's open packet: `pingInterval` and `pingTimeout`.
    EngineIoOpen {
        interval: Span,
        timeout: Span,
    },
    /// A STOMP CONNECT/STOMP (client) or CONNECTED (server) frame's
    /// `heart-beat: x,y` in ms (0: none).
    StompHeartBeat {
        send: u32,
        want: u32,
    },
    /// An MQTT CONNECT's keep-alive, in seconds (0: none).
    MqttKeepAlive(u16),
    Nothing,
}

/// The message `head` (the first bytes, unmasked; `len` the whole
/// payload's length; `text` for a Text frame) of a connection speaking
/// `protocol`.
pub fn classify(protocol: AppProtocol, text: bool, len: u64, head: &[u8]) -> Found {
    let whole = head.len() as u64 == len;
    match protocol {
        AppProtocol::SocketIo if text => match (head, whole) {
            (b"2", true) => Found::Beat(Beat::Ping),
            (b"3", true) => Found::Beat(Beat::Pong),
            _ if head.starts_with(b"0{") => engine_io_open(head),
            _ => Found::Nothing,
        },
        AppProtocol::GraphqlTransportWs if text && len <= 512 => match json_str(head, "type") {
            Some(b"ping") => Found::Beat(Beat::Ping),
            Some(b"pong") => Found::Beat(Beat::Pong),
            _ => Found::Nothing,
        },
        AppProtocol::GraphqlWs if text && len <= 64 => match json_str(head, "type") {
            Some(b"ka") => Found::Beat(Beat::OneWay),
            _ => Found::Nothing,
        },
        AppProtocol::Mqtt if !text => mqtt(head, whole),
        AppProtocol::Stomp => stomp(head, whole),
        AppProtocol::SignalR if len <= 32 => {
            let body = head.strip_suffix(&[0x1e]).unwrap_or(head);
            match json_raw(body, "type") {
                Some(b"6") if whole => Found::Beat(Beat::OneWay),
                _ => Found::Nothing,
            }
        }
        AppProtocol::Phoenix if text && len <= 256 => phoenix(head),
        AppProtocol::ActionCable if text && len <= 128 => match json_str(head, "type") {
            Some(b"ping") => Found::Beat(Beat::OneWay),
            _ => Found::Nothing,
        },
        _ => Found::Nothing,
    }
}

/// The protocol a message's first bytes show, for a connection nothing
/// named. Only shapes no other traffic is likely to have count.
pub fn recognise(text: bool, len: u64, head: &[u8]) -> Option<AppProtocol> {
    let whole = head.len() as u64 == len;
    if !text {
        // MQTT: PINGREQ/PINGRESP exactly, or a CONNECT naming "MQTT".
        return match head {
            [0xc0, 0] | [0xd0, 0] if whole => Some(AppProtocol::Mqtt),
            [0x10, _, 0, 4, b'M', b'Q', b'T', b'T', ..] => Some(AppProtocol::Mqtt),
            _ => None,
        };
    }
    if (head == b"2" || head == b"3") && whole
        || head.starts_with(b"0{\"sid\"")
        || head.starts_with(b"42[")
        || head.starts_with(b"40")
    {
        return Some(AppProtocol::SocketIo);
    }
    if head.starts_with(b"CONNECTED\n") || head.starts_with(b"MESSAGE\n") {
        return Some(AppProtocol::Stomp);
    }
    // What is left is JSON: a message that does not open as an object or
    // an array is none of them, and is passed over without a search.
    if !matches!(head.trim_ascii_start().first(), Some(b'{' | b'[')) {
        return None;
    }
    if head.last() == Some(&0x1e) && json_raw(&head[..head.len() - 1], "type").is_some() {
        return Some(AppProtocol::SignalR);
    }
    match json_str(head, "type") {
        // An Action Cable ping carries the server's time; graphql's does not.
        Some(b"ping") if json_raw(head, "message").is_some() => Some(AppProtocol::ActionCable),
        Some(b"welcome" | b"confirm_subscription") => Some(AppProtocol::ActionCable),
        Some(b"ping" | b"pong" | b"connection_ack" | b"next" | b"subscribe") => {
            Some(AppProtocol::GraphqlTransportWs)
        }
        Some(b"ka" | b"connection_init" | b"data" | b"start") => Some(AppProtocol::GraphqlWs),
        _ if matches!(phoenix(head), Found::Beat(_)) => Some(AppProtocol::Phoenix),
        _ => None,
    }
}

/// `0{"sid":"…","upgrades":[],"pingInterval":25000,"pingTimeout":20000}`.
fn engine_io_open(head: &[u8]) -> Found {
    let ms = |key| json_raw(head, key).and_then(number).map(Span::from_millis);
    match (ms("pingInterval"), ms("pingTimeout")) {
        (Some(interval), Some(timeout)) => Found::EngineIoOpen { interval, timeout },
        _ => Found::Nothing,
    }
}

fn mqtt(head: &[u8], whole: bool) -> Found {
    match head {
        [0xc0, 0] if whole => Found::Beat(Beat::Ping),
        [0xd0, 0] if whole => Found::Beat(Beat::Pong),
        // CONNECT (§3.1): fixed header, remaining length (1-4 bytes), the
        // protocol name "MQTT" (or "MQIsdp" for 3.1), level, flags, then
        // the keep-alive in seconds.
        [0x10, ..] => {
            let mut i = 1;
            while head.get(i).is_some_and(|b| b & 0x80 != 0) && i < 4 {
                i += 1;
            }
            let name_len = head
                .get(i + 1..i + 3)
                .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])));
            let Some(n) = name_len else {
                return Found::Nothing;
            };
            let at = i + 3 + n + 2;
            match head.get(at..at + 2) {
                Some(k) => Found::MqttKeepAlive(u16::from_be_bytes([k[0], k[1]])),
                None => Found::Nothing,
            }
        }
        _ => Found::Nothing,
    }
}

/// STOMP 1.2: a heart-beat is an EOL (`\n` or `\r\n`) alone; CONNECT,
/// STOMP and CONNECTED frames carry `heart-beat:x,y`.
fn stomp(head: &[u8], whole: bool) -> Found {
    if whole && (head == b"\n" || head == b"\r\n") {
        return Found::Beat(Beat::OneWay);
    }
    let is_connect = head.starts_with(b"CONNECT\n")
        || head.starts_with(b"CONNECT\r\n")
        || head.starts_with(b"STOMP\n")
        || head.starts_with(b"CONNECTED\n");
    if !is_connect {
        return Found::Nothing;
    }
    // Headers end at the first empty line; only heart-beat is read.
    for line in head.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix(b"heart-beat:") {
            let mut parts = v.split(|&b| b == b',').map(|p| number(p).map(|n| n as u32));
            if let (Some(Some(send)), Some(Some(want))) = (parts.next(), parts.next()) {
                return Found::StompHeartBeat { send, want };
            }
        }
    }
    Found::Nothing
}

/// Phoenix: v2 `[join_ref, ref, "phoenix", "heartbeat", {}]` or v1
/// `{"topic":"phoenix","event":"heartbeat",...}`; the reply on topic
/// `phoenix` is `phx_reply`.
fn phoenix(head: &[u8]) -> Found {
    let event = if head.starts_with(b"[") {
        let mut fields = head.splitn(5, |&b| b == b',');
        match (fields.nth(2), fields.next()) {
            (Some(topic), Some(event)) if trim_quotes(topic) == b"phoenix" => trim_quotes(event),
            _ => return Found::Nothing,
        }
    } else {
        match (json_str(head, "topic"), json_str(head, "event")) {
            (Some(b"phoenix"), Some(e)) => e,
            _ => return Found::Nothing,
        }
    };
    match event {
        b"heartbeat" => Found::Beat(Beat::Ping),
        b"phx_reply" => Found::Beat(Beat::Pong),
        _ => Found::Nothing,
    }
}

fn trim_quotes(b: &[u8]) -> &[u8] {
    let b = b.trim_ascii();
    b.strip_prefix(b"\"")
        .and_then(|b| b.strip_suffix(b"\""))
        .unwrap_or(b)
}

/// The raw value after `"key":` (a number, `null`, or a string with its
/// quotes), up to the next `,` or `}`: enough for flat heartbeat objects.
/// Every message of a connection not yet recognised passes through here up
/// to four times, so the key is found with memchr's vectorised substring
/// search and no allocation: `key` between quotes.
fn json_raw<'a>(head: &'a [u8], key: &str) -> Option<&'a [u8]> {
    let key = key.as_bytes();
    let after = memchr::memmem::find_iter(head, key).find_map(|at| {
        let end = at + key.len();
        let quoted = at > 0 && head[at - 1] == b'"' && head.get(end) == Some(&b'"');
        quoted.then_some(end + 1)
    })?;
    let rest = head[after..].trim_ascii_start();
    let rest = rest.strip_prefix(b":")?.trim_ascii_start();
    if let Some(s) = rest.strip_prefix(b"\"") {
        let end = s.iter().position(|&b| b == b'"')?;
        return Some(&rest[..end + 2]);
    }
    let end = rest
        .iter()
        .position(|&b| b == b',' || b == b'}' || b == b']')
        .unwrap_or(rest.len());
    Some(rest[..end].trim_ascii_end())
}

/// A string value's contents.
fn json_str<'a>(head: &'a [u8], key: &str) -> Option<&'a [u8]> {
    let raw = json_raw(head, key)?;
    raw.strip_prefix(b"\"")?.strip_suffix(b"\"")
}

/// Decimal digits as a number (at most 10 of them).
fn number(digits: &[u8]) -> Option<i64> {
    let d = digits.trim_ascii();
    if d.is_empty() || d.len() > 10 || !d.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(d).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use AppProtocol::*;

    fn beat(p: AppProtocol, text: bool, m: &[u8]) -> Found {
        classify(p, text, m.len() as u64, m)
    }

    #[test]
    fn engine_io_pings_pongs_and_its_open_packet() {
        assert_eq!(beat(SocketIo, true, b"2"), Found::Beat(Beat::Ping));
        assert_eq!(beat(SocketIo, true, b"3"), Found::Beat(Beat::Pong));
        // The upgrade probe and events are not heartbeats.
        assert_eq!(beat(SocketIo, true, b"2probe"), Found::Nothing);
        assert_eq!(beat(SocketIo, true, b"42[\"tick\",1]"), Found::Nothing);
        let open = br#"0{"sid":"a","upgrades":[],"pingInterval":2000,"pingTimeout":1000,"maxPayload":1000000}"#;
        assert_eq!(
            beat(SocketIo, true, open),
            Found::EngineIoOpen {
                interval: Span::from_millis(2000),
                timeout: Span::from_millis(1000)
            }
        );
    }

    #[test]
    fn graphql_pings_either_way_and_the_older_keep_alive() {
        let ping = br#"{"type":"ping"}"#;
        assert_eq!(
            beat(GraphqlTransportWs, true, ping),
            Found::Beat(Beat::Ping)
        );
        let pong = br#"{ "type" : "pong", "payload": {} }"#;
        assert_eq!(
            beat(GraphqlTransportWs, true, pong),
            Found::Beat(Beat::Pong)
        );
        let next = br#"{"id":"1","type":"next","payload":{"data":{}}}"#;
        assert_eq!(beat(GraphqlTransportWs, true, next), Found::Nothing);
        assert_eq!(
            beat(GraphqlWs, true, br#"{"type":"ka"}"#),
            Found::Beat(Beat::OneWay)
        );
    }

    #[test]
    fn mqtt_pings_and_the_connect_keep_alive() {
        assert_eq!(beat(Mqtt, false, &[0xc0, 0]), Found::Beat(Beat::Ping));
        assert_eq!(beat(Mqtt, false, &[0xd0, 0]), Found::Beat(Beat::Pong));
        // CONNECT, remaining length 16, "MQTT", level 4, flags 2, keep-alive 60.
        let connect = [
            0x10, 16, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 60, 0, 2, b'i', b'd',
        ];
        assert_eq!(beat(Mqtt, false, &connect), Found::MqttKeepAlive(60));
        // A PUBLISH is data.
        assert_eq!(beat(Mqtt, false, &[0x30, 3, 0, 1, b't']), Found::Nothing);
    }

    #[test]
    fn stomp_end_of_lines_and_negotiation() {
        assert_eq!(beat(Stomp, true, b"\n"), Found::Beat(Beat::OneWay));
        assert_eq!(beat(Stomp, true, b"\r\n"), Found::Beat(Beat::OneWay));
        let connected = b"CONNECTED\nversion:1.2\nheart-beat:2000,3000\n\n\0";
        assert_eq!(
            beat(Stomp, true, connected),
            Found::StompHeartBeat {
                send: 2000,
                want: 3000
            }
        );
        assert_eq!(
            beat(Stomp, true, b"MESSAGE\ndestination:/q\n\nhi\0"),
            Found::Nothing
        );
    }

    #[test]
    fn signalr_phoenix_and_action_cable() {
        assert_eq!(
            beat(SignalR, true, b"{\"type\":6}\x1e"),
            Found::Beat(Beat::OneWay)
        );
        assert_eq!(
            beat(SignalR, true, b"{\"type\":1,\"target\":\"x\"}\x1e"),
            Found::Nothing
        );
        let hb = br#"[null,"12","phoenix","heartbeat",{}]"#;
        assert_eq!(beat(Phoenix, true, hb), Found::Beat(Beat::Ping));
        let reply = br#"[null,"12","phoenix","phx_reply",{"status":"ok","response":{}}]"#;
        assert_eq!(beat(Phoenix, true, reply), Found::Beat(Beat::Pong));
        let v1 = br#"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"3"}"#;
        assert_eq!(beat(Phoenix, true, v1), Found::Beat(Beat::Ping));
        let ac = br#"{"type":"ping","message":1764400000}"#;
        assert_eq!(beat(ActionCable, true, ac), Found::Beat(Beat::OneWay));
    }

    #[test]
    fn recognising_a_protocol_mid_stream() {
        let r = |text, m: &[u8]| recognise(text, m.len() as u64, m);
        assert_eq!(r(true, b"2"), Some(SocketIo));
        assert_eq!(r(true, b"42[\"ev\",{}]"), Some(SocketIo));
        assert_eq!(r(true, br#"{"type":"ping"}"#), Some(GraphqlTransportWs));
        assert_eq!(
            r(true, br#"{"type":"ping","message":17}"#),
            Some(ActionCable)
        );
        assert_eq!(r(true, br#"{"type":"ka"}"#), Some(GraphqlWs));
        assert_eq!(r(false, &[0xc0, 0]), Some(Mqtt));
        assert_eq!(r(true, b"{\"type\":6}\x1e"), Some(SignalR));
        assert_eq!(
            r(true, br#"[null,"3","phoenix","heartbeat",{}]"#),
            Some(Phoenix)
        );
        assert_eq!(r(true, b"hello"), None);
        assert_eq!(r(true, br#"{"price":1}"#), None);
    }

    #[test]
    fn hostile_bytes_never_panic() {
        // A fixed linear congruential sequence: random-looking messages of
        // every short length, many near the shapes the classifiers look for.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (x >> 33) as u8
        };
        let seeds: [&[u8]; 6] = [
            b"0{\"pingInterval\":",
            b"{\"type\":\"",
            b"[null,\"",
            b"CONNECT\nheart-beat:",
            &[0x10, 0x80, 0x80],
            b"42[",
        ];
        for round in 0..20_000 {
            let mut m = seeds[round % seeds.len()].to_vec();
            let extra = usize::from(next()) % 40;
            m.extend((0..extra).map(|_| next()));
            let len = m.len() as u64 + u64::from(next() % 3);
            for p in [
                SocketIo,
                GraphqlTransportWs,
                GraphqlWs,
                Mqtt,
                Stomp,
                SignalR,
                Phoenix,
                ActionCable,
            ] {
                let _ = classify(p, round % 2 == 0, len, &m);
            }
            let _ = recognise(round % 3 != 0, len, &m);
        }
    }
}
