//! The application protocol named by the opening handshake: the
//! subprotocol (RFC 6455 §1.9, `Sec-WebSocket-Protocol`) or the request
//! path, as each framework's client builds it.

use super::AppProtocol;

/// The protocol a subprotocol token names (case-insensitive, RFC 6455
/// §4.1 compares them as given; the registry tokens are lower case).
pub fn from_subprotocol(token: &str) -> Option<AppProtocol> {
    let t = token.trim().to_ascii_lowercase();
    Some(match t.as_str() {
        "graphql-transport-ws" => AppProtocol::GraphqlTransportWs,
        "graphql-ws" => AppProtocol::GraphqlWs,
        "mqtt" | "mqttv3.1" | "mqttv3.1.1" | "mqttv5" => AppProtocol::Mqtt,
        "v10.stomp" | "v11.stomp" | "v12.stomp" | "stomp" => AppProtocol::Stomp,
        "actioncable-v1-json" | "actioncable-v1-msgpack" | "actioncable-unsupported" => {
            AppProtocol::ActionCable
        }
        _ => return None,
    })
}

/// The protocol a request path names, and the Engine.IO version its `EIO`
/// query parameter gives. The path itself is never kept.
pub fn from_path(path: &str) -> Option<(AppProtocol, Option<u8>)> {
    let (route, query) = path.split_once('?').unwrap_or((path, ""));
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    };
    if route.contains("/socket.io") || param("EIO").is_some() {
        let version = param("EIO").and_then(|v| v.parse().ok());
        return Some((AppProtocol::SocketIo, version));
    }
    // Phoenix: `/socket/websocket?vsn=2.0.0` (any endpoint path ending in
    // /websocket, with the serializer version).
    if route.ends_with("/websocket") && param("vsn").is_some() {
        return Some((AppProtocol::Phoenix, None));
    }
    // SignalR: a hub route with the connection token from negotiate.
    let hub = route.to_ascii_lowercase().contains("hub");
    if hub && (param("id").is_some() || param("access_token").is_some()) {
        return Some((AppProtocol::SignalR, None));
    }
    if route.ends_with("/cable") {
        return Some((AppProtocol::ActionCable, None));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subprotocol_tokens_name_their_protocols() {
        assert_eq!(
            from_subprotocol("graphql-transport-ws"),
            Some(AppProtocol::GraphqlTransportWs)
        );
        assert_eq!(from_subprotocol("v12.stomp"), Some(AppProtocol::Stomp));
        assert_eq!(from_subprotocol("MQTT"), Some(AppProtocol::Mqtt));
        assert_eq!(from_subprotocol("chat"), None);
    }

    #[test]
    fn paths_name_socket_io_with_its_version_and_phoenix() {
        assert_eq!(
            from_path("/socket.io/?EIO=4&transport=websocket"),
            Some((AppProtocol::SocketIo, Some(4)))
        );
        assert_eq!(
            from_path("/ws/?EIO=3&transport=websocket&sid=x"),
            Some((AppProtocol::SocketIo, Some(3)))
        );
        assert_eq!(
            from_path("/socket/websocket?vsn=2.0.0&token=t"),
            Some((AppProtocol::Phoenix, None))
        );
        assert_eq!(
            from_path("/chathub?id=abc"),
            Some((AppProtocol::SignalR, None))
        );
        assert_eq!(from_path("/feed?token=x"), None);
    }
}
