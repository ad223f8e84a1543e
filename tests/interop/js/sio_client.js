'use strict';
// Interop driver: runs real socket.io-client 4 clients (each a Manager: one Engine.IO
// connection, one Socket per namespace) through a JSON scenario and prints one JSON
// result object on stdout. tests/interop/sio_harness.py runs python-socketio's Client
// and AsyncClient through the same steps, with the same result shape.
//
//   echo '<scenario json>' | node sio_client.js
//
// Scenario: { "url": "http://127.0.0.1:PORT", "timeout_ms": 15000, "steps": [...] }
//
// Values: JSON, with {"$bin": "<base64>"} for a binary value (a Buffer here), at any depth.
//
// Steps (run in order; the waiting ones take "timeout_ms", default 5000):
//   {"op":"connect","client":"a","namespaces":["/","/custom"],"auth":{..},
//    "transports":["polling","websocket"],"upgrade":true,"reconnection":false,
//    "expect_error":false}
//        a new Manager for client "a" and a Socket per namespace, all with this auth;
//        waits until each namespace is connected (with "expect_error": until each one
//        had a connect_error instead). Reconnection delays are 50-100 ms.
//   {"op":"emit","client":"a","ns":"/","event":"e","args":[..]}
//   {"op":"call","client":"a","ns":"/","event":"e","args":[..]}
//        emit with an acknowledgement callback, wait for it; its arguments are
//        appended to that socket's "acks" as {"event", "args"}
//   {"op":"wait","client":"a","ns":"/","event":"e","count":N,"args":[..]}
//        until N events "e" (with exactly these arguments, when given) arrived in all
//   {"op":"wait_connect","client":"a","ns":"/","count":N}  until N 'connect' events
//   {"op":"wait_disconnect","client":"a","ns":"/","count":N}  until N 'disconnect' events
//   {"op":"connect_again","client":"a","ns":"/"}  socket.connect() (after a server
//        disconnect, which socket.io-client does not undo by itself); then wait_connect
//   {"op":"wait_upgrade","client":"a"}     until the Engine.IO transport is websocket
//   {"op":"wait_pings","client":"a","count":N}  until N Engine.IO pings arrived
//   {"op":"transport","client":"a"}        append the transport name now to "transports"
//   {"op":"disconnect","client":"a"}       every socket's disconnect(), then the engine
//
// A server event "question" is answered (acknowledged) with one value: the list
// ["answer", ...its arguments].
//
// Result: { ok, error, clients: { a: { transports: [...], pings: N, sockets: { "/": {
//   id, events: [{event, args}], connects: N, disconnects: [reason], connect_errors:
//   [message], acks: [{event, args}] } } } }, t_end }
// Exit code: 0 on success, 1 on a failed step, 3 on the hard timeout.

const { Manager } = require('socket.io-client');

function readScenario() {
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

function decode(value) {
  if (Array.isArray(value)) return value.map(decode);
  if (value !== null && typeof value === 'object') {
    if (Object.keys(value).length === 1 && typeof value.$bin === 'string') {
      return Buffer.from(value.$bin, 'base64');
    }
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = decode(v);
    return out;
  }
  return value;
}

function encode(value) {
  if (Buffer.isBuffer(value)) return { $bin: value.toString('base64') };
  if (value instanceof ArrayBuffer) return { $bin: Buffer.from(value).toString('base64') };
  if (ArrayBuffer.isView(value)) {
    return { $bin: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  }
  if (Array.isArray(value)) return value.map(encode);
  if (value !== null && typeof value === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = encode(v);
    return out;
  }
  return value;
}

function same(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

async function main() {
  const sc = await readScenario();
  const t0 = Date.now();
  const result = { ok: false, error: null, clients: {}, t_end: null };
  const managers = {};
  const sockets = {}; // client -> ns -> Socket
  let printed = false;
  const finish = (code) => {
    if (printed) return;
    printed = true;
    result.t_end = Date.now() - t0;
    for (const m of Object.values(managers)) {
      try {
        if (m.engine) m.engine.close();
      } catch (err) { /* leaving anyway */ }
    }
    process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(code));
  };
  const hard = setTimeout(() => {
    result.error = result.error || `hard timeout after ${sc.timeout_ms || 15000} ms`;
    finish(3);
  }, sc.timeout_ms || 15000);
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
      const entry = { check, resolve: null };
      const timer = setTimeout(() => {
        waiters = waiters.filter((w) => w !== entry);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      entry.resolve = () => {
        clearTimeout(timer);
        resolve();
      };
      waiters.push(entry);
    });

  const clientRecord = (name) => {
    if (!result.clients[name]) result.clients[name] = { transports: [], pings: 0, sockets: {} };
    return result.clients[name];
  };
  const socketRecord = (name, ns) => {
    const client = clientRecord(name);
    if (!client.sockets[ns]) {
      client.sockets[ns] = { id: null, events: [], connects: 0, disconnects: [], connect_errors: [], acks: [] };
    }
    return client.sockets[ns];
  };
  const socketOf = (step) => {
    const s = (sockets[step.client] || {})[step.ns || '/'];
    if (!s) throw new Error(`no socket for client ${step.client} namespace ${step.ns || '/'}`);
    return s;
  };
  const managerOf = (step) => {
    const m = managers[step.client];
    if (!m) throw new Error(`no client ${step.client}`);
    return m;
  };

  const connect = async (step, tmo) => {
    const name = step.client;
    const client = clientRecord(name);
    const manager = new Manager(sc.url, {
      transports: step.transports || ['polling', 'websocket'],
      upgrade: step.upgrade !== undefined ? step.upgrade : true,
      reconnection: Boolean(step.reconnection),
      reconnectionDelay: 50,
      reconnectionDelayMax: 100,
      randomizationFactor: 0,
      timeout: tmo,
    });
    managers[name] = manager;
    sockets[name] = {};
    manager.on('open', () => {
      manager.engine.on('ping', () => {
        client.pings += 1;
        poke();
      });
    });
    for (const ns of step.namespaces || ['/']) {
      const rec = socketRecord(name, ns);
      const socket = manager.socket(ns, { auth: step.auth || {} });
      sockets[name][ns] = socket;
      socket.on('connect', () => {
        rec.id = socket.id;
        rec.connects += 1;
        poke();
      });
      socket.on('disconnect', (reason) => {
        rec.disconnects.push(String(reason));
        poke();
      });
      socket.on('connect_error', (err) => {
        rec.connect_errors.push(String(err && err.message));
        poke();
      });
      socket.onAny((event, ...args) => {
        let ack = null;
        if (args.length && typeof args[args.length - 1] === 'function') ack = args.pop();
        rec.events.push({ event, args: encode(args) });
        if (event === 'question' && ack) ack(['answer', ...args]);
        poke();
      });
    }
    for (const ns of step.namespaces || ['/']) {
      const rec = socketRecord(name, ns);
      if (step.expect_error) {
        await waitFor(`connect_error on ${name}${ns}`, () => rec.connect_errors.length > 0 || rec.connects > 0, tmo);
        if (rec.connects > 0) throw new Error(`${name}${ns} connected, a connect_error was expected`);
      } else {
        await waitFor(`connect of ${name}${ns}`, () => rec.connects > 0 || rec.connect_errors.length > 0, tmo);
        if (!rec.connects) throw new Error(`${name}${ns}: connect_error ${rec.connect_errors}`);
      }
    }
  };

  const countEvents = (rec, step) =>
    rec.events.filter((e) => e.event === step.event && (step.args === undefined || same(e.args, step.args))).length;

  try {
    for (const step of sc.steps || []) {
      const tmo = step.timeout_ms || 5000;
      switch (step.op) {
        case 'connect':
          await connect(step, tmo);
          break;
        case 'emit':
          socketOf(step).emit(step.event, ...decode(step.args || []));
          break;
        case 'call': {
          const rec = socketRecord(step.client, step.ns || '/');
          const before = rec.acks.length;
          socketOf(step).emit(step.event, ...decode(step.args || []), (...args) => {
            rec.acks.push({ event: step.event, args: encode(args) });
            poke();
          });
          await waitFor(`the ack of ${step.event}`, () => rec.acks.length > before, tmo);
          break;
        }
        case 'wait': {
          const rec = socketRecord(step.client, step.ns || '/');
          const n = step.count || 1;
          await waitFor(`${n} ${step.event} on ${step.client}${step.ns || '/'}`, () => countEvents(rec, step) >= n, tmo);
          break;
        }
        case 'wait_connect': {
          const rec = socketRecord(step.client, step.ns || '/');
          await waitFor(`${step.count} connects of ${step.client}`, () => rec.connects >= step.count, tmo);
          break;
        }
        case 'wait_disconnect': {
          const rec = socketRecord(step.client, step.ns || '/');
          await waitFor(`${step.count} disconnects of ${step.client}`, () => rec.disconnects.length >= step.count, tmo);
          break;
        }
        case 'connect_again':
          socketOf(step).connect();
          break;
        case 'wait_upgrade': {
          const manager = managerOf(step);
          const upgraded = () => Boolean(manager.engine && manager.engine.transport && manager.engine.transport.name === 'websocket');
          if (!upgraded()) manager.engine.once('upgrade', poke);
          await waitFor(`the upgrade of ${step.client}`, upgraded, tmo);
          break;
        }
        case 'wait_pings': {
          const client = clientRecord(step.client);
          await waitFor(`${step.count} pings`, () => client.pings >= step.count, tmo);
          break;
        }
        case 'transport': {
          const manager = managerOf(step);
          clientRecord(step.client).transports.push(manager.engine && manager.engine.transport ? manager.engine.transport.name : null);
          break;
        }
        case 'disconnect':
          for (const socket of Object.values(sockets[step.client] || {})) socket.disconnect();
          break;
        default:
          throw new Error(`unknown step ${JSON.stringify(step)}`);
      }
    }
    result.ok = true;
  } catch (err) {
    result.error = String(err && err.stack ? err.stack : err);
    finish(1);
    return;
  }
  finish(0);
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ ok: false, error: String(err && err.stack ? err.stack : err) }) + '\n');
  process.exit(1);
});
