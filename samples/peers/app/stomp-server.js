'use strict';
// A minimal STOMP 1.2 broker over WebSocket (npm `ws`), written for these
// samples from the STOMP 1.2 specification ("Connecting", "Heart-beating"):
// no registry broker negotiates heart-beats both ways (npm stomp-broker-js
// 1.3.0 enables only one direction), so this peer speaks the documented
// wire format itself. Subprotocol v12.stomp (also v11/v10). It answers
// CONNECT/STOMP with CONNECTED (version 1.2, heart-beat 2000,2000) and then
// sends an end-of-line heart-beat ("\n" in a text frame) every
// max(sx, cy) ms, as STOMP 1.2 negotiates; it does not enforce the client's
// heart-beats (it never closes a silent client).
//
//   node stomp-server.js --log FILE [--port 8080] [--ws-ping-interval MS] [--lifetime 60]
//
// --ws-ping-interval MS: also send RFC 6455 Pings every MS (the client's `ws`
// library answers them).
const http = require('http');
const { WebSocketServer } = require('ws');
const wl = require('./wirelog');

const a = wl.args({ port: '8080', lifetime: '60', ws_ping_interval: '0', heart_beat: '2000,2000' });
const log = new wl.Log(a.log, 'server');
wl.tap(log, 'server');
wl.bounded(log, Number(a.lifetime));
log.ev('start', { pid: process.pid, impl: 'STOMP 1.2 peer (samples/peers/app/stomp-server.js) on ws ' + wl.version('ws') });

const [sx, sy] = a.heart_beat.split(',').map(Number);
const httpServer = http.createServer();
wl.tapServer(httpServer, log);
const wss = new WebSocketServer({
  server: httpServer,
  perMessageDeflate: false,
  handleProtocols: (ps) => ['v12.stomp', 'v11.stomp', 'v10.stomp'].find((p) => ps.has(p)) || false,
});
wss.on('connection', (ws, req) => {
  const conn = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
  log.ev('ws_open', { conn, protocol: ws.protocol });
  const timers = [];
  ws.on('close', () => timers.forEach(clearInterval));
  ws.on('message', (m) => {
    const s = String(m);
    if (/^[\r\n]+$/.test(s)) { log.ev('app_beat_recv', { conn }); return; }
    const cmd = s.replace(/^[\r\n]+/, '').split('\n')[0];
    log.ev('stomp_recv', { conn, command: cmd });
    if (cmd === 'CONNECT' || cmd === 'STOMP') {
      const hb = (s.match(/\nheart-beat:(\d+),(\d+)/) || [0, '0', '0']).slice(1).map(Number);
      const [cx, cy] = hb;
      ws.send(`CONNECTED\nversion:1.2\nheart-beat:${sx},${sy}\nserver:wspulse-sample\n\n\0`);
      if (sx > 0 && cy > 0) {
        const every = Math.max(sx, cy);
        timers.push(setInterval(() => {
          if (ws.readyState === ws.OPEN) { ws.send('\n'); log.ev('app_beat_sent', { conn }); }
        }, every));
      }
      log.ev('stomp_connected', { conn, client_heart_beat: [cx, cy], server_heart_beat: [sx, sy] });
    } else if (cmd === 'DISCONNECT') {
      const r = s.match(/\nreceipt:([^\n]*)/);
      if (r) ws.send(`RECEIPT\nreceipt-id:${r[1]}\n\n\0`);
    }
  });
  const wsi = Number(a.ws_ping_interval);
  if (wsi > 0) {
    timers.push(setInterval(() => {
      if (ws.readyState === ws.OPEN) { ws.ping(); log.ev('ws_ping_sent', { conn }); }
    }, wsi));
  }
});
httpServer.listen(Number(a.port), '0.0.0.0', () => log.ev('listening', { port: Number(a.port) }));
