'use strict';
// graphql-transport-ws client: npm graphql-ws createClient() over npm `ws`,
// lazy: false (connects at once), keepAlive 2000: 2 s after each
// `{"type":"pong"}` it sends the next `{"type":"ping"}` (graphql-ws queues the
// next ping when the pong arrives, so an unanswered ping is the last one).
// retryAttempts 0: a dead connection stays one connection in the capture.
//
//   node gql-client.js --log FILE --url ws://HOST:8080/graphql [--ws-ping-interval MS] [--lifetime 60]
//
// --ws-ping-interval MS: also send RFC 6455 Pings every MS from the client's
// `ws` socket (for the scenario where the server's library answers them while
// its application has stopped answering the application's pings).
const WebSocket = require('ws');
const { createClient } = require('graphql-ws');
const wl = require('./wirelog');

const a = wl.args({ lifetime: '60', ws_ping_interval: '0', keep_alive: '2000' });
const log = new wl.Log(a.log, 'client');
wl.tap(log, 'client');
wl.bounded(log, Number(a.lifetime));
log.ev('start', { pid: process.pid, impl: 'graphql-ws ' + wl.version('graphql-ws'), ws: wl.version('ws') });

const client = createClient({
  url: a.url,
  webSocketImpl: WebSocket,
  lazy: false,
  keepAlive: Number(a.keep_alive),
  retryAttempts: 0,
  onNonLazyError: (e) => log.ev('client_error', { what: String(e && (e.code || e.message || e)) }),
});
client.on('opened', (socket) => {
  const s = socket._socket;
  log.ev('ws_open', { conn: `${s.localAddress}:${s.localPort}`, protocol: socket.protocol });
  const wsi = Number(a.ws_ping_interval);
  if (wsi > 0) {
    socket.on('pong', () => log.ev('ws_pong_recv', {}));
    const timer = setInterval(() => {
      if (socket.readyState === WebSocket.OPEN) { socket.ping(); log.ev('ws_ping_sent', {}); }
    }, wsi);
    socket.on('close', () => clearInterval(timer));
  }
});
client.on('connected', () => log.ev('app_connected', {}));
client.on('ping', (received) => { if (!received) log.ev('app_ping_sent', {}); });
client.on('pong', (received) => { if (received) log.ev('app_pong_recv', {}); });
client.on('closed', (ev) => log.ev('ws_closed', { code: ev && ev.code }));
