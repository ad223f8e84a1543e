'use strict';
// Load generator of the Socket.IO benchmark (benchmarks/socketio_compare.py drives it).
//
// A raw Engine.IO v4 client (../shared/bench/loadgen/proto.js: pre-built WebSocket
// frames with an all-zero mask, a single-pass frame parser, one keep-alive HTTP/1.1
// connection per polling client) that speaks the client side of Socket.IO 5 itself:
// after the "0{...}" open packet it sends the CONNECT "40" for "/", waits for
// "40{"sid":...}", then sends EVENT packets '42["event",...]' and acked events
// '42<id>["event",...]' and reads EVENT '42[...]' / ACK '43<id>[...]' packets by
// their prefix (no JSON parsing on the hot path). Server pings "2" are answered "3".
// socket.io-client would do the same protocol work with its encoder, decoder, event
// emitters and timers per packet, i.e. measure itself against a fast server.
//
// The app it expects (benchmarks/socketio_serve.py, benchmarks/socketio_node/server.js):
//   "message" (x)          -> "message-back" (x) to the sender
//   "message-with-ack" (x) -> ack (x)
//   "broadcast" (x)        -> "broadcast" (x) to every client of "/"
//   (an "auth" event right after the connect is ignored)
//
// Scenarios (one JSON object on stdout at the end, fields as ../shared/bench's loadgen):
//   emit_echo           --conns 100 clients, --inflight 1 '42["message","<size x>"]' each,
//                       answered by '42["message-back",...]'        -> echo/s, RTT
//   emit_ack            same with '42<id>["message-with-ack",...]', answered by '43<id>[...]'
//                                                                    -> ack/s, RTT
//   broadcast           --conns 1000 clients; one emits "broadcast" --messages 20 times
//                       back to back; --rounds 3                      -> deliveries/s,
//                       ms until the last client has all of them
//   handshakes_ws       --conns 20 loops: TCP + WS upgrade, open packet, "40", until
//                       "40{sid}" (latency), then "41" + WS close     -> connects/s
//   handshakes_polling  --conns 20 loops on keep-alive connections: GET handshake,
//                       POST "40", GET until "40{sid}" (latency), POST "41\x1e1"
//   idle_memory         --conns 5000 connected clients (100 at a time); server RSS
//                       (process tree) before and 2 s after; hold --hold-intervals ping
//                       intervals; then every survivor emits "message" once
//                                                                    -> KiB/client
//
// Usage: node socketio_load.js --scenario emit_echo --port 18101 [--conns N]
//          [--duration 10] [--warmup 2] [--inflight 1] [--size 32] [--server-pid PID]
//          [--name LABEL] [--path /socket.io/]
// proto.js is found in $BENCH_DIR/loadgen (default ../../shared/bench next to this file).

const fs = require('fs');
const path = require('path');
const { execSync } = require('child_process');
const { performance } = require('perf_hooks');

const BENCH_DIR = process.env.BENCH_DIR || path.join(__dirname, '..', '..', 'shared', 'bench');
const { RawWs, HttpConn, textFrame } = require(path.join(BENCH_DIR, 'loadgen', 'proto.js'));

// ---------------------------------------------------------------- arguments
const args = {
  scenario: 'emit_echo', host: '127.0.0.1', port: 18000, path: '/socket.io/',
  conns: 0, duration: 10, warmup: 2, inflight: 1, size: 32,
  'server-pid': 0, name: '', messages: 20, rounds: 3,
  'hold-intervals': 2, 'connect-concurrency': 100, 'connect-timeout': 120,
};
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (!a.startsWith('--')) throw new Error('bad argument ' + a);
  const k = a.slice(2);
  if (!(k in args)) throw new Error('unknown option ' + a);
  if (typeof args[k] === 'boolean') args[k] = true;
  else args[k] = typeof args[k] === 'number' ? Number(process.argv[++i]) : process.argv[++i];
}
const DEFAULT_CONNS = {
  emit_echo: 100, emit_ack: 100, handshakes_ws: 20, handshakes_polling: 20,
  broadcast: 1000, idle_memory: 5000,
};
if (!args.conns) args.conns = DEFAULT_CONNS[args.scenario] || 100;
const now = () => performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Global watchdog: whatever happens, this process ends.
const WATCHDOG_S = args.warmup + args.duration + args['connect-timeout'] + 180;
setTimeout(() => {
  emit({ error: `watchdog: loadgen exceeded ${WATCHDOG_S}s` });
  process.exit(3);
}, WATCHDOG_S * 1000).unref();

// ------------------------------------------------------- process accounting
// (as ../shared/bench/loadgen/loadgen.js, which runs its scenarios when required)
let CLK_TCK = 100;
try { CLK_TCK = Number(execSync('getconf CLK_TCK').toString().trim()) || 100; } catch (e) { /* default */ }

function procTree(pid) {
  if (!pid) return [];
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    try {
      for (const t of fs.readdirSync(`/proc/${out[i]}/task`)) {
        const ch = fs.readFileSync(`/proc/${out[i]}/task/${t}/children`, 'utf8').trim();
        if (ch) for (const c of ch.split(/\s+/)) out.push(Number(c));
      }
    } catch (e) { /* process gone */ }
  }
  return out;
}
function serverCpuSeconds() {
  let ticks = 0;
  for (const p of procTree(args['server-pid'])) {
    try {
      const s = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]); // utime, stime
    } catch (e) { /* gone */ }
  }
  return ticks / CLK_TCK;
}
function serverRssKiB() {
  let kib = 0;
  for (const p of procTree(args['server-pid'])) {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) kib += Number(m[1]);
    } catch (e) { /* gone */ }
  }
  return kib;
}
function serverAlive() {
  const pid = args['server-pid'];
  if (!pid) return true;
  try { return !/^\S+ \S+ Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/\(.*\)/, 'x')); } catch (e) { return false; }
}
function cpuStat() {
  const out = {};
  try {
    for (const line of fs.readFileSync('/proc/stat', 'utf8').split('\n')) {
      const m = /^cpu([01]) (.*)$/.exec(line);
      if (!m) continue;
      const v = m[2].trim().split(/\s+/).slice(0, 8).map(Number);
      const total = v.reduce((x, y) => x + y, 0);
      out[m[1]] = { total, busy: total - v[3] - v[4], steal: v[7] };
    }
  } catch (e) { /* no /proc/stat */ }
  return out;
}
class CpuWindow {
  start() { this.t = now(); this.s = serverCpuSeconds(); this.l = process.cpuUsage(); this.st = cpuStat(); }
  stop() {
    const dt = (now() - this.t) / 1000;
    const l = process.cpuUsage(this.l);
    const st = cpuStat();
    const res = {
      server_cpu_pct: args['server-pid'] ? round1(100 * (serverCpuSeconds() - this.s) / dt) : null,
      loadgen_cpu_pct: round1(100 * (l.user + l.system) / 1e6 / dt),
    };
    for (const k of ['0', '1']) {
      if (!st[k] || !this.st[k]) continue;
      const tot = st[k].total - this.st[k].total;
      res[`cpu${k}_busy_pct`] = tot > 0 ? round1(100 * (st[k].busy - this.st[k].busy) / tot) : null;
      res[`cpu${k}_steal_pct`] = tot > 0 ? round1(100 * (st[k].steal - this.st[k].steal) / tot) : null;
    }
    return res;
  }
}

// ---------------------------------------------------------------- helpers
const round1 = (x) => Math.round(x * 10) / 10;
const round3 = (x) => Math.round(x * 1000) / 1000;
class Samples {
  constructor() { this.a = new Float64Array(1 << 16); this.n = 0; }
  push(v) {
    if (this.n === this.a.length) {
      if (this.n >= (1 << 24)) return;
      const b = new Float64Array(this.a.length * 2); b.set(this.a); this.a = b;
    }
    this.a[this.n++] = v;
  }
  pct(p) {
    if (!this.n) return null;
    if (!this.sorted) this.sorted = this.a.slice(0, this.n).sort();
    return round3(this.sorted[Math.min(this.n - 1, Math.floor(p / 100 * this.n))]);
  }
}
const errors = {};
function err(kind) { errors[kind] = (errors[kind] || 0) + 1; }
function median(xs) { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor((s.length - 1) / 2)] : null; }

let emitted = false;
function emit(obj) {
  if (emitted) return;
  emitted = true;
  const base = { name: args.name || undefined, scenario: args.scenario, conns: args.conns, port: args.port };
  process.stdout.write(JSON.stringify({ ...base, ...obj, errors }) + '\n');
}

// ------------------------------------------------------------ Socket.IO packets
const PONG3 = textFrame('3');
const CONNECT = textFrame('40');
const DISCONNECT = textFrame('41');
const B = (s) => Buffer.from(s);
// Socket.IO packets as they arrive, the Engine.IO "4" already removed
const AUTH = B('2["auth"');
const MESSAGE_BACK = B('2["message-back",');
const BROADCAST = B('2["broadcast",');
const startsWith = (buf, prefix) => buf.length >= prefix.length
  && buf.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
const jsonText = (n) => JSON.stringify('x'.repeat(n));

// Opens one WebSocket session and connects it to "/"; resolves once "40{sid}" arrives.
// handlers.onPacket(session, packet:Buffer) gets every other Socket.IO packet (the
// Buffer is only valid during the call); handlers.onClose(session).
function openClient(handlers, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const s = { ws: null, connected: false, closed: false, pings: 0, q: [], hs: null, sid: null };
    let settled = false;
    const fail = (why) => {
      if (settled) return;
      settled = true; clearTimeout(timer); s.ws.terminate(); reject(new Error(why));
    };
    const timer = setTimeout(() => fail(s.hs ? 'sio_connect_timeout' : 'connect_timeout'), timeoutMs);
    s.ws = new RawWs(args.host, args.port, `${args.path}?EIO=4&transport=websocket`, {
      onError(ws, e) {
        if (!settled) fail('ws_error:' + (e.code || e.message));
        else err('ws_error_after_open:' + (e.code || e.message));
      },
      onClose() {
        s.closed = true; s.connected = false;
        if (!settled) fail('closed_before_connect');
        if (handlers.onClose) handlers.onClose(s);
      },
      onMessage(ws, data, isBinary) {
        if (isBinary) { err('binary_message'); return; }
        const c = data[0];
        if (c === 0x34) { // '4' message: a Socket.IO packet
          const p = data.subarray(1);
          const t = p[0];
          if (t === 0x30) { // '0' CONNECT reply
            try { s.sid = JSON.parse(p.subarray(1).toString()).sid; } catch (e) { err('bad_connect_packet'); }
            if (!settled) { settled = true; clearTimeout(timer); s.connected = true; resolve(s); }
          } else if (t === 0x34) { // '4' CONNECT_ERROR
            fail('connect_error');
          } else if (t === 0x31) { // '1' DISCONNECT
            s.connected = false; s.serverDisconnected = true;
          } else if (startsWith(p, AUTH)) {
            s.auth = true;
          } else handlers.onPacket(s, p);
        } else if (c === 0x32) { ws.send(PONG3); s.pings++; } // '2' ping
        else if (c === 0x30) { // '0' open: connect to "/"
          try { s.hs = JSON.parse(data.subarray(1).toString()); } catch (e) { err('bad_open_packet'); }
          ws.send(CONNECT);
        } else if (c === 0x31) { s.serverClosed = true; } // '1' close
        else if (c !== 0x36) err('unknown_packet'); // '6' noop
      },
    });
  });
}

async function openMany(n, handlers, { concurrency = args['connect-concurrency'], deadlineS = args['connect-timeout'] } = {}) {
  const sessions = [];
  const deadline = now() + deadlineS * 1000;
  let next = 0; let failed = 0;
  const t0 = now();
  async function worker() {
    while (next < n && now() < deadline) {
      next++;
      try { sessions.push(await openClient(handlers)); } catch (e) { failed++; err(e.message); }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return { sessions, failed, connect_s: round3((now() - t0) / 1000) };
}
function closeAll(sessions) { for (const s of sessions) { try { s.ws.terminate(); } catch (e) { /* ignore */ } } }

// Runs one-in-flight (or --inflight) request/answer traffic on --conns clients:
// send(s) sends one request and returns its key; onPacket answers with the key it matched.
async function requestAnswer({ metric, unit, send, match }) {
  const lat = new Samples();
  let measuring = false; let running = true; let count = 0; let inflightTotal = 0;
  const request = (s) => { s.q.push([send(s), now()]); inflightTotal++; };
  const handlers = {
    onPacket(s, p) {
      const key = match(s, p);
      if (key === undefined) { err('unexpected_packet'); return; }
      const t = now();
      const head = s.q.shift();
      if (head === undefined) { err('unexpected_answer'); return; }
      inflightTotal--;
      if (head[0] !== key) err('answer_mismatch');
      if (measuring) { count++; lat.push(t - head[1]); }
      if (running) request(s);
    },
  };
  const { sessions, failed, connect_s } = await openMany(args.conns, handlers);
  if (!sessions.length) return emit({ error: 'no client connected', failed });
  for (const s of sessions) for (let i = 0; i < args.inflight; i++) request(s);
  await sleep(args.warmup * 1000);
  const cpu = new CpuWindow(); cpu.start();
  const tStart = now(); count = 0; measuring = true;
  await sleep(args.duration * 1000);
  measuring = false; const dt = (now() - tStart) / 1000; const c = count;
  const usage = cpu.stop();
  running = false;
  const drainDeadline = now() + 5000;
  while (inflightTotal > 0 && now() < drainDeadline) await sleep(20);
  const closedDuring = sessions.filter((s) => s.closed || !s.connected).length;
  const rss = serverRssKiB();
  closeAll(sessions);
  return emit({
    metric, rate: round1(c / dt), unit, answers: c, window_s: round3(dt),
    p50_ms: lat.pct(50), p99_ms: lat.pct(99), max_ms: lat.pct(100),
    inflight_per_conn: args.inflight, size: args.size,
    sessions: sessions.length, failed_connects: failed, connect_s, closed_during_run: closedDuring,
    unanswered_at_end: inflightTotal, server_rss_kib: rss, ...usage,
  });
}

// ------------------------------------------------------------ emit_echo
function emitEcho() {
  const arg = jsonText(args.size);
  const frame = textFrame(`42["message",${arg}]`);
  const expectedLength = `2["message-back",${arg}]`.length;
  return requestAnswer({
    metric: 'echoes_per_s', unit: 'echo/s',
    send(s) { s.ws.send(frame); return 0; },
    match(s, p) {
      if (!startsWith(p, MESSAGE_BACK)) return undefined;
      return p.length === expectedLength ? 0 : -1;
    },
  });
}

// ------------------------------------------------------------ emit_ack
function emitAck() {
  const tail = `["message-with-ack",${jsonText(args.size)}]`;
  const answerLength = `[${jsonText(args.size)}]`.length;
  return requestAnswer({
    metric: 'acks_per_s', unit: 'ack/s',
    send(s) {
      s.ackId = (s.ackId || 0) + 1;
      s.ws.send(textFrame('42' + s.ackId + tail));
      return s.ackId;
    },
    match(s, p) {
      if (p[0] !== 0x33) return undefined; // '3' ACK
      let id = 0; let i = 1;
      for (; i < p.length && p[i] >= 0x30 && p[i] <= 0x39; i++) id = id * 10 + p[i] - 0x30;
      if (i === 1) return undefined;
      return p.length - i === answerLength ? id : -1;
    },
  });
}

// ------------------------------------------------------------ broadcast
async function broadcast() {
  const M = args.messages;
  let round = null;
  const expected = B('2["broadcast","x"]');
  const handlers = {
    onPacket(s, p) {
      if (!round) { err('unexpected_packet'); return; }
      if (p.equals(expected)) {
        s.got++; round.deliveries++;
        if (s.got === M) { round.done++; if (round.done === round.n) round.finish(now()); }
        else if (s.got > M) err('extra_delivery');
      } else err('unexpected_packet');
    },
  };
  const { sessions, failed, connect_s } = await openMany(args.conns, handlers);
  if (!sessions.length) return emit({ error: 'no client connected', failed });
  await sleep(1000);
  const rounds = [];
  const cpu = new CpuWindow(); cpu.start();
  const cmd = textFrame('42["broadcast","x"]');
  for (let r = 0; r < args.rounds; r++) {
    const live = sessions.filter((s) => !s.closed && s.connected);
    if (!live.length) break;
    for (const s of sessions) s.got = 0;
    let finish;
    const finished = new Promise((res) => { finish = res; });
    round = { n: live.length, done: 0, deliveries: 0, finish };
    const t0 = now();
    for (let i = 0; i < M; i++) live[0].ws.send(cmd);
    const tEnd = await Promise.race([finished, sleep(30000).then(() => null)]);
    const dt = ((tEnd || now()) - t0);
    rounds.push({
      clients: live.length, complete_clients: round.done, deliveries: round.deliveries,
      time_to_last_ms: tEnd ? round3(dt) : null, deliveries_per_s: round1(round.deliveries / (dt / 1000)),
      timed_out: !tEnd,
    });
    await sleep(500); // late/extra deliveries land in this round's counters
    round = null;
    await sleep(500);
  }
  const usage = cpu.stop();
  const rss = serverRssKiB();
  closeAll(sessions);
  const okRounds = rounds.filter((x) => !x.timed_out);
  return emit({
    metric: 'deliveries_per_s', unit: 'deliv/s',
    rate: median(rounds.map((x) => x.deliveries_per_s)),
    time_to_last_ms: rounds.length && okRounds.length === rounds.length
      ? median(rounds.map((x) => x.time_to_last_ms)) : null,
    messages: M, rounds, sessions: sessions.length, failed_connects: failed, connect_s,
    server_rss_kib: rss, cpu_note: 'cpu over all rounds incl. 1 s pauses', ...usage,
  });
}

// ------------------------------------------------------------ handshakes
async function timedLoops(metric, note, cycle) {
  const lat = new Samples();
  const state = { measuring: false, running: true };
  let count = 0; let failedCycles = 0;
  async function worker() {
    const ctx = {};
    while (state.running) {
      const t0 = now();
      try {
        const connected = await cycle(ctx);
        if (state.measuring) { count++; lat.push(connected - t0); }
      } catch (e) {
        err(e.message); if (state.measuring) failedCycles++;
        if (ctx.reset) ctx.reset();
        await sleep(10);
      }
    }
    if (ctx.reset) ctx.reset();
  }
  const workers = Array.from({ length: args.conns }, worker);
  await sleep(args.warmup * 1000);
  const cpu = new CpuWindow(); cpu.start();
  const tStart = now(); count = 0; state.measuring = true;
  await sleep(args.duration * 1000);
  state.measuring = false; const dt = (now() - tStart) / 1000; const c = count;
  const usage = cpu.stop();
  state.running = false;
  await Promise.race([Promise.all(workers), sleep(12000)]);
  return emit({
    metric, rate: round1(c / dt), unit: 'conn/s', cycles: c, failed_cycles: failedCycles,
    window_s: round3(dt), p50_ms: lat.pct(50), p99_ms: lat.pct(99), note,
    server_rss_kib: serverRssKiB(), ...usage,
  });
}

function handshakesWs() {
  const handlers = { onPacket() {}, onClose(s) { if (s.onClosed) s.onClosed(); } };
  return timedLoops('ws_connects_per_s',
    'cycle = TCP connect + WS upgrade + open packet + "40" until "40{sid}" (latency measured to '
    + 'here) + "41" + WS close handshake',
    async () => {
      const s = await openClient(handlers, 10000);
      const connected = now();
      await new Promise((resolve) => {
        const t = setTimeout(() => { err('close_timeout'); s.ws.terminate(); }, 5000);
        s.onClosed = () => { clearTimeout(t); resolve(); };
        if (s.closed) s.onClosed(); else { s.ws.send(DISCONNECT); s.ws.close(); }
      });
      return connected;
    });
}

function handshakesPolling() {
  const target = (sid) => `${args.path}?EIO=4&transport=polling${sid ? '&sid=' + encodeURIComponent(sid) : ''}`;
  const post = async (client, sid, body) => {
    const r = await client.request('POST', target(sid), body);
    if (r.status !== 200 || r.body.toLowerCase() !== 'ok') throw new Error('poll_post_' + r.status);
  };
  return timedLoops('polling_connects_per_s',
    'cycle = GET handshake + POST "40" + GET until "40{sid}" (latency measured to here) + '
    + 'POST "41\\x1e1", on a keep-alive connection',
    async (ctx) => {
      if (!ctx.client) {
        ctx.client = new HttpConn(args.host, args.port);
        ctx.reset = () => { if (ctx.client) ctx.client.destroy(); ctx.client = null; };
      }
      const client = ctx.client;
      const r = await client.request('GET', target());
      if (r.status !== 200 || r.body[0] !== '0') throw new Error('poll_handshake_' + r.status);
      const { sid } = JSON.parse(r.body.split('\x1e')[0].slice(1));
      await post(client, sid, '40');
      let connected = 0;
      while (!connected) {
        const g = await client.request('GET', target(sid));
        if (g.status !== 200) throw new Error('poll_get_' + g.status);
        for (const p of g.body.split('\x1e')) {
          if (p.startsWith('40')) connected = now();
          else if (p.startsWith('44')) throw new Error('connect_error');
          else if (p === '2') await post(client, sid, '3');
          else if (p === '1') throw new Error('server_closed_session');
        }
      }
      await post(client, sid, '41\x1e1');
      return connected;
    });
}

// ------------------------------------------------------------ idle_memory
async function idleMemory() {
  let answered = 0;
  const handlers = {
    onPacket(s, p) {
      if (startsWith(p, MESSAGE_BACK) && !s.answered) { s.answered = true; answered++; }
      else err('unexpected_packet');
    },
  };
  const rssBefore = serverRssKiB();
  const cpu = new CpuWindow(); cpu.start();
  const { sessions, failed, connect_s } = await openMany(args.conns, handlers);
  if (!sessions.length) return emit({ error: 'no client connected', failed, rss_before_kib: rssBefore });
  await sleep(2000);
  const rssAfter = serverRssKiB();
  const opened = sessions.length;
  const hs = sessions[0].hs || {};
  const pingInterval = hs.pingInterval || 5000;
  const holdMs = args['hold-intervals'] * pingInterval + 1000;
  const pingsBefore = sessions.map((s) => s.pings);
  await sleep(holdMs);
  const alive = sessions.filter((s) => !s.closed && s.connected && s.ws.isOpen);
  const pinged = sessions.map((s, i) => s.pings - pingsBefore[i]);
  // every survivor still served: one "message" each, all answered within 10 s
  const hello = textFrame('42["message","x"]');
  for (const s of alive) s.ws.send(hello);
  const dl = now() + 10000;
  while (answered < alive.length && now() < dl) await sleep(20);
  const rssEnd = serverRssKiB();
  const usage = cpu.stop();
  closeAll(sessions);
  return emit({
    metric: 'kib_per_client', unit: 'KiB/client',
    rate: round1((rssAfter - rssBefore) / opened),
    rss_before_kib: rssBefore, rss_after_kib: rssAfter, rss_end_kib: rssEnd,
    sessions: opened, failed_connects: failed, connect_s, open_rate_per_s: round1(opened / connect_s),
    hold_ms: holdMs, ping_interval_ms: pingInterval, ping_timeout_ms: hs.pingTimeout || null,
    survived: alive.length, answered_after_hold: answered,
    min_pings_in_hold: Math.min(...pinged), max_pings_in_hold: Math.max(...pinged),
    server_alive: serverAlive(), ...usage,
  });
}

// ------------------------------------------------------------ main
const SCENARIOS = {
  emit_echo: emitEcho, emit_ack: emitAck, broadcast, handshakes_ws: handshakesWs,
  handshakes_polling: handshakesPolling, idle_memory: idleMemory,
};
(async () => {
  const fn = SCENARIOS[args.scenario];
  if (!fn) { emit({ error: 'unknown scenario ' + args.scenario }); process.exit(2); }
  try { await fn(); } catch (e) { emit({ error: String(e && e.stack || e) }); process.exitCode = 1; }
  setTimeout(() => process.exit(process.exitCode || 0), 200);
})();
