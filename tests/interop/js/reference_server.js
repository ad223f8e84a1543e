'use strict';
// The JS reference for the interop suite: npm engine.io 6 (allowEIO3) serving
// the bench contract (/work/shared/bench/CONTRACT.md): echo, cmd:broadcast:X,
// cmd:count, cmd:close. Settings from EIO_PING_INTERVAL / EIO_PING_TIMEOUT (ms)
// and EIO_MAX_PAYLOAD (bytes). Usage: node reference_server.js PORT
const http = require('http');
const { Server } = require('engine.io');

function setting(name, fallback) {
  const raw = process.env[name];
  return raw === undefined || raw === '' ? fallback : Number(raw);
}

const port = Number(process.argv[2] || process.env.PORT);
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('usage: node reference_server.js PORT\n');
  process.exit(2);
}

const httpServer = http.createServer();
const engine = new Server({
  path: '/engine.io/',
  pingInterval: setting('EIO_PING_INTERVAL', 25000),
  pingTimeout: setting('EIO_PING_TIMEOUT', 20000),
  maxHttpBufferSize: setting('EIO_MAX_PAYLOAD', 1000000),
  allowEIO3: true,
  cors: { origin: '*' },
});
engine.attach(httpServer);

const BROADCAST = 'cmd:broadcast:';

engine.on('connection', (socket) => {
  socket.on('message', (data) => {
    if (typeof data !== 'string' || !data.startsWith('cmd:')) {
      socket.send(data);
    } else if (data.startsWith(BROADCAST)) {
      const text = data.slice(BROADCAST.length);
      for (const sid of Object.keys(engine.clients)) engine.clients[sid].send(text);
    } else if (data === 'cmd:count') {
      socket.send(`count:${engine.clientsCount}`);
    } else if (data === 'cmd:close') {
      socket.close();
    } else {
      socket.send(data);
    }
  });
});

httpServer.listen(port, '127.0.0.1', 1024);
const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
