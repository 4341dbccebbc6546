'use strict';
// graphql-transport-ws server: npm graphql-ws useServer() on a `ws`
// WebSocketServer (subprotocol `graphql-transport-ws`). The server answers
// each client `{"type":"ping"}` with `{"type":"pong"}`. useServer's own
// WebSocket-level keep-alive (RFC 6455 Pings, 12 s by default) is turned off
// by passing keepAlive 0, so the only heartbeat is the application's.
//
//   node gql-server.js --log FILE [--port 8080] [--drop-app-pongs-after S] [--lifetime 60]
//
// --drop-app-pongs-after S: S seconds after a connection opens, the server's
// application stops answering graphql-transport-ws pings: that connection's
// ws.send is wrapped (before useServer sees the socket) to drop the message
// `{"type":"pong"}`. The `ws` library keeps answering WebSocket Pings.
const http = require('http');
const { WebSocketServer } = require('ws');
const { useServer } = require('graphql-ws/use/ws');
const { buildSchema } = require('graphql');
const wl = require('./wirelog');

const a = wl.args({ port: '8080', lifetime: '60', drop_app_pongs_after: '' });
const log = new wl.Log(a.log, 'server');
wl.tap(log, 'server');
wl.bounded(log, Number(a.lifetime));
log.ev('start', { pid: process.pid, impl: 'graphql-ws ' + wl.version('graphql-ws'), ws: wl.version('ws'), graphql: wl.version('graphql') });

const schema = buildSchema('type Query { hello: String }');
const root = { hello: () => 'world' };
const httpServer = http.createServer();
wl.tapServer(httpServer, log);
const wss = new WebSocketServer({ server: httpServer, perMessageDeflate: false });
wss.on('connection', (ws, req) => {
  const conn = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
  log.ev('ws_open', { conn, protocol: ws.protocol });
  let dropping = false;
  if (a.drop_app_pongs_after !== '') {
    setTimeout(() => { dropping = true; log.ev('app_pongs_dropped_from', { conn }); }, Number(a.drop_app_pongs_after) * 1000);
  }
  const send = ws.send;
  ws.send = function (data, ...rest) {
    const s = String(data);
    if (s.includes('"type":"pong"')) {
      if (dropping) {
        log.ev('app_pong_dropped', { conn });
        const cb = rest.find((x) => typeof x === 'function');
        if (cb) cb();
        return undefined;
      }
      log.ev('app_pong_sent', { conn });
    }
    return send.call(this, data, ...rest);
  };
  ws.on('message', (m) => { if (String(m).includes('"type":"ping"')) log.ev('app_ping_recv', { conn }); });
  ws.on('ping', () => log.ev('ws_ping_recv', { conn }));
});
useServer({ schema, roots: { query: root } }, wss, 0);
httpServer.listen(Number(a.port), '0.0.0.0', () => log.ev('listening', { port: Number(a.port) }));
