// ControlClient's timeouts against a fake daemon: an edit that outlasts the timeout is settled by its request id
// (cancelled: "not applied"; applied: its result; failed: the daemon's error; no answer at all: "may or may not"),
// and a read that times out is just a timeout.
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RequestOutcome } from '../../lb/control/api.js';
import { ControlClient } from '../../lb/cli/client.js';

interface Seen {
  method: string;
  url: string;
  id?: string;
}

/** A fake daemon that never answers edits and answers /requests/ID with `outcomes` in turn (null: never answers). */
async function fake(t: { teardown(fn: () => Promise<void>): void }, outcomes: (Omit<RequestOutcome, 'id'> | null)[]): Promise<{ socket: string; seen: Seen[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'xlb-client-'));
  const socket = join(dir, 'xlb.sock');
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const id = req.headers['x-request-id'];
    seen.push({ method: req.method!, url: req.url!, ...(typeof id === 'string' ? { id } : {}) });
    req.resume();
    if (!req.url!.startsWith('/requests/')) return; // the edit, or GET /status: no answer
    const next = outcomes.shift();
    if (next === null || next === undefined) return;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: req.url!.slice('/requests/'.length), ...next }));
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  t.teardown(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });
  return { socket, seen };
}

const EDIT = { service: 'web', address: '198.18.1.13', port: 8080 };
const RESULT = { writes: 5, services: 2, backends: 7 };

test('an edit still queued at the timeout is cancelled by its id and reported not applied', async (t) => {
  const f = await fake(t, [{ state: 'cancelled' }]);
  const client = new ControlClient(f.socket, { timeoutMs: 300 });
  const err = await t.throwsAsync(client.call('POST /backends', EDIT), { code: 'XLB_DAEMON_TIMEOUT' });
  t.is(err?.message, `the xlb daemon at ${f.socket} did not answer POST /backends within 0.3s: the change was not applied ` +
    '(it was still queued behind other changes, and is cancelled)');
  t.is(f.seen.length, 2);
  const [post, cancel] = f.seen as [Seen, Seen];
  t.like(post, { method: 'POST', url: '/backends' });
  t.regex(post.id ?? '', /^[A-Za-z0-9_-]{1,64}$/);
  t.deepEqual(cancel, { method: 'DELETE', url: `/requests/${post.id}` });
});

test('an edit being applied at the timeout is waited for: its result, as if it had answered', async (t) => {
  const f = await fake(t, [{ state: 'applying' }, { state: 'applying' }, { state: 'applied', result: RESULT }]);
  const client = new ControlClient(f.socket, { timeoutMs: 300 });
  t.deepEqual(await client.call('POST /backends', EDIT), RESULT);
  t.deepEqual(f.seen.map((s) => s.method), ['POST', 'DELETE', 'GET', 'GET']);
});

test('an edit that failed after the timeout reports the daemon\'s error', async (t) => {
  const f = await fake(t, [{ state: 'failed', error: { error: 'no service "web"', code: 'XLB_NOT_FOUND' } }]);
  const client = new ControlClient(f.socket, { timeoutMs: 300 });
  await t.throwsAsync(client.call('POST /backends', EDIT), { code: 'XLB_NOT_FOUND', message: 'no service "web"' });
});

test('a daemon that cannot even be asked: the change may or may not be applied, and lbctl says so', async (t) => {
  const f = await fake(t, [null]);
  const client = new ControlClient(f.socket, { timeoutMs: 300 });
  const err = await t.throwsAsync(client.call('DELETE /deny', { cidr: '10.0.0.0/8' }), { code: 'XLB_DAEMON_TIMEOUT' });
  t.regex(err?.message ?? '', /did not answer DELETE \/deny within 0\.3s, nor whether it made the change \(.*\): it may or may not be applied; see lbctl status$/);
});

test('a read that times out is a plain timeout: no request id, nothing to settle', async (t) => {
  const f = await fake(t, []);
  const client = new ControlClient(f.socket, { timeoutMs: 300 });
  await t.throwsAsync(client.call('GET /status', undefined), {
    code: 'XLB_DAEMON_TIMEOUT', message: `the xlb daemon at ${f.socket} did not answer GET /status within 0.3s`,
  });
  t.deepEqual(f.seen, [{ method: 'GET', url: '/status' }]);
});
