import { execFileSync } from 'node:child_process';
import test from 'ava';
import { ClusterError } from '../../cluster/errors.js';
import { PoolWriter, type PoolWriterOptions } from '../../cluster/writer.js';
import { XlbError } from '../../lb/errors.js';
import type { Pool } from '../../config/pool.js';
import type { RedisServer } from '../../scripts/lab/redis.js';
import {
  backend, connectorTo, LogCapture, nthAddress, startRedis, waitFor, webPool, type TestContext, poolDoc } from './support.js';

async function writerOn(t: TestContext, server: RedisServer, nodeId = 'lb-a', over: Partial<PoolWriterOptions> = {}) {
  const writer = new PoolWriter({ connector: connectorTo(server, nodeId), keyPrefix: 'xlb', nodeId,
    logger: new LogCapture().logger, ...over });
  t.teardown(() => writer.close());
  await waitFor('the writer to connect', () => writer.connected);
  return writer;
}

const addBackend = (address: string) => (pool: Pool): Pool => ({
  ...pool,
  services: pool.services.map((s) => (s.name === 'web' ? { ...s, backends: [...s.backends, backend(address, 8080)] } : s)),
});

async function stored(server: RedisServer): Promise<{ version: string; pool: unknown }> {
  return { version: await server.must('GET', 'xlb:pool:version'), pool: JSON.parse(await server.must('GET', 'xlb:pool')) };
}

test('an edit reads the pool, applies the change and writes it with its change record', async (t) => {
  const server = await startRedis(t);
  const writer = await writerOn(t, server);
  t.deepEqual(await writer.replace(webPool(11)), { version: 1, pool: webPool(11) });
  const written = await writer.edit({ kind: 'backend add', detail: 'web 198.18.1.12:8080' }, addBackend('198.18.1.12'));
  t.deepEqual(written, { version: 2, pool: webPool(11, 12) });
  t.deepEqual(await stored(server), { version: '2', pool: poolDoc(webPool(11, 12)) });
  const newest = (await server.must('XREVRANGE', 'xlb:pool:changes', '+', '-', 'COUNT', '1')).split('\n').slice(1);
  t.deepEqual(newest, ['version', '2', 'node', 'lb-a', 'kind', 'backend add', 'detail', 'web 198.18.1.12:8080']);
});

test('two writers racing with 100 edits each lose none: the pool ends with all 200', async (t) => {
  const server = await startRedis(t);
  const a = await writerOn(t, server, 'lb-a');
  const b = await writerOn(t, server, 'lb-b');
  await a.replace(webPool());
  const edits = (writer: PoolWriter, from: number) => Array.from({ length: 100 }, (_, i) =>
    writer.edit({ kind: 'backend add' }, addBackend(nthAddress(from + i))));
  const results = await Promise.all([...edits(a, 0), ...edits(b, 100)]);
  const versions = results.map((r) => r.version).sort((x, y) => x - y);
  t.deepEqual(versions, Array.from({ length: 200 }, (_, i) => i + 2), 'each edit made its own version');
  const { version, pool } = await stored(server);
  t.is(version, '201');
  const addresses = (pool as { services: { backends: { address: string }[] }[] }).services[0]!.backends.map((x) => x.address).sort();
  t.deepEqual(addresses, Array.from({ length: 200 }, (_, i) => nthAddress(i)).sort());
  t.is(await server.must('XLEN', 'xlb:pool:changes'), '201');
});

test('an edit that throws is refused as it threw, and changes nothing', async (t) => {
  const server = await startRedis(t);
  const writer = await writerOn(t, server);
  await writer.replace(webPool(11));
  const refusal = new XlbError('XLB_NOT_FOUND', 'no service "db"');
  const err = await t.throwsAsync(writer.edit({ kind: 'backend add' }, () => {
    throw refusal;
  }));
  t.is(err, refusal);
  t.deepEqual(await stored(server), { version: '1', pool: poolDoc(webPool(11)) });
  t.is(await server.must('XLEN', 'xlb:pool:changes'), '1');
});

test('an edit whose result breaks the rules fails with each problem, and changes nothing', async (t) => {
  const server = await startRedis(t);
  const writer = await writerOn(t, server);
  await writer.replace(webPool(11));
  const err = await t.throwsAsync(writer.edit({ kind: 'backend add' }, addBackend('198.18.1.11')),
    { instanceOf: ClusterError });
  t.is(err?.code, 'XLB_CONFIG_INVALID');
  t.deepEqual(err?.problems, [{ path: 'services[0].backends[1]', message: '198.18.1.11:8080 is already a backend of this service (services[0].backends[0])' }]);
  t.is(await server.must('GET', 'xlb:pool:version'), '1');
  const bad = await t.throwsAsync(writer.replace({ services: [], deny: [5 as unknown as string] }),
    { instanceOf: ClusterError });
  t.is(bad?.code, 'XLB_CONFIG_INVALID');
  t.is(await server.must('GET', 'xlb:pool:version'), '1');
});

test('bad data in Redis: edits refuse naming the key and the path; a whole new pool replaces it', async (t) => {
  const server = await startRedis(t);
  const writer = await writerOn(t, server);
  await writer.replace(webPool(11));
  const broken = JSON.stringify({ services: [{ name: 'web', vip: 'nope', protocol: 'tcp', port: 80, backends: [] }],
    deny: [] });
  await server.must('SET', 'xlb:pool', broken);
  const err = await t.throwsAsync(writer.edit({ kind: 'backend add' }, addBackend('198.18.1.12')),
    { instanceOf: ClusterError });
  t.is(err?.code, 'XLB_REDIS_DATA_INVALID');
  t.is(err?.key, 'xlb:pool');
  t.deepEqual(err?.problems, [{ path: 'services[0].vip', message: '"nope" is not an IPv4 address' }]);
  t.regex(err?.message ?? '', /xlb:pool \(version 1\): 1 problem\n {2}services\[0\]\.vip: "nope" is not an IPv4 address/);
  t.is(await server.must('GET', 'xlb:pool'), broken, 'nothing was changed');

  t.deepEqual(await writer.replace(webPool(12)), { version: 2, pool: webPool(12) });
  t.deepEqual(await stored(server), { version: '2', pool: poolDoc(webPool(12)) });

  // A version key that is not an integer is left to a person: not even a whole pool goes over it.
  await server.must('SET', 'xlb:pool:version', 'two');
  const version = await t.throwsAsync(writer.replace(webPool(13)), { instanceOf: ClusterError });
  t.is(version?.code, 'XLB_REDIS_DATA_INVALID');
  t.is(version?.key, 'xlb:pool:version');
  t.deepEqual(JSON.parse(await server.must('GET', 'xlb:pool')), poolDoc(webPool(12)));
});

test('with no pool in Redis an edit fails with XLB_REDIS_NO_POOL; a whole pool is written as version 1', async (t) => {
  const server = await startRedis(t);
  const writer = await writerOn(t, server);
  const err = await t.throwsAsync(writer.edit({ kind: 'backend add' }, addBackend('198.18.1.12')),
    { instanceOf: ClusterError });
  t.is(err?.code, 'XLB_REDIS_NO_POOL');
  t.is(await server.must('EXISTS', 'xlb:pool', 'xlb:pool:version', 'xlb:pool:changes'), '0');
  t.deepEqual(await writer.replace(webPool(11)), { version: 1, pool: webPool(11) });
});

test('writers that lose every time give up with XLB_REDIS_CONFLICT after the bounded attempts', async (t) => {
  const server = await startRedis(t);
  const writer = await writerOn(t, server, 'lb-a', { maxAttempts: 3 });
  await writer.replace(webPool(11));
  let calls = 0;
  const err = await t.throwsAsync(writer.edit({ kind: 'backend add' }, (pool) => {
    calls++;
    // Someone else writes between this writer's read and its write, every time.
    execFileSync('redis-cli', ['-p', String(server.port), 'INCR', 'xlb:pool:version']);
    return addBackend('198.18.1.12')(pool);
  }), { instanceOf: ClusterError });
  t.is(err?.code, 'XLB_REDIS_CONFLICT');
  t.is(calls, 3);
  t.is(await server.must('GET', 'xlb:pool:version'), '4', 'only the three outside writes');
  t.deepEqual(JSON.parse(await server.must('GET', 'xlb:pool')), poolDoc(webPool(11)));
});

test('with Redis stopped an edit fails at once with XLB_REDIS_UNAVAILABLE and changes nothing', async (t) => {
  const server = await startRedis(t, { persist: true });
  const writer = await writerOn(t, server);
  await writer.replace(webPool(11));
  await server.stop();
  await waitFor('the writer to notice', () => !writer.connected);
  const started = Date.now();
  const err = await t.throwsAsync(writer.edit({ kind: 'backend add' }, addBackend('198.18.1.12')),
    { instanceOf: ClusterError });
  t.true(Date.now() - started < 3000, 'at once, not queued until Redis is back');
  t.is(err?.code, 'XLB_REDIS_UNAVAILABLE');
  t.regex(err?.message ?? '', /^Redis at redis:\/\/127\.0\.0\.1:\d+\/0 is unavailable \((.*ECONNREFUSED.*|not connected: reconnecting)\): nothing was changed$/);
  await server.start();
  await waitFor('the writer to reconnect', () => writer.connected);
  t.deepEqual(await stored(server), { version: '1', pool: poolDoc(webPool(11)) });
  t.deepEqual(await writer.edit({ kind: 'backend add' }, addBackend('198.18.1.12')), { version: 2, pool: webPool(11, 12) });
});
