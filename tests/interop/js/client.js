'use strict';
// Interop driver: runs one real engine.io-client (v6 = EIO 4, v3 = EIO 3)
// through a JSON scenario and prints one JSON result object on stdout.
//
//   node client.js '<scenario json>'      or      echo '<json>' | node client.js
//
// Scenario:
//   { "url": "http://127.0.0.1:PORT", "version": 6 | 3,
//     "transports": ["polling", "websocket"], "upgrade": true,
//     "options": { ...extra client options, e.g. forceBase64 },
//     "timeout_ms": 10000,             // hard limit for the whole run
//     "steps": [ { "op": ... }, ... ] }
//
// Steps (run in order; each waits for its condition):
//   {"op":"open"}                         wait for 'open'
//   {"op":"send","text":"..","repeat":N}  send text (repeated N times if given)
//   {"op":"send","binary":"<base64>","repeat":N}  send binary (bytes repeated)
//   {"op":"send_many","count":N,"prefix":"m","interval_ms":1,"tail_after_upgrade":K}
//        send prefix+i for i in 0..N-1, pausing interval_ms between sends; the
//        last K messages are held until the 'upgrade' event has fired
//   {"op":"expect","count":N}             wait until N messages have arrived in total
//   {"op":"expect","text":"..."}          wait until this text has arrived (node only)
//   {"op":"count"}                        send cmd:count, wait for the count:N reply
//   {"op":"wait_count","count":N}         repeat cmd:count until the reply is >= N
//                                         (node clients only)
//   {"op":"wait_upgrade"}                 wait for 'upgrade'
//   {"op":"wait_close"}                   wait for 'close'
//   {"op":"sleep","ms":N}
//   {"op":"snapshot"}                     record transport name + readyState now
//   {"op":"close"}                        socket.close(), wait for 'close'
//   {"op":"kill"}                         print the result so far, then SIGKILL
//                                         ourselves (no close packet, no WS close frame)
// Every waiting step takes an optional "timeout_ms" (default 5000).
//
// Result: { ok, error, handshake, id, transport, ready_state, messages: [{type,
//   length, sha256, data|b64 (if short)}], events: [{t, name, ...}], close:
//   {reason, description} | null, counts: [N...], snapshots, sent, t_end }
// Exit code: 0 on success, 1 on a failed step or exception, 3 on the hard timeout.

const crypto = require('crypto');

const SHORT = 4096;

function readScenario() {
  if (process.argv[2]) return Promise.resolve(JSON.parse(process.argv[2]));
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c));
    process.stdin.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (err) {
        reject(err);
      }
    });
    process.stdin.on('error', reject);
  });
}

function makeSocket(sc) {
  const opts = Object.assign(
    {
      transports: sc.transports || ['polling', 'websocket'],
      upgrade: sc.upgrade !== undefined ? sc.upgrade : true,
      path: sc.path || '/engine.io/',
    },
    sc.options || {},
  );
  if (Number(sc.version) === 3) {
    const SocketV3 = require('engine.io-client-v3');
    return new SocketV3(sc.url, opts);
  }
  const { Socket } = require('engine.io-client');
  return new Socket(sc.url, opts);
}

function describe(data) {
  if (typeof data === 'string') {
    const bytes = Buffer.from(data, 'utf8');
    const entry = {
      type: 'text',
      length: bytes.length,
      sha256: crypto.createHash('sha256').update(bytes).digest('hex'),
    };
    if (data.length <= SHORT) entry.data = data;
    return entry;
  }
  let buf;
  if (Buffer.isBuffer(data)) buf = data;
  else if (data instanceof ArrayBuffer) buf = Buffer.from(data);
  else if (ArrayBuffer.isView(data)) buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  else return { type: 'unknown', js_type: Object.prototype.toString.call(data) };
  const entry = {
    type: 'binary',
    length: buf.length,
    sha256: crypto.createHash('sha256').update(buf).digest('hex'),
  };
  if (buf.length <= SHORT) entry.b64 = buf.toString('base64');
  return entry;
}

async function main() {
  const sc = await readScenario();
  const t0 = Date.now();
  const now = () => Date.now() - t0;
  const result = {
    ok: false,
    error: null,
    version: Number(sc.version) === 3 ? 3 : 6,
    handshake: null,
    id: null,
    transport: null,
    ready_state: null,
    messages: [],
    events: [],
    close: null,
    counts: [],
    snapshots: [],
    sent: 0,
    t_end: null,
  };
  let printed = false;
  const finish = (code) => {
    if (printed) return;
    printed = true;
    result.t_end = now();
    process.stdout.write(JSON.stringify(result) + '\n');
    process.exit(code);
  };

  const hard = setTimeout(() => {
    result.error = result.error || `hard timeout after ${sc.timeout_ms || 10000} ms`;
    finish(3);
  }, sc.timeout_ms || 10000);
  hard.unref();

  // Waiters: predicates re-checked whenever something happens.
  let waiters = [];
  const poke = () => {
    const pending = [];
    for (const w of waiters) {
      if (w.check()) w.resolve();
      else pending.push(w);
    }
    waiters = pending;
  };
  const waitFor = (what, check, timeoutMs) =>
    new Promise((resolve, reject) => {
      if (check()) return resolve();
      const timer = setTimeout(() => {
        waiters = waiters.filter((w) => w !== entry);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const entry = {
        check,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      waiters.push(entry);
    });

  let opened = false;
  let upgraded = false;
  let closed = false;
  const socket = makeSocket(sc);
  const event = (name, extra) => {
    result.events.push(Object.assign({ t: now(), name, sent: result.sent }, extra || {}));
  };

  socket.on('handshake', (data) => {
    result.handshake = data;
    event('handshake');
  });
  socket.on('open', () => {
    opened = true;
    result.id = socket.id;
    event('open', { transport: socket.transport && socket.transport.name });
    poke();
  });
  socket.on('message', (data) => {
    const entry = describe(data);
    result.messages.push(entry);
    if (entry.type === 'text' && typeof data === 'string' && data.startsWith('count:')) {
      result.counts.push(Number(data.slice('count:'.length)));
    }
    poke();
  });
  socket.on('upgrading', (t) => event('upgrading', { transport: t && t.name }));
  socket.on('upgrade', (t) => {
    upgraded = true;
    event('upgrade', { transport: t && t.name });
    poke();
  });
  socket.on('upgradeError', (err) => event('upgradeError', { message: String(err && err.message) }));
  socket.on('ping', () => event('ping'));
  socket.on('pong', () => event('pong'));
  socket.on('error', (err) => {
    event('error', { message: String(err && (err.message || err)) });
    poke();
  });
  socket.on('close', (reason, description) => {
    closed = true;
    let desc = null;
    if (description !== undefined && description !== null) {
      desc = description instanceof Error ? description.message : description;
      if (desc && typeof desc === 'object') {
        desc = {
          message: String(desc.message || ''),
          description: String(desc.description || ''),
          context: desc.context && desc.context.statusCode !== undefined
            ? { statusCode: desc.context.statusCode } : undefined,
        };
      } else {
        desc = String(desc);
      }
    }
    result.close = { reason: String(reason), description: desc, t: now() };
    event('close', { reason: String(reason) });
    poke();
  });

  const snapshot = () => ({
    t: now(),
    transport: socket.transport ? socket.transport.name : null,
    ready_state: socket.readyState,
  });
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const payload = (step) => {
    const n = step.repeat === undefined ? 1 : step.repeat;
    if (step.binary !== undefined) {
      const unit = Buffer.from(step.binary, 'base64');
      return n === 1 ? unit : Buffer.concat(Array(n).fill(unit));
    }
    return n === 1 ? step.text : step.text.repeat(n);
  };

  try {
    for (const step of sc.steps || []) {
      const tmo = step.timeout_ms || 5000;
      switch (step.op) {
        case 'open':
          await waitFor('open', () => opened || closed, tmo);
          if (!opened) throw new Error('closed before open');
          break;
        case 'send':
          socket.send(payload(step));
          result.sent += 1;
          break;
        case 'send_many': {
          const count = step.count;
          const tail = step.tail_after_upgrade || 0;
          for (let i = 0; i < count; i++) {
            if (i === count - tail) {
              await waitFor('upgrade (before tail)', () => upgraded || closed, tmo);
            }
            socket.send(`${step.prefix || ''}${i}`);
            result.sent += 1;
            if (step.interval_ms) await sleep(step.interval_ms);
          }
          break;
        }
        case 'expect': {
          if (step.text !== undefined) {
            const has = () => result.messages.some((m) => m.data === step.text);
            await waitFor(`message ${JSON.stringify(step.text)}`, () => has() || closed, tmo);
            if (!has()) throw new Error(`closed before ${JSON.stringify(step.text)} arrived`);
            break;
          }
          const n = step.count;
          await waitFor(`${n} messages`, () => result.messages.length >= n || closed, tmo);
          if (result.messages.length < n) throw new Error(`closed after ${result.messages.length}/${n} messages`);
          break;
        }
        case 'count': {
          const before = result.counts.length;
          socket.send('cmd:count');
          result.sent += 1;
          await waitFor('count reply', () => result.counts.length > before || closed, tmo);
          if (result.counts.length <= before) throw new Error('closed before count reply');
          break;
        }
        case 'wait_count': {
          // Ask cmd:count until the server counts at least `count` clients.
          const end = Date.now() + tmo;
          for (;;) {
            const before = result.counts.length;
            socket.send('cmd:count');
            result.sent += 1;
            await waitFor('count reply', () => result.counts.length > before || closed, Math.max(1, end - Date.now()));
            if (closed) throw new Error('closed while waiting for the count');
            if (result.counts[result.counts.length - 1] >= step.count) break;
            if (Date.now() > end) throw new Error(`count stayed below ${step.count}`);
            await sleep(20);
          }
          break;
        }
        case 'wait_upgrade':
          await waitFor('upgrade', () => upgraded || closed, tmo);
          if (!upgraded) throw new Error('closed before upgrade');
          break;
        case 'wait_close':
          await waitFor('close', () => closed, tmo);
          break;
        case 'sleep':
          await sleep(step.ms);
          break;
        case 'snapshot':
          result.snapshots.push(snapshot());
          break;
        case 'close':
          result.transport = socket.transport ? socket.transport.name : null;
          socket.close();
          await waitFor('close after socket.close()', () => closed, tmo);
          break;
        case 'kill':
          result.transport = socket.transport ? socket.transport.name : null;
          result.ready_state = socket.readyState;
          result.ok = true;
          result.t_end = now();
          process.stdout.write(JSON.stringify(result) + '\n');
          printed = true;
          process.kill(process.pid, 'SIGKILL');
          await sleep(10000);
          break;
        default:
          throw new Error(`unknown step ${JSON.stringify(step)}`);
      }
    }
    if (result.transport === null && socket.transport) result.transport = socket.transport.name;
    result.ready_state = socket.readyState;
    result.ok = true;
  } catch (err) {
    result.error = String(err && err.stack ? err.stack : err);
    if (socket.transport) result.transport = result.transport || socket.transport.name;
    result.ready_state = socket.readyState;
    finish(1);
    return;
  }
  // Leave without a goodbye unless the scenario closed the socket itself.
  finish(0);
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ ok: false, error: String(err && err.stack ? err.stack : err) }) + '\n');
  process.exit(1);
});
