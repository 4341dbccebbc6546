'use strict';
// Socket.IO 4 server (npm socket.io, Engine.IO protocol v4): the SERVER sends
// the Engine.IO ping `2` every pingInterval and closes the connection when no
// pong `3` comes within pingTimeout (both declared to the client in the open
// packet). Engine.IO sends no WebSocket-level Pings of its own.
//
//   node sio-server.js --log FILE [--port 8080] [--ping-interval 2000]
//        [--ping-timeout 1000] [--ws-ping-interval MS] [--lifetime 60]
//
// --ws-ping-interval MS: also send RFC 6455 Pings every MS on each
// connection's underlying `ws` socket (socket.conn.transport.socket.ping()),
// for the scenario where the client's library keeps answering WebSocket Pings
// while its application no longer answers Engine.IO pings.
const http = require('http');
const { Server } = require('socket.io');
const wl = require('./wirelog');

const a = wl.args({ port: '8080', ping_interval: '2000', ping_timeout: '1000', ws_ping_interval: '0', lifetime: '60' });
const log = new wl.Log(a.log, 'server');
wl.tap(log, 'server');
wl.bounded(log, Number(a.lifetime));
log.ev('start', { pid: process.pid, impl: 'socket.io ' + wl.version('socket.io'),
  engine_io: wl.version('engine.io'), ws: wl.version('engine.io/node_modules/ws') || wl.version('ws') });

const httpServer = http.createServer();
wl.tapServer(httpServer, log);
const io = new Server(httpServer, {
  transports: ['websocket'],
  pingInterval: Number(a.ping_interval),
  pingTimeout: Number(a.ping_timeout),
  perMessageDeflate: false,
});
io.on('connection', (socket) => {
  const eio = socket.conn;
  const conn = `${eio.request.socket.remoteAddress}:${eio.request.socket.remotePort}`;
  log.ev('ws_open', { conn, sid: eio.id });
  eio.on('packetCreate', (p) => { if (p.type === 'ping') log.ev('app_ping_sent', { conn }); });
  eio.on('packet', (p) => { if (p.type === 'pong') log.ev('app_pong_recv', { conn }); });
  eio.on('close', (reason) => log.ev('eio_close', { conn, reason }));
  const wsi = Number(a.ws_ping_interval);
  if (wsi > 0) {
    const ws = eio.transport.socket;
    ws.on('pong', () => log.ev('ws_pong_recv', { conn }));
    const timer = setInterval(() => {
      if (ws.readyState === ws.OPEN) { ws.ping(); log.ev('ws_ping_sent', { conn }); }
    }, wsi);
    eio.on('close', () => clearInterval(timer));
  }
});
httpServer.listen(Number(a.port), '0.0.0.0', () => log.ev('listening', { port: Number(a.port) }));
