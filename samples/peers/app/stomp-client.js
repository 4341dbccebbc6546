'use strict';
// STOMP 1.2 client: npm @stomp/stompjs over npm `ws` (webSocketFactory),
// heartbeatOutgoing 2000 and heartbeatIncoming 2000 (CONNECT heart-beat
// 2000,2000): it sends "\n" every 2 s, and closes the WebSocket when nothing
// came from the server for more than 2 x 2 s. reconnectDelay 0: no
// reconnection, a dead connection stays one connection in the capture.
//
//   node stomp-client.js --log FILE --url ws://HOST:8080/stomp [--drop-beats-after S] [--lifetime 60]
//
// --drop-beats-after S: S seconds after the connection opens, the client's
// application stops sending heart-beats: the WebSocket's send is wrapped to
// drop "\n" messages (stompjs's pinger keeps ticking). Its `ws` library keeps
// answering the server's WebSocket Pings.
const WebSocket = require('ws');
const { Client } = require('@stomp/stompjs');
const wl = require('./wirelog');

const a = wl.args({ lifetime: '60', drop_beats_after: '' });
const log = new wl.Log(a.log, 'client');
wl.tap(log, 'client');
wl.bounded(log, Number(a.lifetime));
log.ev('start', { pid: process.pid, impl: '@stomp/stompjs ' + wl.version('@stomp/stompjs'), ws: wl.version('ws') });

let dropping = false;
const client = new Client({
  brokerURL: a.url,
  webSocketFactory: () => {
    const ws = new WebSocket(a.url, ['v12.stomp', 'v11.stomp', 'v10.stomp'], { perMessageDeflate: false });
    const send = ws.send;
    ws.send = function (data, ...rest) {
      if (data === '\n') {
        if (dropping) { log.ev('app_beat_dropped', {}); return undefined; }
        log.ev('app_beat_sent', {});
      }
      return send.call(this, data, ...rest);
    };
    ws.on('open', () => {
      log.ev('ws_open', { conn: `${ws._socket.localAddress}:${ws._socket.localPort}`, protocol: ws.protocol });
      if (a.drop_beats_after !== '') {
        setTimeout(() => { dropping = true; log.ev('app_beats_dropped_from', {}); }, Number(a.drop_beats_after) * 1000);
      }
    });
    ws.on('ping', () => log.ev('ws_ping_recv', {}));
    return ws;
  },
  heartbeatIncoming: 2000,
  heartbeatOutgoing: 2000,
  reconnectDelay: 0,
  debug: (m) => { if (/did not receive|Issuing close|PING every|PONG every/.test(m)) log.ev('stomp_debug', { msg: m }); },
});
client.onConnect = (f) => log.ev('stomp_connected', { heart_beat: f.headers['heart-beat'] });
client.onWebSocketClose = (e) => log.ev('ws_closed', { code: e && e.code });
client.activate();
