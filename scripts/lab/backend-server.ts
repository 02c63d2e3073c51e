// A lab backend: a tiny HTTP server (and optional UDP echo) that says which backend answered. Run inside a backend's
// namespace by ./lab.ts:
//   node dist/scripts/lab/backend-server.js --name b1 --http 8080 [--udp 5353]
// HTTP:  GET /          -> 200 "b1\n" (text/plain), header X-Backend: b1 (on every response)
//        GET /healthz   -> 200 "ok"
//        GET /slow?ms=N -> waits N ms (at most 60 s), then 200 "b1\n"
//        anything else  -> 404
// UDP:   echoes each datagram back as "b1 " + payload.
// Prints "ready" on stdout once every listener is bound; exits 0 on SIGTERM/SIGINT.
import { createSocket } from 'node:dgram';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    name: { type: 'string' },
    http: { type: 'string', default: '8080' },
    udp: { type: 'string' },
    host: { type: 'string', default: '0.0.0.0' },
  },
});

const name = values.name;
if (!name) {
  process.stderr.write('usage: backend-server --name NAME [--http PORT] [--udp PORT] [--host ADDR]\n');
  process.exit(2);
}

function port(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    process.stderr.write(`backend-server: bad port ${text}\n`);
    process.exit(2);
  }
  return n;
}

const http = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://backend');
  res.setHeader('X-Backend', name);
  res.setHeader('Content-Type', 'text/plain');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405).end('method not allowed\n');
  } else if (url.pathname === '/') {
    res.writeHead(200).end(`${name}\n`);
  } else if (url.pathname === '/healthz') {
    res.writeHead(200).end('ok');
  } else if (url.pathname === '/slow') {
    const ms = Math.min(Math.max(Number(url.searchParams.get('ms')) || 0, 0), 60_000);
    const timer = setTimeout(() => res.writeHead(200).end(`${name}\n`), ms);
    res.on('close', () => clearTimeout(timer));
  } else {
    res.writeHead(404).end('not found\n');
  }
});

// Node closes a keep-alive connection after 5 s idle by default; a test that holds one across a slow step (an lbctl
// call on a loaded machine) must find it still open, or it would see a new connection's pick instead.
http.keepAliveTimeout = 10 * 60_000;

const listening: Promise<void>[] = [
  new Promise((resolve, reject) => {
    http.once('error', reject);
    http.listen(port(values.http!), values.host, () => resolve());
  }),
];

if (values.udp !== undefined) {
  const udp = createSocket('udp4');
  udp.on('message', (msg, rinfo) => {
    udp.send(Buffer.concat([Buffer.from(`${name} `), msg]), rinfo.port, rinfo.address);
  });
  listening.push(new Promise((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(port(values.udp!), values.host, () => resolve());
  }));
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => process.exit(0));

Promise.all(listening).then(
  () => process.stdout.write('ready\n'),
  (err: Error) => {
    process.stderr.write(`backend-server ${name}: ${err.message}\n`);
    process.exit(1);
  },
);
