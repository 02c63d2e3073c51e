// Edits behind a deep queue: a client that gives up can always tell whether its change was made. lbctl --timeout
// cancels an edit not begun (and says "not applied"), a client that goes away takes its queued edit with it, and
// outcomes are asked for by request id.
import test from 'ava';
import { setMaxListeners } from 'node:events';
import http from 'node:http';
import type { RequestOutcome, Status } from '../../lb/control/api.js';
import { webService, XlbNode } from '../support/daemon.js';

interface Answer {
  status: number;
  body: unknown;
  /** Date.now() when the answer arrived. */
  at: number;
}

/** One request on the control socket; `id` goes in x-request-id; `signal` lets the test walk away. */
function request(socket: string, method: string, path: string, body?: unknown, id?: string, signal?: AbortSignal): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: http.OutgoingHttpHeaders = payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) };
    if (id) headers['x-request-id'] = id;
    const req = http.request({ socketPath: socket, method, path, headers, agent: false, signal }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () =>
        resolve({ status: res.statusCode!, body: text ? JSON.parse(text) as unknown : undefined, at: Date.now() }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** A service whose backends are never probed (the test is about the queue, not health), with a Maglev table. */
function config(node: XlbNode) {
  return node.config({ services: [webService(node.lab.addresses.backends, { health: { type: 'none' } })] });
}

const DEPTH = 300;

test('behind a deep queue, lbctl --timeout reports "not applied", and the change is never made', async (t) => {
  t.timeout(180_000);
  const node = await XlbNode.create(t);
  await node.start(config(node));
  const [b1, b2] = node.lab.addresses.backends as [string, string];
  // Each add changes the service's Maglev table: a few tens of ms of planning and map writes, one after the other.
  const flood = Array.from({ length: DEPTH }, (_, i) =>
    request(node.socket, 'POST', '/backends', { service: 'web', address: b1, port: 9000 + i }));
  const r = await node.lbctl(['backend', 'add', 'web', `${b2}:8999`, '--timeout', '1']);
  const gaveUp = Date.now();
  const answers = await Promise.all(flood);
  const drained = Math.max(...answers.map((a) => a.at));
  t.log(`lbctl gave up ${drained - gaveUp} ms before the queue drained`);
  t.true(drained > gaveUp, 'the queue was deeper than lbctl waited (else the test proves nothing)');

  t.is(r.code, 1, r.stdout + r.stderr);
  t.is(r.stdout, '');
  t.regex(r.stderr, /^lbctl: the xlb daemon at \S+ did not answer POST \/backends within 1s: the change was not applied \(it was still queued behind other changes, and is cancelled\)$/m);
  t.deepEqual(answers.map((a) => a.status), answers.map(() => 200), 'the flood itself was applied');
  const s = await node.status();
  const web = s.services.find((v) => v.name === 'web')!;
  t.is(web.backends.length, 3 + DEPTH);
  t.false(web.backends.some((b) => b.port === 8999), 'the cancelled backend never appeared');

  // The same edit with time enough is applied.
  const ok = await node.lbctl(['backend', 'add', 'web', `${b2}:8999`, '--timeout', '60']);
  t.is(ok.code, 0, ok.stderr);
  t.true((await node.status()).services[0]!.backends.some((b) => b.port === 8999));
});

test('a client that goes away takes its queued edit with it; ids tell every outcome', async (t) => {
  t.timeout(180_000);
  const node = await XlbNode.create(t);
  await node.start(config(node));
  const b1 = node.lab.addresses.backends[0]!;
  const prefix = `t${Date.now().toString(36)}`;
  const walkAway = new AbortController();
  setMaxListeners(DEPTH, walkAway.signal);
  const flood = Array.from({ length: DEPTH }, (_, i) => {
    // The last 50 walk away while (most likely) still queued.
    const signal = i >= DEPTH - 50 ? walkAway.signal : undefined;
    return request(node.socket, 'POST', '/backends', { service: 'web', address: b1, port: 9000 + i }, `${prefix}-${i}`, signal)
      .catch((err: Error) => ({ status: 0, body: err.name, at: Date.now() }));
  });
  // One more, cancelled by id while it waits; and an id cancelled before its edit is even sent.
  const byId = request(node.socket, 'POST', '/backends', { service: 'web', address: b1, port: 8998 }, `${prefix}-by-id`);
  await new Promise((r) => setTimeout(r, 200));
  walkAway.abort();
  const cancel = await request(node.socket, 'DELETE', `/requests/${prefix}-by-id`);
  t.is(cancel.status, 200);
  const early = await request(node.socket, 'DELETE', `/requests/${prefix}-early`);
  t.deepEqual(early.body, { id: `${prefix}-early`, state: 'cancelled' });
  const late = await request(node.socket, 'POST', '/backends', { service: 'web', address: b1, port: 8997 }, `${prefix}-early`);
  t.is(late.status, 409);
  t.like(late.body, { code: 'XLB_CANCELLED' });

  await Promise.all(flood);
  const answered = await byId;
  const outcome = (cancel.body as RequestOutcome).state;
  if (outcome === 'cancelled') {
    t.is(answered.status, 409);
    t.like(answered.body, { code: 'XLB_CANCELLED' });
  } else {
    t.is(answered.status, 200, `cancelled too late (${outcome}): it was applied`);
  }

  const s: Status = await node.status();
  const ports = new Set(s.services[0]!.backends.map((b) => b.port));
  let notApplied = 0;
  for (let i = 0; i < DEPTH; i++) {
    const r = await request(node.socket, 'GET', `/requests/${prefix}-${i}`);
    const walkedAway = i >= DEPTH - 50;
    // A client that walked away before its request was even read leaves nothing: a 404, and no change.
    const o = r.status === 404 && walkedAway ? { state: 'never arrived' } : r.body as RequestOutcome;
    t.true(r.status === 200 || o.state === 'never arrived', `${i}: ${r.status} ${JSON.stringify(r.body)}`);
    if (o.state !== 'applied') notApplied++;
    t.true(o.state === 'applied' || (walkedAway && (o.state === 'cancelled' || o.state === 'never arrived')), `${i}: ${o.state}`);
    // Whatever the outcome says is what happened.
    t.is(ports.has(9000 + i), o.state === 'applied', `${i}: ${o.state}`);
    if (o.state === 'applied') t.like((o as RequestOutcome).result, { services: 1 });
  }
  t.true(notApplied > 0, 'some edits were still queued when their clients went away (else the test proves nothing)');
  t.is(ports.has(8998), outcome !== 'cancelled');
  t.false(ports.has(8997));
  const unknown = await request(node.socket, 'GET', `/requests/${prefix}-nobody`);
  t.is(unknown.status, 404);
  for (const bad of ['%zz', 'a%20b', '']) {
    const r = await request(node.socket, 'DELETE', `/requests/${bad}`);
    t.is(r.status, 400, bad);
    t.like(r.body, { code: 'XLB_BAD_REQUEST' });
  }
});
