'use strict';
// The Node.js peer of the sync fan-out benchmark (benches/sync): the subset of spec/sync.md
// the benchmark uses, with the same binary frames, over the `ws` package.
//
//   node benches/sync/node/server.js PORT
//
// - `GET /.well-known/dx-www`: a minimal discovery document (`sync.endpoint`, and which
//   Node and ws this is), so the benchmark finds both servers the same way.
// - `/_dx/sync`: WebSocket upgrades; `WELCOME` on connect, `SUBSCRIBE` -> `SUBSCRIBED`,
//   `UNSUBSCRIBE` -> `UNSUBSCRIBED`, `PUBLISH` -> one `MESSAGE`, encoded once and sent to
//   every subscriber of the channel (`ACK`/`NACK` when asked), `ERROR` 4000 for anything
//   else. The user is the bearer token's text: this peer checks no token and keeps no
//   history for replay, so it does less than the reference per connection, not more.
// - Pings every second and drops a connection silent for 3 s (3 ticks), as the reference's
//   conformance profile does; a subscriber whose unsent bytes pass 1024 frames of the largest size is
//   closed with 4004, as the reference closes a send queue that overflows.

const http = require('http');
const path = require('path');
const crypto = require('crypto');
const { WebSocketServer } = require('ws');

const WS_VERSION = require(path.join(path.dirname(require.resolve('ws')), 'package.json')).version;

const ENDPOINT = '/_dx/sync';
const SUBPROTOCOL = 'dx-sync.1';
const BUFFER_SIZE = 64;
const RETENTION_SECONDS = 60;
const MAX_PAYLOAD = 16 * 1024;
const MAX_CHANNELS = 32;
const SEND_QUEUE = 1024;
const PING_MS = 1000;
const PING_TIMEOUT_MS = 3000;
const CHANNEL_NAME = /^[A-Za-z0-9_.:-]{1,128}$/;

const op = {
  SUBSCRIBE: 0x01,
  UNSUBSCRIBE: 0x02,
  PUBLISH: 0x03,
  WELCOME: 0x80,
  SUBSCRIBED: 0x81,
  UNSUBSCRIBED: 0x82,
  MESSAGE: 0x83,
  ACK: 0x84,
  NACK: 0x85,
  ERROR: 0x8f,
};
const BAD_REQUEST = 4000;
const VALIDATION_FAILED = 4001;
const PAYLOAD_TOO_LARGE = 4013;
const RESOURCE_EXHAUSTED = 5003;
const CHANNEL_NOT_FOUND = 3002;

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: node server.js PORT');
  process.exit(2);
}

/** name -> { epoch: bigint, offset: bigint, subscribers: Set<WebSocket> } */
const channels = new Map();

function channelOf(name) {
  let c = channels.get(name);
  if (c === undefined) {
    c = { epoch: crypto.randomBytes(8).readBigUInt64LE(0) | 1n, offset: 0n, subscribers: new Set() };
    channels.set(name, c);
  }
  return c;
}

/** A frame being written: fields appended in order, little-endian. */
class Writer {
  constructor(size) {
    this.buf = Buffer.allocUnsafe(size);
    this.at = 0;
  }
  u8(v) {
    this.at = this.buf.writeUInt8(v, this.at);
    return this;
  }
  u16(v) {
    this.at = this.buf.writeUInt16LE(v, this.at);
    return this;
  }
  u32(v) {
    this.at = this.buf.writeUInt32LE(v, this.at);
    return this;
  }
  u64(v) {
    this.at = this.buf.writeBigUInt64LE(v, this.at);
    return this;
  }
  raw(bytes) {
    this.at += bytes.copy(this.buf, this.at);
    return this;
  }
  str8(bytes) {
    return this.u8(bytes.length).raw(bytes);
  }
  bytes32(bytes) {
    return this.u32(bytes.length).raw(bytes);
  }
  done() {
    return this.buf.subarray(0, this.at);
  }
}

/** A frame being read; `null` from a field means the frame was too short. */
class Reader {
  constructor(buf) {
    this.buf = buf;
    this.at = 0;
  }
  left() {
    return this.buf.length - this.at;
  }
  u8() {
    if (this.left() < 1) return null;
    return this.buf[this.at++];
  }
  u32() {
    if (this.left() < 4) return null;
    const v = this.buf.readUInt32LE(this.at);
    this.at += 4;
    return v;
  }
  take(n) {
    if (this.left() < n) return null;
    const v = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return v;
  }
  str8() {
    const n = this.u8();
    return n === null ? null : this.take(n);
  }
  bytes32() {
    const n = this.u32();
    return n === null ? null : this.take(n);
  }
}

function error(request, code, channel) {
  const ch = Buffer.from(channel || '', 'latin1');
  return new Writer(1 + 4 + 2 + 1 + ch.length + 1).u8(op.ERROR).u32(request).u16(code).str8(ch).u8(0).done();
}

function position(opcode, request, channel, c) {
  return new Writer(1 + 4 + 1 + channel.length + 16)
    .u8(opcode)
    .u32(request)
    .str8(channel)
    .u64(c.epoch)
    .u64(c.offset)
    .done();
}

function nack(request, code, channel, c) {
  return new Writer(1 + 4 + 2 + 1 + channel.length + 16)
    .u8(op.NACK)
    .u32(request)
    .u16(code)
    .str8(channel)
    .u64(c.epoch)
    .u64(c.offset)
    .done();
}

function welcome(user) {
  return new Writer(1 + 16 + 1 + user.length + 14)
    .u8(op.WELCOME)
    .raw(crypto.randomBytes(16))
    .str8(user)
    .u32(BUFFER_SIZE)
    .u32(RETENTION_SECONDS)
    .u32(MAX_PAYLOAD)
    .u16(MAX_CHANNELS)
    .done();
}

function userOf(req) {
  const auth = req.headers.authorization || '';
  const m = /^Bearer +(\S+)$/i.exec(auth);
  const user = Buffer.from(m ? m[1] : 'anonymous', 'utf8');
  return user.subarray(0, Math.min(user.length, 255));
}

/** The channel of a frame, or a refusal already sent. */
function channelName(ws, request, bytes) {
  const name = bytes.toString('latin1');
  if (!CHANNEL_NAME.test(name)) {
    ws.send(error(request, VALIDATION_FAILED, ''));
    return null;
  }
  return name;
}

function onFrame(ws, data, isBinary) {
  if (!isBinary) {
    ws.send(error(0, BAD_REQUEST, ''));
    ws.close(1003, 'binary frames only');
    return;
  }
  const r = new Reader(data);
  const opcode = r.u8();
  const request = r.u32();
  if (opcode === null || request === null) {
    ws.send(error(0, BAD_REQUEST, ''));
    return;
  }
  switch (opcode) {
    case op.SUBSCRIBE:
    case op.UNSUBSCRIBE: {
      const bytes = r.str8();
      if (bytes === null || r.left() !== 0) {
        ws.send(error(request, BAD_REQUEST, ''));
        return;
      }
      const name = channelName(ws, request, bytes);
      if (name === null) return;
      if (opcode === op.SUBSCRIBE) {
        if (!ws.dx.channels.has(name) && ws.dx.channels.size >= MAX_CHANNELS) {
          ws.send(error(request, RESOURCE_EXHAUSTED, name));
          return;
        }
        const c = channelOf(name);
        c.subscribers.add(ws);
        ws.dx.channels.add(name);
        ws.send(position(op.SUBSCRIBED, request, bytes, c));
      } else {
        const c = channels.get(name);
        if (c !== undefined) c.subscribers.delete(ws);
        ws.dx.channels.delete(name);
        ws.send(new Writer(1 + 4 + 1 + bytes.length).u8(op.UNSUBSCRIBED).u32(request).str8(bytes).done());
      }
      return;
    }
    case op.PUBLISH: {
      const flags = r.u8();
      const bytes = r.str8();
      const payload = r.bytes32();
      if (flags === null || bytes === null || payload === null || r.left() !== 0 || (flags & ~1) !== 0) {
        ws.send(error(request, BAD_REQUEST, ''));
        return;
      }
      const name = channelName(ws, request, bytes);
      if (name === null) return;
      if (payload.length > MAX_PAYLOAD) {
        ws.send(error(request, PAYLOAD_TOO_LARGE, name));
        return;
      }
      const c = channelOf(name);
      c.offset += 1n;
      const sender = ws.dx.user;
      const frame = new Writer(1 + 1 + bytes.length + 16 + 1 + sender.length + 4 + payload.length)
        .u8(op.MESSAGE)
        .str8(bytes)
        .u64(c.epoch)
        .u64(c.offset)
        .str8(sender)
        .bytes32(payload)
        .done();
      let reached = 0;
      for (const sub of c.subscribers) {
        if (sub.bufferedAmount > SEND_QUEUE * (MAX_PAYLOAD + 1024)) {
          // Too slow to keep up: closed, as the reference closes an overflowing queue.
          c.subscribers.delete(sub);
          sub.close(4004, 'send queue overflow');
          continue;
        }
        sub.send(frame);
        reached += 1;
      }
      if (flags & 1) {
        if (reached > 0) ws.send(position(op.ACK, request, bytes, c));
        else ws.send(nack(request, CHANNEL_NOT_FOUND, bytes, c));
      }
      return;
    }
    default:
      ws.send(error(request, BAD_REQUEST, ''));
  }
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/.well-known/dx-www') {
    const body = JSON.stringify({
      sync: { endpoint: ENDPOINT, subprotocol: SUBPROTOCOL, broker: 'memory', send_queue: SEND_QUEUE },
      peer: { node: process.version, ws: WS_VERSION },
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  res.writeHead(req.url === ENDPOINT ? 400 : 404, { 'content-length': 0 });
  res.end();
});

const wss = new WebSocketServer({
  server,
  path: ENDPOINT,
  perMessageDeflate: false,
  maxPayload: 4 * (MAX_PAYLOAD + 1024),
  clientTracking: true,
  handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
});

wss.on('connection', (ws, req) => {
  ws.dx = { user: userOf(req), channels: new Set(), heard: true, silentTicks: 0 };
  ws.send(welcome(ws.dx.user));
  ws.on('message', (data, isBinary) => {
    ws.dx.heard = true;
    onFrame(ws, data, isBinary);
  });
  ws.on('pong', () => {
    ws.dx.heard = true;
  });
  ws.on('error', () => {});
  ws.on('close', () => {
    for (const name of ws.dx.channels) {
      const c = channels.get(name);
      if (c !== undefined) c.subscribers.delete(ws);
    }
    ws.dx.channels.clear();
  });
});

// A connection heard from since the last tick (a pong or a frame) is alive; one silent for
// PING_TIMEOUT_MS / PING_MS ticks in a row is dropped. Counted in ticks, not by the clock, so
// a busy event loop that runs the timer late cannot drop a connection whose pong is waiting
// to be read.
setInterval(() => {
  for (const ws of wss.clients) {
    if (ws.dx.heard) {
      ws.dx.silentTicks = 0;
    } else if (++ws.dx.silentTicks >= PING_TIMEOUT_MS / PING_MS) {
      ws.terminate();
      continue;
    }
    ws.dx.heard = false;
    ws.ping();
  }
}, PING_MS).unref();

server.listen(port, '127.0.0.1', () => {
  console.log(`node ${process.version} ws ${WS_VERSION} listening on 127.0.0.1:${port}`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => process.exit(0));
}
