'use strict';
// The JSON-lines log of the Node application-heartbeat peers, in the same
// shape as samples/peers/common.py: every line has `t` (epoch seconds), `ts`
// (RFC 3339 UTC, microseconds), `role`, `ev`.
//
// tap() wraps net.Socket.prototype.write so that every byte a library hands
// to a TCP socket is seen: the HTTP Upgrade head is skipped (up to the first
// CRLF CRLF of the stream), then RFC 6455 §5.2 frames are parsed from the
// exact bytes written and logged as `tx_frame` (opcode, fin, rsv1, masked,
// len, off_end = stream offset just after the frame, and for small frames the
// unmasked payload: `text` for text frames up to 200 bytes, `hex` for other
// frames up to 64 bytes). Bytes the peer reads are parsed the same way from
// the socket's `data` events (`rx_frame`). `conn` is the client's ip:port.
// These logs are the ground truth of the samples; the pcap is never read.

const fs = require('fs');
const net = require('net');

const OPNAMES = { 0: 'continuation', 1: 'text', 2: 'binary', 8: 'close', 9: 'ping', 10: 'pong' };

function rfc3339(t) {
  const d = new Date(Math.floor(t * 1000));
  const us = Math.round((t - Math.floor(t)) * 1e6) % 1e6;
  return d.toISOString().slice(0, 19) + '.' + String(us).padStart(6, '0') + 'Z';
}

// Wall clock at start plus the monotonic clock since: microsecond steps that
// never go backwards within one process.
const T0_WALL = Date.now() / 1000;
const T0_MONO = process.hrtime.bigint();
function nowEpoch() {
  return T0_WALL + Number(process.hrtime.bigint() - T0_MONO) / 1e9;
}

class Log {
  constructor(path, role, name) {
    this.fd = fs.openSync(path, 'a');
    this.role = role;
    this.name = name || '';
  }
  ev(ev, fields) {
    const t = nowEpoch();
    const rec = { t: Math.round(t * 1e6) / 1e6, ts: rfc3339(t), role: this.role, ev };
    if (this.name) rec.peer = this.name;
    Object.assign(rec, fields || {});
    fs.writeSync(this.fd, JSON.stringify(rec) + '\n');
    return rec;
  }
}

// Incremental RFC 6455 frame parser over one direction of a stream.
class FrameParser {
  constructor(onFrame) {
    this.buf = Buffer.alloc(0);
    this.inHttp = true;
    this.off = 0; // stream offset of this.buf[0]
    this.onFrame = onFrame;
  }
  push(chunk) {
    this.buf = Buffer.concat([this.buf, chunk]);
    for (;;) {
      if (this.inHttp) {
        const i = this.buf.indexOf('\r\n\r\n');
        if (i < 0) return;
        this.inHttp = false;
        this.consume(i + 4);
        continue;
      }
      if (this.buf.length < 2) return;
      const b0 = this.buf[0];
      const b1 = this.buf[1];
      let len = b1 & 0x7f;
      let p = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        p = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = Number(this.buf.readBigUInt64BE(2));
        p = 10;
      }
      const masked = (b1 & 0x80) !== 0;
      let key = null;
      if (masked) {
        if (this.buf.length < p + 4) return;
        key = this.buf.subarray(p, p + 4);
        p += 4;
      }
      if (this.buf.length < p + len) return;
      const payload = Buffer.from(this.buf.subarray(p, p + len));
      if (masked) for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3];
      const op = b0 & 0x0f;
      const fr = {
        opcode: OPNAMES[op] || String(op),
        fin: (b0 & 0x80) !== 0,
        rsv1: (b0 & 0x40) !== 0,
        masked,
        len,
        off_end: this.off + p + len,
      };
      if (op === 1 && len <= 200) fr.text = payload.toString('utf8');
      else if (len <= 64) fr.hex = payload.toString('hex');
      if (op === 8 && len >= 2) fr.close_code = payload.readUInt16BE(0);
      this.consume(p + len);
      this.onFrame(fr);
    }
  }
  consume(n) {
    this.buf = this.buf.subarray(n);
    this.off += n;
  }
}

const tapped = new WeakSet();

function connKey(sock, role) {
  // the client's address: the remote end on the server, the local end on the client
  const ip = role === 'server' ? sock.remoteAddress : sock.localAddress;
  const port = role === 'server' ? sock.remotePort : sock.localPort;
  return `${ip}:${port}`;
}

function setup(sock, log, role) {
  if (tapped.has(sock)) return;
  tapped.add(sock);
  const st = {
    conn: null,
    tx: new FrameParser((fr) => log.ev('tx_frame', Object.assign({ conn: st.conn }, fr))),
    rx: new FrameParser((fr) => log.ev('rx_frame', Object.assign({ conn: st.conn }, fr))),
  };
  const established = () => {
    st.conn = connKey(sock, role);
    log.ev('tcp_established', {
      conn: st.conn,
      local: { ip: sock.localAddress, port: sock.localPort },
      remote: { ip: sock.remoteAddress, port: sock.remotePort },
    });
  };
  if (sock.remoteAddress && !sock.connecting) established();
  else sock.once('connect', established);
  sock.on('data', (d) => st.rx.push(d));
  sock.on('end', () => log.ev('rx_fin', { conn: st.conn }));
  sock.on('close', (hadError) => log.ev('connection_lost', { conn: st.conn, had_error: hadError }));
  const end = sock.end;
  sock.end = function (...args) {
    log.ev('tx_fin', { conn: st.conn });
    return end.apply(this, args);
  };
  const destroy = sock.destroy;
  sock.destroy = function (...args) {
    if (!this.destroyed) log.ev('socket_destroy', { conn: st.conn });
    return destroy.apply(this, args);
  };
  sock._wspTx = (chunk, enc) => {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk, typeof enc === 'string' ? enc : 'utf8');
    st.tx.push(b);
  };
}

/**
 * Start logging every TCP socket of this process. `role` is 'client' or
 * 'server'. Server sockets are tapped from the listening server's
 * 'connection' event (pass the http.Server to tapServer); client sockets as
 * soon as they write.
 */
function tap(log, role) {
  const write = net.Socket.prototype.write;
  net.Socket.prototype.write = function (chunk, enc, cb) {
    setup(this, log, role);
    if (chunk && chunk.length) this._wspTx(chunk, enc);
    return write.call(this, chunk, enc, cb);
  };
}

function tapServer(httpServer, log) {
  // prependListener: before any library reads from the socket
  httpServer.prependListener('connection', (sock) => setup(sock, log, 'server'));
}

function args(defaults) {
  const out = Object.assign({}, defaults);
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i++) {
    if (!a[i].startsWith('--')) continue;
    const k = a[i].slice(2).replace(/-/g, '_');
    if (i + 1 < a.length && !a[i + 1].startsWith('--')) out[k] = a[++i];
    else out[k] = true;
  }
  return out;
}

/** Exit on SIGTERM/SIGINT, and unconditionally after `secs` (bounded peers). */
function bounded(log, secs) {
  const stop = (why) => {
    log.ev('exit', { why });
    process.exit(0);
  };
  process.on('SIGTERM', () => stop('sigterm'));
  process.on('SIGINT', () => stop('sigint'));
  setTimeout(() => stop('lifetime'), secs * 1000).unref();
}

/** The installed version of a package, by its folder under node_modules ('' if absent). */
function version(dir) {
  try {
    return JSON.parse(fs.readFileSync(require('path').join(__dirname, 'node_modules', dir, 'package.json'))).version;
  } catch (e) {
    return '';
  }
}

module.exports = { Log, tap, tapServer, args, bounded, FrameParser, version };
