'use strict';
// node socket.io 4: the anchor of the Socket.IO benchmark (benchmarks/socketio_compare.py).
// The app of the official socket.io-protocol test suite's reference server, as
// benchmarks/socketio_serve.py serves it with python-socketio, plus its broadcast event:
//   connect on "/" or "/custom"  -> emits "auth" with the handshake's auth
//   "message" (...args)           -> "message-back" (...args) to the sender
//   "message-with-ack" (...args)  -> acked with the same args
//   "broadcast" (...args)         -> "broadcast" (...args) to every client of "/"
// Settings from the environment as ../shared/bench/CONTRACT.md (EIO_PING_INTERVAL,
// EIO_PING_TIMEOUT in ms, EIO_MAX_PAYLOAD bytes; the suite's 300 / 200 / 1000000 by
// default); connectTimeout 1000 ms, CORS any origin. Usage: node server.js PORT
const http = require('http');
const { Server } = require('socket.io');

const port = Number(process.argv[2] || process.env.PORT || 3000);
const env = (name, dflt) => Number(process.env[name] || dflt);

const httpServer = http.createServer();
const io = new Server(httpServer, {
  pingInterval: env('EIO_PING_INTERVAL', 300),
  pingTimeout: env('EIO_PING_TIMEOUT', 200),
  maxHttpBufferSize: env('EIO_MAX_PAYLOAD', 1000000),
  connectTimeout: 1000,
  cors: { origin: '*' },
});

function app(nsp) {
  nsp.on('connection', (socket) => {
    socket.emit('auth', socket.handshake.auth);
    socket.on('message', (...args) => { socket.emit('message-back', ...args); });
    socket.on('message-with-ack', (...args) => {
      const ack = args.pop();
      if (typeof ack === 'function') ack(...args);
    });
    socket.on('broadcast', (...args) => { nsp.emit('broadcast', ...args); });
  });
}
app(io.of('/'));
app(io.of('/custom'));

httpServer.listen(port, '127.0.0.1', 1024);
process.on('SIGTERM', () => { io.close(); process.exit(0); });
