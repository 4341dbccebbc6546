//! What a report may show of a [`Secret`]: the one place that decides.
//!
//! By default (the spec's "What never appears in output"): no URL query
//! values, user info, fragments, subprotocol tokens, extension parameter
//! values, control payloads or Close reason text. What a reader needs stays:
//! the path, the query's parameter names, subprotocol and extension names,
//! lengths, and a keyed fingerprint (HMAC-SHA-256, first 8 bytes, keyed per
//! run or by `--redact-key`) so equal values can be matched across a report,
//! or across two reports made with the same key. `--show-secrets` shows the
//! values, for local debugging.

use serde::Serialize;

use crate::liveness::activity::Payload;
use crate::secret::{looks_like_token, Key, Secret};

/// Renders secrets for one run.
#[derive(Clone, Debug)]
pub struct Redactor {
    key: Key,
    show: bool,
    /// Host names (the TLS server name) are masked too: the spec's
    /// `--redact`, for reports shared outside a team.
    hide_names: bool,
}

/// A control payload as reported: its length and fingerprint always, its
/// bytes (hex, the first 16 at most) only with `--show-secrets`.
#[derive(Clone, Debug, Serialize)]
pub struct PayloadJson {
    pub len: usize,
    pub hmac: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hex: Option<String>,
}

/// Subprotocols whose names carry no secret (IANA's WebSocket Subprotocol
/// Name Registry, and those the application-heartbeat work recognises).
const KNOWN_PROTOCOLS: &[&str] = &[
    "graphql-transport-ws",
    "graphql-ws",
    "mqtt",
    "mqttv3.1",
    "v10.stomp",
    "v11.stomp",
    "v12.stomp",
    "actioncable-v1-json",
    "actioncable-v1-msgpack",
    "actioncable-unsupported",
    "wamp.2.json",
    "wamp.2.msgpack",
    "wamp",
    "soap",
    "wsn",
    "xmpp",
    "msrp",
    "sip",
    "ocpp1.2",
    "ocpp1.5",
    "ocpp1.6",
    "ocpp2.0",
    "ocpp2.0.1",
    "ocpp2.1",
    "json",
    "binary",
    "base64",
    "base64.binary.k8s.io",
    "v4.channel.k8s.io",
    "v5.channel.k8s.io",
    "channel.k8s.io",
    "base64.channel.k8s.io",
];

/// Subprotocol prefixes followed by a credential (Kubernetes passes its
/// bearer token this way).
const TOKEN_PREFIXES: &[&str] = &["base64url.bearer.authorization.k8s.io."];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Redactor {
    pub fn new(key: Key, show: bool) -> Self {
        Redactor {
            key,
            show,
            hide_names: false,
        }
    }

    /// The same, with host names masked (their length and fingerprint):
    /// what the spec's `--redact` asks of the TLS server name.
    pub fn hiding_names(self) -> Self {
        Redactor {
            hide_names: true,
            ..self
        }
    }

    pub fn shows_secrets(&self) -> bool {
        self.show
    }

    /// `<11B:3f9a1c2e77aa0b41>`: a value's length and fingerprint.
    fn marker(&self, value: &[u8]) -> String {
        format!("<{}B:{:016x}>", value.len(), self.key.fingerprint(value))
    }

    /// The value, or its marker.
    fn opaque(&self, value: &str) -> String {
        if self.show {
            value.to_string()
        } else {
            self.marker(value.as_bytes())
        }
    }

    /// Free text (a Close reason): its marker, or itself.
    pub fn text(&self, s: &Secret<String>) -> String {
        self.opaque(s.expose())
    }

    /// A control payload: length and fingerprint (computed by the judge
    /// with this run's key), and its kept bytes with `--show-secrets`.
    pub fn payload(&self, p: &Payload) -> PayloadJson {
        PayloadJson {
            len: p.len,
            hmac: format!("{:016x}", p.fingerprint),
            hex: self.show.then(|| hex(p.kept.expose())),
        }
    }

    /// A request target: the path, and the query's parameter names with
    /// their values masked; a fragment masked whole.
    /// With host names hidden (`--redact`), the whole target is masked.
    pub fn path(&self, p: &Secret<String>) -> String {
        let raw = p.expose();
        if self.hide_names {
            return self.marker(raw.as_bytes());
        }
        if self.show {
            return raw.clone();
        }
        let (rest, fragment) = match raw.split_once('#') {
            Some((r, f)) => (r, Some(f)),
            None => (raw.as_str(), None),
        };
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        // An absolute-form target (`GET ws://user:pw@host/…`) may carry
        // user info too; path segments may carry parameters (`;jsessionid=`)
        // or a token of their own.
        let (authority, path) = match path.split_once("://") {
            Some((scheme, rest)) => {
                let end = rest.find('/').unwrap_or(rest.len());
                let (auth, tail) = rest.split_at(end);
                (format!("{scheme}://{}", self.authority(auth)), tail)
            }
            None => (String::new(), path),
        };
        // Built in one string: every connection's report has a path.
        let mut out = authority;
        out.reserve(raw.len() + 24);
        for (i, seg) in path.split('/').enumerate() {
            if i > 0 {
                out.push('/');
            }
            self.push_segment(&mut out, seg);
        }
        if let Some(query) = query {
            out.push('?');
            for (i, pair) in query.split('&').enumerate() {
                if i > 0 {
                    out.push('&');
                }
                match pair.split_once('=') {
                    Some((name, value)) => {
                        self.push_name(&mut out, name);
                        out.push('=');
                        self.push_marker(&mut out, value.as_bytes());
                    }
                    None => self.push_name(&mut out, pair),
                }
            }
        }
        if let Some(fragment) = fragment {
            out.push('#');
            self.push_marker(&mut out, fragment.as_bytes());
        }
        out
    }

    /// [`Redactor::marker`], appended to `out`.
    fn push_marker(&self, out: &mut String, value: &[u8]) {
        use std::fmt::Write;
        let _ = write!(
            out,
            "<{}B:{:016x}>",
            value.len(),
            self.key.fingerprint(value)
        );
    }

    /// [`Redactor::name`], appended to `out`.
    fn push_name(&self, out: &mut String, name: &str) {
        if self.is_plain_name(name) {
            out.push_str(name);
        } else {
            self.push_marker(out, name.as_bytes());
        }
    }

    /// A path segment, appended to `out`: kept when it is a plain name;
    /// parameters after `;`, `=` or `&` masked; a segment that looks like a
    /// token masked whole.
    fn push_segment(&self, out: &mut String, seg: &str) {
        match seg.find([';', '=', '&']) {
            Some(i) => {
                let (head, tail) = seg.split_at(i);
                self.push_name(out, head);
                self.push_marker(out, tail.as_bytes());
            }
            None if looks_like_token(seg) || seg.contains('%') => {
                self.push_marker(out, seg.as_bytes())
            }
            None => out.push_str(seg),
        }
    }

    /// A host (and port) with any user info masked; anything that cannot
    /// be a host name or address is masked whole.
    fn authority(&self, authority: &str) -> String {
        let shown = self.without_userinfo(authority);
        let host = shown.rsplit_once('@').map_or(shown.as_str(), |(_, h)| h);
        let plain = host.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']' | b'_')
        });
        if plain {
            shown
        } else {
            self.marker(authority.as_bytes())
        }
    }

    /// A parameter or extension name: kept when it looks like a name (a
    /// short run of letters, digits, `-`, `_`, `.`), masked otherwise (a
    /// bare token as a name).
    fn name(&self, name: &str) -> String {
        if self.is_plain_name(name) {
            name.to_string()
        } else {
            self.marker(name.as_bytes())
        }
    }

    fn is_plain_name(&self, name: &str) -> bool {
        let plain = name.len() <= 40
            && name.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'[' | b']')
            });
        plain && !looks_like_token(name)
    }

    /// `scheme://user:pass@host:port/…` with the user info masked.
    fn without_userinfo(&self, value: &str) -> String {
        let (scheme, rest) = match value.split_once("://") {
            Some((s, r)) => (Some(s), r),
            None => (None, value),
        };
        let end = rest.find('/').unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let authority = match authority.rsplit_once('@') {
            Some((user, host)) => format!("{}@{host}", self.marker(user.as_bytes())),
            None => authority.to_string(),
        };
        match scheme {
            Some(s) => format!("{s}://{authority}{tail}"),
            None => format!("{authority}{tail}"),
        }
    }

    /// An Origin or Host value: user info masked, and anything after the
    /// authority (a path or query has no business there) masked too.
    pub fn origin(&self, o: &Secret<String>) -> String {
        if self.hide_names {
            return self.marker(o.expose().as_bytes());
        }
        let raw = o.expose();
        if self.show {
            return raw.clone();
        }
        let (scheme, rest) = match raw.split_once("://") {
            Some((s, r)) => (format!("{s}://"), r),
            None => (String::new(), raw.as_str()),
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let tail = if tail.is_empty() {
            String::new()
        } else {
            self.marker(tail.as_bytes())
        };
        format!("{scheme}{}{tail}", self.authority(authority))
    }

    /// A subprotocol: a registered name is shown; a known token-carrying
    /// prefix keeps the prefix; anything else that does not look like a
    /// plain name is masked.
    pub fn protocol(&self, p: &Secret<String>) -> String {
        let raw = p.expose();
        if self.show || KNOWN_PROTOCOLS.iter().any(|k| k.eq_ignore_ascii_case(raw)) {
            return raw.clone();
        }
        for prefix in TOKEN_PREFIXES {
            if let Some(token) = raw.strip_prefix(prefix) {
                return format!("{prefix}{}", self.marker(token.as_bytes()));
            }
        }
        let plain = raw.len() <= 32
            && raw.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_')
            })
            && !looks_like_token(raw);
        if plain {
            raw.clone()
        } else {
            self.marker(raw.as_bytes())
        }
    }

    /// An extension offer (RFC 6455 §9.1): its name and parameter names;
    /// parameter values only when they are small numbers (such as
    /// permessage-deflate's window bits).
    pub fn extension(&self, e: &Secret<String>) -> String {
        let raw = e.expose();
        if self.show {
            return raw.clone();
        }
        raw.split(';')
            .map(str::trim)
            .map(|part| match part.split_once('=') {
                Some((name, value)) => {
                    let value = value.trim();
                    let small = value.len() <= 3 && value.bytes().all(|b| b.is_ascii_digit());
                    let value = if small {
                        value.to_string()
                    } else {
                        self.marker(value.as_bytes())
                    };
                    format!("{}={value}", self.name(name.trim()))
                }
                None => self.name(part),
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl Redactor {
    /// A TLS server name (SNI, RFC 6066 §3: a DNS host name). Shown by
    /// default, as a Host header's host is; masked whole when it is not
    /// shaped like a host name, and always when host names are hidden
    /// ([`Redactor::hiding_names`], even with `--show-secrets`).
    pub fn sni(&self, name: &Secret<String>) -> String {
        let raw = name.expose();
        if self.hide_names {
            return self.marker(raw.as_bytes());
        }
        let plain = (1..=253).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        if self.show || plain {
            raw.clone()
        } else {
            self.marker(raw.as_bytes())
        }
    }

    /// An ALPN protocol name (RFC 7301 §3.1; IANA registers `http/1.1`,
    /// `h2` and the like): shown when it is short printable ASCII, masked
    /// otherwise.
    pub fn alpn(&self, name: &str) -> String {
        let plain = (1..=32).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_graphic());
        if self.show || plain {
            name.to_string()
        } else {
            self.marker(name.as_bytes())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r() -> Redactor {
        Redactor::new(Key::from_passphrase("t"), false)
    }

    fn s(v: &str) -> Secret<String> {
        Secret::from(v)
    }

    #[test]
    fn a_query_keeps_its_names_and_loses_its_values() {
        let out = r().path(&s("/ws?token=QUERYSECRET&x=1#FRAGSECRET"));
        assert!(out.starts_with("/ws?token=<11B:"), "{out}");
        assert!(out.contains("&x=<1B:"), "{out}");
        assert!(
            !out.contains("QUERYSECRET") && !out.contains("FRAGSECRET"),
            "{out}"
        );
        assert_eq!(r().path(&s("/socket.io/")), "/socket.io/");
    }

    #[test]
    fn path_parameters_and_tokens_in_segments_are_masked() {
        let out = r().path(&s(
            "/ws;jsessionid=QSECRET1XX/feed&api_key=KEY2/eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
        ));
        assert!(out.starts_with("/ws<"), "{out}");
        assert!(
            !out.contains("QSECRET1XX") && !out.contains("KEY2") && !out.contains("eyJ"),
            "{out}"
        );
        assert!(out.contains("/feed<"), "{out}");
        assert_eq!(r().path(&s("/socket.io/")), "/socket.io/");
        let abs = r().path(&s("ws://user:PW@host.example/x?y=1"));
        assert!(
            abs.starts_with("ws://<7B:") && abs.contains("@host.example/x?y=<"),
            "{abs}"
        );
        assert!(!r()
            .origin(&s("SECRET=ws.example.com:8080"))
            .contains("SECRET"));
    }

    #[test]
    fn user_info_is_masked_and_the_host_kept() {
        let out = r().origin(&s("https://user:ORIGINPASS@example.com"));
        assert!(out.starts_with("https://<15B:"), "{out}");
        assert!(out.ends_with("@example.com"), "{out}");
        assert_eq!(r().origin(&s("https://example.com")), "https://example.com");
        let tail = r().origin(&s("https://example.com/path?k=SECRET"));
        assert!(!tail.contains("SECRET"), "{tail}");
    }

    #[test]
    fn subprotocol_tokens_are_masked_and_names_kept() {
        let k8s = r().protocol(&s("base64url.bearer.authorization.k8s.io.PROTOSECRET"));
        assert!(
            k8s.starts_with("base64url.bearer.authorization.k8s.io.<11B:"),
            "{k8s}"
        );
        assert_eq!(
            r().protocol(&s("graphql-transport-ws")),
            "graphql-transport-ws"
        );
        assert_eq!(r().protocol(&s("chat")), "chat");
        assert!(!r().protocol(&s("eyJhbGciOiJIUzI1NiJ9")).contains("eyJ"));
        assert!(!r().protocol(&s("Bearer abc")).contains("abc"));
    }

    #[test]
    fn extension_parameters_keep_small_numbers_only() {
        let e = r().extension(&s(
            "permessage-deflate; client_max_window_bits=15; x-token=EXTSECRET",
        ));
        assert!(
            e.starts_with("permessage-deflate; client_max_window_bits=15; x-token=<9B:"),
            "{e}"
        );
    }

    #[test]
    fn a_server_name_is_shown_like_a_host_and_hidden_with_names() {
        let name = s("feed.example.com");
        assert_eq!(r().sni(&name), "feed.example.com");
        let hidden = r().hiding_names();
        let masked = hidden.sni(&name);
        assert!(masked.starts_with("<16B:"), "{masked}");
        assert_eq!(masked, hidden.sni(&name), "equal names, equal markers");
        let shown = Redactor::new(Key::default(), true).hiding_names();
        assert!(!shown.sni(&name).contains("example"));
        assert!(!r().sni(&s("x.example/?token=SECRET")).contains("SECRET"));
        assert_eq!(r().alpn("http/1.1"), "http/1.1");
        assert!(r().alpn("bad\u{1}name").starts_with("<8B:"));
    }

    #[test]
    fn equal_values_share_a_marker_and_show_secrets_shows_them() {
        assert_eq!(r().text(&s("bye")), r().text(&s("bye")));
        assert_ne!(r().text(&s("bye")), r().text(&s("bye!")));
        let shown = Redactor::new(Key::default(), true);
        assert_eq!(
            shown.path(&s("/ws?token=QUERYSECRET")),
            "/ws?token=QUERYSECRET"
        );
    }
}
