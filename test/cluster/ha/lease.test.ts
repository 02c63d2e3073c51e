// The pair's lease on a real redis-server: taken at the next epoch, resumed by its own node, renewed, released and
// handed over; taken back at its epoch when Redis lost it and nobody else took it since, never over a newer holder.
import test from 'ava';
import { Lease } from '../../../cluster/ha/lease.js';
import { connectorTo, startRedis, waitFor, type TestContext } from '../support.js';
import type { RedisServer } from '../../../scripts/lab/redis.js';

const LEASE_MS = 60_000;

async function leaseOf(t: TestContext, server: RedisServer, nodeId: string): Promise<Lease> {
  const redis = connectorTo(server, nodeId).connect('commands');
  redis.on('error', () => undefined);
  t.teardown(() => redis.disconnect());
  await waitFor('the connection', () => redis.status === 'ready');
  return new Lease(redis, 'xlb', 'edge-1', nodeId, LEASE_MS);
}

test('taken at the next epoch; the holder resumes and renews it; the peer is refused and told who holds it', async (t) => {
  const server = await startRedis(t);
  const a = await leaseOf(t, server, 'lb-a');
  const b = await leaseOf(t, server, 'lb-b');
  t.deepEqual(await a.acquire(), { ok: true, epoch: 1, resumed: false });
  t.deepEqual(await a.acquire(), { ok: true, epoch: 1, resumed: true });
  t.deepEqual(await b.acquire(), { ok: false, holder: { nodeId: 'lb-a', epoch: 1 }, why: 'held by lb-a at epoch 1' });
  t.deepEqual(await a.renew(1), { ok: true });
  t.deepEqual(await b.renew(1), { ok: false, holder: { nodeId: 'lb-a', epoch: 1 } });
  t.is(await server.must('GET', 'xlb:ha:edge-1:lease'), 'lb-a 1');
});

test('released to the peer: only that peer takes it, at the next epoch; the old holder\'s renewal fails', async (t) => {
  const server = await startRedis(t);
  const a = await leaseOf(t, server, 'lb-a');
  const b = await leaseOf(t, server, 'lb-b');
  const c = await leaseOf(t, server, 'lb-c');
  await a.acquire();
  t.true(await a.release(1, 'lb-b'));
  t.false(await a.release(1), 'released once');
  t.deepEqual(await c.acquire(), { ok: false, why: 'handover to lb-b' });
  t.deepEqual(await a.renew(1), { ok: false }, 'a free lease handed to another node is not taken back');
  t.deepEqual(await b.acquire(), { ok: true, epoch: 2, resumed: false });
  t.deepEqual(await a.renew(1), { ok: false, holder: { nodeId: 'lb-b', epoch: 2 } });
});

test('a Redis that lost every key: the holder\'s renewal takes it back at its epoch, and the counter never falls below it', async (t) => {
  const server = await startRedis(t);
  const a = await leaseOf(t, server, 'lb-a');
  const b = await leaseOf(t, server, 'lb-b');
  await a.acquire();
  await a.release(1);
  t.deepEqual(await b.acquire(), { ok: true, epoch: 2, resumed: false });
  await server.must('FLUSHALL');
  t.deepEqual(await b.renew(2), { ok: true });
  t.is(await server.must('GET', 'xlb:ha:edge-1:lease'), 'lb-b 2');
  t.is(await server.must('GET', 'xlb:ha:edge-1:epoch'), '2');
  t.deepEqual(await a.renew(1), { ok: false, holder: { nodeId: 'lb-b', epoch: 2 } });
  await b.release(2);
  t.deepEqual(await a.renew(1), { ok: false }, 'the epoch went past 1: a stale holder never takes it back');
  t.deepEqual(await a.acquire(), { ok: true, epoch: 3, resumed: false });
});
