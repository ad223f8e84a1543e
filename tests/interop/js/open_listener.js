// Opens `count` WebSocket-only EIO 3 sessions with node's `ws`, the way the official
// engine.io-protocol v3 suite does: the 'message' listener is attached only once
// 'open' has fired. Prints {"first": [...]}: the first message of each connection,
// or null when none came within `wait_ms` (the open packet was emitted with 'open').
// usage: node open_listener.js URL COUNT WAIT_MS
"use strict";
const { WebSocket } = require("ws");

const [url, count, waitMs] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];

function waitFor(socket, event, ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), ms);
    socket.addEventListener(event, (e) => { clearTimeout(timer); resolve(e); }, { once: true });
  });
}

(async () => {
  const first = [];
  for (let i = 0; i < count; i++) {
    const socket = new WebSocket(url);
    const opened = await waitFor(socket, "open", 5000);
    const message = opened && await waitFor(socket, "message", waitMs);
    first.push(message ? String(message.data) : null);
    socket.close();
  }
  console.log(JSON.stringify({ first }));
})();
