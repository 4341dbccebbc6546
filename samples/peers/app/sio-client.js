'use strict';
// Socket.IO 4 client (npm socket.io-client, Engine.IO v4) with
// transports: ['websocket'] (the capture holds the WebSocket Upgrade from the
// first packet, no HTTP long-polling) and reconnection: false (a dead
// connection stays one connection in the capture). It answers each Engine.IO
// ping `2` with a pong `3`; its `ws` library answers WebSocket Pings by itself.
//
//   node sio-client.js --log FILE --url http://HOST:8080 [--drop-app-pings-after S]
//        [--lifetime 60]
//
// --drop-app-pings-after S: S seconds after the connection opens the
// application stops answering Engine.IO pings: the engine's _sendPacket is
// monkeypatched to drop packets of type "pong" (the received ping is still
// processed, so the client's own ping timer is reset as usual). The `ws`
// library underneath keeps answering WebSocket Pings.
const { io } = require('socket.io-client');
const wl = require('./wirelog');

const a = wl.args({ lifetime: '60', drop_app_pings_after: '' });
const log = new wl.Log(a.log, 'client');
wl.tap(log, 'client');
wl.bounded(log, Number(a.lifetime));
log.ev('start', { pid: process.pid, impl: 'socket.io-client ' + wl.version('socket.io-client'),
  engine_io_client: wl.version('engine.io-client'),
  ws: wl.version('engine.io-client/node_modules/ws') || wl.version('ws') });

const socket = io(a.url, { transports: ['websocket'], reconnection: false });
const engine = socket.io.engine;
let dropping = false;
const send = engine._sendPacket;
engine._sendPacket = function (type, ...rest) {
  if (type === 'pong') {
    if (dropping) { log.ev('app_pong_dropped', {}); return undefined; }
    log.ev('app_pong_sent', {});
  }
  return send.call(this, type, ...rest);
};
engine.on('ping', () => log.ev('app_ping_recv', {}));
engine.on('handshake', (h) => log.ev('eio_handshake', { ping_interval: h.pingInterval, ping_timeout: h.pingTimeout }));
engine.on('close', (reason) => log.ev('eio_close', { reason }));
socket.on('connect', () => {
  log.ev('ws_open', { conn: `${engine.transport.ws._socket.localAddress}:${engine.transport.ws._socket.localPort}` });
  if (a.drop_app_pings_after !== '') {
    setTimeout(() => { dropping = true; log.ev('app_pings_dropped_from', {}); }, Number(a.drop_app_pings_after) * 1000);
  }
});
socket.on('disconnect', (reason) => log.ev('disconnect', { reason }));
