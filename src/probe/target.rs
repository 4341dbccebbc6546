//! The URL a probe connects to, parsed once: what goes on the wire (the
//! request target with its query) and what may be printed (scheme, host,
//! port and path only).

/// A `ws://` or `wss://` URL (RFC 6455 §3), split for connecting and for
/// printing.
#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    /// `wss://`: TLS before the opening handshake (RFC 6455 §3, §4.1).
    pub tls: bool,
    /// Host name or address as given; an IPv6 literal without brackets.
    pub host: String,
    /// The port; when the URL names none, 80 for ws and 443 for wss
    /// (RFC 6455 §3).
    pub port: u16,
    /// The request target: path and query (never printed: query values
    /// may be tokens).
    pub resource: String,
    /// `ws[s]://host:port/path`: no user info, no query, no fragment.
    pub redacted: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl Target {
    /// Parses `ws[s]://[user@]host[:port][/path][?query][#fragment]`.
    ///
    /// Errors (one line, never echoing the URL's user info or query):
    /// another scheme, an empty host, a bad port.
    pub fn parse(url: &str) -> Result<Target, String> {
        let lower = url.get(..6).unwrap_or("").to_ascii_lowercase();
        let (tls, rest) = if lower.starts_with("ws://") {
            (false, &url[5..])
        } else if lower == "wss://" {
            (true, &url[6..])
        } else {
            return Err("the probe URL must start with ws:// or wss://".into());
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let tail = tail.split('#').next().unwrap_or("");
        let hostport = authority.rsplit('@').next().unwrap_or("");
        let (host, port) = split_host_port(hostport, if tls { 443 } else { 80 })?;
        if host.is_empty() {
            return Err("the probe URL has no host".into());
        }
        let path = tail.split('?').next().unwrap_or("");
        let path = if path.is_empty() { "/" } else { path };
        let resource = if tail.starts_with('/') {
            tail.to_string()
        } else {
            format!("/{tail}")
        };
        let shown_host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        let scheme = if tls { "wss" } else { "ws" };
        Ok(Target {
            tls,
            host: host.to_string(),
            port,
            resource,
            redacted: format!("{scheme}://{shown_host}:{port}{path}"),
        })
    }

    /// The URL handed to the handshake: user info left out.
    pub fn request_uri(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://{host}:{}{}", self.port, self.resource)
    }
}

fn split_host_port(hostport: &str, default: u16) -> Result<(&str, u16), String> {
    let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
        let close = inner
            .find(']')
            .ok_or("the probe URL has an IPv6 address without its closing ]")?;
        let after = &inner[close + 1..];
        (&inner[..close], after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let port = match port {
        None | Some("") => default,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| format!("'{p}' is not a port (1-65535)"))?,
    };
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::Target;

    #[test]
    fn printing_keeps_scheme_host_port_and_path_only() {
        let t = Target::parse("ws://user:pw@example.test:9001/feed?token=abc#x").unwrap();
        assert_eq!(t.redacted, "ws://example.test:9001/feed");
        assert_eq!(t.resource, "/feed?token=abc");
        assert_eq!(t.request_uri(), "ws://example.test:9001/feed?token=abc");
    }

    #[test]
    fn the_default_port_is_80_and_the_default_path_slash() {
        let t = Target::parse("WS://[::1]").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 80));
        assert_eq!(t.redacted, "ws://[::1]:80/");
    }

    #[test]
    fn wss_defaults_to_443_and_prints_its_scheme() {
        let t = Target::parse("wss://example.test/live?key=k").unwrap();
        assert!(t.tls);
        assert_eq!(t.redacted, "wss://example.test:443/live");
        assert_eq!(t.request_uri(), "wss://example.test:443/live?key=k");
    }

    #[test]
    fn other_schemes_and_bad_ports_are_refused() {
        assert!(Target::parse("http://h/").unwrap_err().contains("wss://"));
        assert!(Target::parse("ws://h:99999/").is_err());
        assert!(Target::parse("ws://:80/").is_err());
    }
}
