import test from 'ava';
import { ClusterError } from '../../cluster/errors.js';
import { PoolFollower, type Held, type PoolFollowerOptions, type PoolUpdate } from '../../cluster/follower.js';
import { PoolWriter } from '../../cluster/writer.js';
import type { Pool } from '../../config/pool.js';
import { RedisServer } from '../../scripts/lab/redis.js';
import {
  backend, connectorTo, fastTuning, LogCapture, startRedis, waitFor, webPool, type TestContext, poolDoc } from './support.js';

/** What a daemon does with the follower: holds a pool and its version, applies what it is handed. */
class Owner {
  held: Held;
  readonly updates: PoolUpdate[] = [];
  /** Set to refuse what the follower hands over, as a daemon whose planner rejects a pool would. */
  refuse?: Error;

  constructor(pool: Pool, version = 0) {
    this.held = { pool, version };
  }

  onPool = (update: PoolUpdate): void => {
    if (this.refuse) throw this.refuse;
    this.updates.push(update);
    this.held = { pool: update.pool, version: update.version };
  };
}

interface Started {
  follower: PoolFollower;
  logs: LogCapture;
}

function follow(t: TestContext, server: RedisServer, owner: Owner, over: Partial<PoolFollowerOptions> & { blockMs?: number }
  = {}): Started {
  const logs = new LogCapture();
  const { blockMs, ...rest } = over;
  const follower = new PoolFollower({
    connector: connectorTo(server, 'lb-b', fastTuning(blockMs)), keyPrefix: 'xlb', nodeId: 'lb-b',
    held: () => owner.held, onPool: owner.onPool, logger: logs.logger, ...rest,
  });
  follower.start();
  t.teardown(async () => {
    await follower.stop();
    if (!t.passed) t.log(logs.text());
  });
  return { follower, logs };
}

async function writerOn(t: TestContext, server: RedisServer): Promise<PoolWriter> {
  const writer = new PoolWriter({ connector: connectorTo(server, 'lb-a'), keyPrefix: 'xlb', nodeId: 'lb-a', logger: new LogCapture().logger });
  t.teardown(() => writer.close());
  await waitFor('the writer to connect', () => writer.connected);
  return writer;
}

const addBackend = (host: number) => (pool: Pool): Pool => ({
  ...pool,
  services: pool.services.map((s) => ({ ...s, backends: [...s.backends, backend(`198.18.1.${host}`, 8080)] })),
});

/** A change made by hand with redis-cli: the document and the version, and nothing else unless asked. */
async function handEdit(server: RedisServer, document: string, extra: string[][] = []): Promise<void> {
  await server.must('SET', 'xlb:pool', document);
  await server.must('INCR', 'xlb:pool:version');
  for (const command of extra) await server.must(...command);
}

test('a node seeds an empty Redis with its file\'s pool; a node that finds a pool there takes it', async (t) => {
  const server = await startRedis(t);
  const a = new Owner(webPool(11));
  const { follower, logs } = follow(t, server, a);
  await waitFor('the seed', () => a.updates.length === 1);
  t.deepEqual(a.updates, [{ pool: webPool(11), version: 1, source: 'seeded' }]);
  t.is(await server.must('GET', 'xlb:pool:version'), '1');
  t.deepEqual(JSON.parse(await server.must('GET', 'xlb:pool')), poolDoc(webPool(11)));
  t.is(logs.matching(/Redis held no pool: seeded it with the pool of its config file/).length, 1);
  await waitFor('synced', () => follower.status().state === 'synced');

  const b = new Owner(webPool(99));
  follow(t, server, b);
  await waitFor('B to take the pool in Redis', () => b.updates.length === 1);
  t.like(b.updates, [{ pool: webPool(11), version: 1, source: 'redis' }]);
  t.is(b.updates.length, 1);
  t.is(await server.must('GET', 'xlb:pool:version'), '1', 'Redis wins over the file');
});

test('a change written by another node reaches the follower', async (t) => {
  const server = await startRedis(t);
  const owner = new Owner(webPool(11));
  const { follower } = follow(t, server, owner);
  await waitFor('the seed', () => owner.held.version === 1);
  const writer = await writerOn(t, server);
  const started = Date.now();
  const { version } = await writer.edit({ kind: 'backend add' }, addBackend(12));
  await follower.reached(version, 5000);
  t.log(`change to callback: ${Date.now() - started} ms`);
  t.deepEqual(owner.held, { pool: webPool(11, 12), version: 2 });
  t.like(follower.status(), { state: 'synced', version: 2, redisVersion: 2, retries: 0 });
  // When the change was written, by the Redis server's clock (the same host's here).
  const { changedAt } = owner.updates[1]!;
  t.true(changedAt !== undefined && changedAt >= started - 1000 && changedAt <= Date.now() + 1000, String(changedAt));
  // A hand edit that adds no change record has no such time.
  await server.must('INCR', 'xlb:pool:version');
  await server.must('PUBLISH', 'xlb:pool:nudge', '3');
  await waitFor('the hand edit', () => owner.held.version === 3);
  t.is(owner.updates[2]!.changedAt, undefined);
  await t.throwsAsync(follower.reached(9, 200), { message: /pool version 9 not applied within 200 ms \(holding 3/ });
  await t.notThrowsAsync(follower.reached(2, 0));
});

test('a hand edit that only publishes a nudge is read at once; one that does not is read by the periodic check',
  async (t) => {
    const server = await startRedis(t);
    // A block far longer than the wait: only the nudge can bring this change in time.
    const slow = new Owner(webPool(11));
    follow(t, server, slow, { blockMs: 60_000 });
    await waitFor('the seed', () => slow.held.version === 1);
    await handEdit(server, JSON.stringify(poolDoc(webPool(12))), [['PUBLISH', 'xlb:pool:nudge', '2']]);
    await waitFor('the nudged change', () => slow.held.version === 2, 10_000);
    t.deepEqual(slow.held.pool, webPool(12));

    const periodic = new Owner(webPool(99));
    const { follower } = follow(t, server, periodic, { blockMs: 300 });
    await waitFor('the pool', () => periodic.held.version === 2);
    await handEdit(server, JSON.stringify(poolDoc(webPool(13))));
    await waitFor('the periodic check', () => periodic.held.version === 3, 10_000);
    t.deepEqual(periodic.held.pool, webPool(13));
    t.is(follower.status().state, 'synced');
  });

test('Redis stopped: edits fail at once, the follower logs once and retries, then resyncs with what changed meanwhile',
  async (t) => {
    const server = await startRedis(t, { persist: true });
    const owner = new Owner(webPool(11));
    const { follower, logs } = follow(t, server, owner);
    await waitFor('the seed', () => owner.held.version === 1);
    const writer = await writerOn(t, server);

    await server.stop();
    const edit = await t.throwsAsync(writer.edit({ kind: 'backend add' }, addBackend(12)), { instanceOf: ClusterError });
    t.is(edit?.code, 'XLB_REDIS_UNAVAILABLE');
    await waitFor('several reconnect attempts', () => follower.status().retries >= 4);
    t.like(follower.status(), { state: 'disconnected', version: 1 });
    t.regex(follower.status().error ?? '', /ECONNREFUSED/);
    t.is(logs.matching(/unreachable/).length, 1, 'logged once, not per retry');
    t.deepEqual(owner.held, { pool: webPool(11), version: 1 }, 'the node keeps its pool');

    // Meanwhile, someone changes the pool straight in Redis (the same data, served on another port for the moment).
    const elsewhere = await RedisServer.start({ dir: server.dir, persist: true });
    await handEdit(elsewhere, JSON.stringify(poolDoc(webPool(11, 13))));
    await elsewhere.stop();

    await server.start();
    await waitFor('the resync', () => owner.held.version === 2, 10_000);
    t.deepEqual(owner.held.pool, webPool(11, 13));
    t.is(follower.status().state, 'synced');
    t.truthy(follower.status().connectedSince);
    t.is(logs.matching(/unreachable/).length, 1);
    t.is(logs.matching(/following Redis at/).length, 2, 'once at the start, once back');
    await waitFor('the writer to reconnect', () => writer.connected);
    t.deepEqual((await writer.edit({ kind: 'backend add' }, addBackend(14))).version, 3);
    await waitFor('the next change', () => owner.held.version === 3);
  });

test('Redis back empty: it is re-seeded with the newest pool the node holds, not its file\'s', async (t) => {
  const server = await startRedis(t);
  const owner = new Owner(webPool(11));
  const { follower, logs } = follow(t, server, owner);
  await waitFor('the seed', () => owner.held.version === 1);
  const writer = await writerOn(t, server);
  await writer.edit({ kind: 'backend add' }, addBackend(12));
  await writer.edit({ kind: 'backend add' }, addBackend(13));
  await waitFor('the edits', () => owner.held.version === 3);

  await server.stop();
  await waitFor('the outage', () => follower.status().state === 'disconnected');
  await server.start();
  await waitFor('the re-seed', async () => (await server.cli('GET', 'xlb:pool:version')).stdout.trim() === '3');
  t.deepEqual(JSON.parse(await server.must('GET', 'xlb:pool')), poolDoc(webPool(11, 12, 13)));
  // It came back empty: the stream holds the seed alone.
  t.deepEqual((await server.must('XRANGE', 'xlb:pool:changes', '-', '+')).split('\n').slice(1),
    ['version', '3', 'node', 'lb-b', 'kind', 'seed', 'detail', 'the pool it held at version 3']);
  t.is(logs.matching(/Redis held no pool: seeded it with the pool it held at version 3/).length, 1);
  t.deepEqual(owner.updates.map((u) => u.version), [1, 2, 3], 'nothing handed over: the node has that pool');
  await waitFor('synced', () => follower.status().state === 'synced');
  await waitFor('the writer to reconnect', () => writer.connected);
  t.deepEqual(await writer.edit({ kind: 'backend add' }, addBackend(14)).then((w) => w.version), 4);
  await waitFor('the next edit', () => owner.held.version === 4);
});

test('of two nodes seeding an emptied Redis, the newer pool wins over a file\'s', async (t) => {
  const server = await startRedis(t);
  const fresh = new Owner(webPool(11));
  follow(t, server, fresh);
  await waitFor('the file\'s seed', () => fresh.held.version === 1);
  // A node that held version 5 before Redis lost everything comes back after the fresh one seeded.
  const returning = new Owner(webPool(11, 12, 13), 5);
  follow(t, server, returning);
  await waitFor('the newer pool to reach the fresh node', () => fresh.held.version === 5);
  t.deepEqual(fresh.held.pool, webPool(11, 12, 13));
  t.deepEqual(returning.updates, []);
  t.is(await server.must('GET', 'xlb:pool:version'), '5');
});

test('a malformed pool written with redis-cli is refused with the key and path named; the last good pool stays',
  async (t) => {
    const server = await startRedis(t);
    const owner = new Owner(webPool(11));
    const { follower, logs } = follow(t, server, owner, { blockMs: 300 });
    await waitFor('the seed', () => owner.held.version === 1);
    const bad = JSON.stringify({ services: [{ name: 'web', vip: '198.18.100.10', protocol: 'tcp', port: 80,
      backends: [{ address: '198.18.1.300', port: 8080 }] }], deny: [] });
    await handEdit(server, bad, [['PUBLISH', 'xlb:pool:nudge', '2']]);
    await waitFor('the refusal', () => follower.status().state === 'refused');
    t.deepEqual(follower.status().refused, { key: 'xlb:pool', version: 2,
      problems: [{ path: 'services[0].backends[0].address', message: '"198.18.1.300" is not an IPv4 address' }] });
    t.deepEqual(owner.held, { pool: webPool(11), version: 1 });
    // Several periodic checks later, still one line.
    const checked = follower.status().syncedAt!;
    await waitFor('two more checks', () => follower.status().syncedAt! > checked + 300);
    const refusals = logs.matching(/refusing the pool in Redis/);
    t.is(refusals.length, 1);
    t.regex(String(refusals[0]!.msg), /xlb:pool \(version 2\): 1 problem\n {2}services\[0\]\.backends\[0\]\.address: /);
    t.like(refusals[0], { key: 'xlb:pool', version: 2 });

    // Another version's layout: a hash where the document should be.
    await server.must('DEL', 'xlb:pool');
    await server.must('HSET', 'xlb:pool', 'services', '[]');
    await server.must('INCR', 'xlb:pool:version');
    await waitFor('the second refusal', () => follower.status().refused?.version === 3);
    t.deepEqual(follower.status().refused?.problems, [{ path: '', message: 'holds a hash, not a JSON document' }]);
    t.is(logs.matching(/refusing the pool in Redis/).length, 2);

    const writer = await writerOn(t, server);
    await writer.replace(webPool(12));
    await waitFor('the good pool', () => owner.held.version === 4);
    t.deepEqual(owner.held.pool, webPool(12));
    t.is(follower.status().state, 'synced');
  });

test('a pool its owner refuses leaves the follower refused until the next change', async (t) => {
  const server = await startRedis(t);
  const owner = new Owner(webPool(11));
  const { follower, logs } = follow(t, server, owner);
  await waitFor('the seed', () => owner.held.version === 1);
  owner.refuse = Object.assign(new Error('256 services is the most the data plane holds'), {
    problems: [{ path: 'services', message: 'too many' }] });
  const writer = await writerOn(t, server);
  await writer.edit({ kind: 'backend add' }, addBackend(12));
  await waitFor('the refusal', () => follower.status().state === 'refused');
  t.deepEqual(follower.status().refused, { key: 'xlb:pool', version: 2, problems: [{ path: 'services', message: 'too many' }] });
  t.is(owner.held.version, 1);
  t.is(logs.matching(/refusing the pool in Redis/).length, 1);
  owner.refuse = undefined;
  await writer.edit({ kind: 'backend add' }, addBackend(13));
  await waitFor('the next change', () => owner.held.version === 3);
  t.is(follower.status().state, 'synced');
});

test('stop() ends following and closes the connections', async (t) => {
  const server = await startRedis(t);
  const owner = new Owner(webPool(11));
  const { follower } = follow(t, server, owner);
  await waitFor('synced', () => follower.status().state === 'synced');
  const clients = () => server.must('CLIENT', 'LIST').then((l) => l.split('\n').filter((c) => /name=xlb:lb-b:/.test(c)).length);
  await waitFor('three connections: commands, follow, nudge', async () => (await clients()) === 3);
  const waiting = follower.reached(99, 60_000);
  await follower.stop();
  await t.throwsAsync(waiting, { message: 'stopped following Redis' });
  t.is(follower.status().state, 'stopped');
  await waitFor('the connections to close', async () => (await clients()) === 0);
  await server.must('SET', 'xlb:pool:version', '9');
  t.is(owner.held.version, 1);
});
