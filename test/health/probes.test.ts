// Real sockets on 127.0.0.1 only: nothing here sends a packet off the machine. ICMP against real addresses in network
// namespaces (replies, timeouts, ICMP errors, many at once, aborts and fds) is in icmp.test.ts.
import http from 'node:http';
import net from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { HealthCheckError, probe, probeSockets } from '../../lb/health/probes.js';
import type { HealthCheck } from '../../config/pool.js';

const LOCAL = '127.0.0.1';
/** Generous: only says "it did end, long before a hang would"; timings on a loaded CI box are not asserted tightly. */
const MARGIN_MS = 3000;

function check(over: Partial<HealthCheck>): HealthCheck {
  return { type: 'tcp', intervalMs: 1000, timeoutMs: 1000, rise: 1, fall: 1, ...over };
}

async function listen(t: ExecutionContext, server: net.Server): Promise<number> {
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOCAL, resolve);
  });
  return (server.address() as net.AddressInfo).port;
}

/** A port on 127.0.0.1 that nothing listens on (it just did, and was closed). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, LOCAL, resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface Seen {
  method: string | undefined;
  url: string | undefined;
  userAgent: string | undefined;
}

async function httpServer(t: ExecutionContext, answer: (res: http.ServerResponse) => void): Promise<{ port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method, url: req.url, userAgent: req.headers['user-agent'] });
    answer(res);
  });
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  t.teardown(() => {
    for (const s of sockets) s.destroy();
  });
  return { port: await listen(t, server), seen };
}

test('tcp: a listening port is up', async (t) => {
  const port = await listen(t, net.createServer((s) => s.resume().end()));
  t.deepEqual(await probe(check({ type: 'tcp' }), LOCAL, port), { ok: true, detail: 'connected' });
});

test('tcp: check.port wins over the backend port', async (t) => {
  const port = await listen(t, net.createServer((s) => s.resume().end()));
  const closed = await closedPort();
  t.true((await probe(check({ type: 'tcp', port }), LOCAL, closed)).ok);
  t.false((await probe(check({ type: 'tcp', port: closed }), LOCAL, port)).ok);
});

test('tcp: a closed port is down, connection refused', async (t) => {
  const result = await probe(check({ type: 'tcp' }), LOCAL, await closedPort());
  t.deepEqual(result, { ok: false, detail: 'connect ECONNREFUSED' });
});

for (const [status, ok, location] of [
  [200, true, undefined],
  [204, true, undefined],
  [302, true, '/elsewhere'],
  [399, true, undefined],
  [404, false, undefined],
  [500, false, undefined],
  [503, false, undefined],
] as const) {
  test(`http: status ${status} is ${ok ? 'up' : 'down'}`, async (t) => {
    const { port } = await httpServer(t, (res) => {
      if (location) res.setHeader('Location', location);
      res.writeHead(status).end('body');
    });
    t.deepEqual(await probe(check({ type: 'http', path: '/healthz' }), LOCAL, port), { ok, detail: `HTTP ${status}` });
  });
}

test('http: sends GET to the path with User-Agent xlb-health', async (t) => {
  const { port, seen } = await httpServer(t, (res) => res.writeHead(200).end());
  await probe(check({ type: 'http', path: '/healthz?deep=1' }), LOCAL, port);
  await probe(check({ type: 'http' }), LOCAL, port);
  t.deepEqual(seen, [
    { method: 'GET', url: '/healthz?deep=1', userAgent: 'xlb-health' },
    { method: 'GET', url: '/', userAgent: 'xlb-health' },
  ]);
});

test('http: a server that never answers is down after the timeout', async (t) => {
  const { port, seen } = await httpServer(t, () => {});
  const started = Date.now();
  const result = await probe(check({ type: 'http', timeoutMs: 300 }), LOCAL, port);
  const took = Date.now() - started;
  t.deepEqual(result, { ok: false, detail: 'timeout after 300ms' });
  t.is(seen.length, 1, 'the request did reach the server');
  t.true(took >= 250 && took < 300 + MARGIN_MS, `took ${took}ms`);
});

test('http: a body that never ends does not hold the probe', async (t) => {
  const { port } = await httpServer(t, (res) => res.writeHead(200).write('partial'));
  const started = Date.now();
  t.deepEqual(await probe(check({ type: 'http', timeoutMs: 5000 }), LOCAL, port), { ok: true, detail: 'HTTP 200' });
  t.true(Date.now() - started < 5000, 'decided on the status line, not at the timeout');
});

test('http: a refused connection is down', async (t) => {
  t.deepEqual(await probe(check({ type: 'http' }), LOCAL, await closedPort()), { ok: false, detail: 'connect ECONNREFUSED' });
});

test('http: a non-HTTP answer is down', async (t) => {
  const port = await listen(t, net.createServer((s) => s.resume().end('SSH-2.0-nope\r\n')));
  const result = await probe(check({ type: 'http' }), LOCAL, port);
  t.false(result.ok);
  t.notRegex(result.detail, /^HTTP /);
});

test('an abort signal ends the probe at once', async (t) => {
  const { port } = await httpServer(t, () => {});
  const controller = new AbortController();
  const started = Date.now();
  setTimeout(() => controller.abort(), 50);
  const result = await probe(check({ type: 'http', timeoutMs: 30_000 }), LOCAL, port, controller.signal);
  t.deepEqual(result, { ok: false, detail: 'aborted' });
  t.true(Date.now() - started < 30_000 - MARGIN_MS);
  t.deepEqual(await probe(check({ type: 'tcp' }), LOCAL, port, controller.signal), { ok: false, detail: 'aborted' });
});

test('none is always up without touching the network', async (t) => {
  t.deepEqual(await probe(check({ type: 'none' }), 'not-even-an-address', undefined), { ok: true, detail: 'no health check' });
});

for (const type of ['tcp', 'http'] as const) {
  test(`${type} without any port is a programming error`, async (t) => {
    const err = await t.throwsAsync(probe(check({ type }), LOCAL, undefined), { instanceOf: HealthCheckError });
    t.is(err?.code, 'XLB_HEALTH_NO_PORT');
  });
}

for (const path of ['healthz', '/a b', '/x\r\nHost: evil']) {
  test(`http path ${JSON.stringify(path)} is refused before any request`, async (t) => {
    const { port, seen } = await httpServer(t, (res) => res.writeHead(200).end());
    const err = await t.throwsAsync(probe(check({ type: 'http', path }), LOCAL, port), { instanceOf: HealthCheckError });
    t.is(err?.code, 'XLB_HEALTH_BAD_CHECK');
    t.deepEqual(seen, []);
  });
}

test('a target that is not an IP address is refused (never sent anything)', async (t) => {
  const err = await t.throwsAsync(probe(check({ type: 'icmp' }), '-f', undefined), { instanceOf: HealthCheckError });
  t.is(err?.code, 'XLB_HEALTH_BAD_ADDRESS');
});

test('icmp: 127.0.0.1 answers', async (t) => {
  t.deepEqual(await probe(check({ type: 'icmp', timeoutMs: 2000 }), LOCAL, undefined), { ok: true, detail: 'echo reply' });
});

test('http: an interim 103 answer is passed over for the final status', async (t) => {
  const { port } = await httpServer(t, (res) => {
    res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
    res.writeHead(503).end();
  });
  t.deepEqual(await probe(check({ type: 'http' }), LOCAL, port), { ok: false, detail: 'HTTP 503' });
});

test('http: a connection closed before any answer is down, and says so', async (t) => {
  const port = await listen(t, net.createServer((s) => s.resume().end()));
  t.deepEqual(await probe(check({ type: 'http' }), LOCAL, port), {
    ok: false,
    detail: 'connection closed before an HTTP status line',
  });
});

// Serial: no other test's probes run meanwhile.
test.serial('probes that ended, aborted or timed out hold no socket', async (t) => {
  const { port } = await httpServer(t, (res) => res.writeHead(200).end());
  const silent = await httpServer(t, () => {});
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 50);
  const results = await Promise.all([
    probe(check({ type: 'http' }), LOCAL, port),
    probe(check({ type: 'tcp' }), LOCAL, port),
    probe(check({ type: 'icmp' }), LOCAL, undefined),
    probe(check({ type: 'http', timeoutMs: 200 }), LOCAL, silent.port),
    probe(check({ type: 'http', timeoutMs: 30_000 }), LOCAL, silent.port, controller.signal),
    probe(check({ type: 'tcp' }), LOCAL, await closedPort()),
  ]);
  t.deepEqual(results.map((r) => r.detail), ['HTTP 200', 'connected', 'echo reply', 'timeout after 200ms', 'aborted',
    'connect ECONNREFUSED']);
  t.deepEqual(probeSockets(), { watched: 0, echoes: 0 });
});
