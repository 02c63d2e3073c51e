import test from 'ava';
import { Redis } from 'ioredis';
import { ClusterError } from '../../cluster/errors.js';
import { poolKeys } from '../../cluster/keys.js';
import { PoolStore } from '../../cluster/store.js';
import { connectorTo, startRedis, waitFor, type TestContext } from './support.js';
import type { RedisServer } from '../../scripts/lab/redis.js';

const keys = poolKeys('xlb');
const change = { node: 'lb-a', kind: 'backend add', detail: 'web 198.18.1.13:8080' };

async function storeOn(t: TestContext, server: RedisServer, streamMaxLen?: number): Promise<PoolStore> {
  const c = connectorTo(server);
  const redis = c.connect('commands');
  t.teardown(() => redis.disconnect());
  await waitFor('the connection', () => redis.status === 'ready');
  return new PoolStore(redis, keys, c.endpoint, streamMaxLen);
}

test('a write sets the document, raises the version, records the change and publishes the version', async (t) => {
  const server = await startRedis(t);
  const store = await storeOn(t, server);
  const sub = new Redis(server.port, server.host);
  t.teardown(() => sub.disconnect());
  const nudges: string[] = [];
  sub.on('message', (_c: string, m: string) => nudges.push(m));
  await sub.subscribe(keys.nudge);

  t.deepEqual(await store.write(0, '{"services":[],"deny":[]}', change), { ok: true, version: 1 });
  t.is(await server.must('GET', 'xlb:pool'), '{"services":[],"deny":[]}');
  t.is(await server.must('GET', 'xlb:pool:version'), '1');
  t.is(await server.must('TYPE', 'xlb:pool:changes'), 'stream');
  const records = (await server.must('XRANGE', 'xlb:pool:changes', '-', '+')).split('\n');
  t.deepEqual(records.slice(1), ['version', '1', 'node', 'lb-a', 'kind', 'backend add', 'detail', 'web 198.18.1.13:8080']);
  await waitFor('the nudge', () => nudges.length === 1);
  t.deepEqual(nudges, ['1']);

  // A writer that read version 0 lost: nothing changes.
  t.deepEqual(await store.write(0, '{"services":[],"deny":["203.0.113.0/24"]}', change), { ok: false, current: 1 });
  t.is(await server.must('GET', 'xlb:pool'), '{"services":[],"deny":[]}');
  t.is(await server.must('XLEN', 'xlb:pool:changes'), '1');
  t.deepEqual(await store.write(1, '{"services":[],"deny":["203.0.113.0/24"]}', change), { ok: true, version: 2 });

  const snap = await store.snapshot();
  const newest = (await server.must('XREVRANGE', 'xlb:pool:changes', '+', '-', 'COUNT', '1')).split('\n')[0];
  t.deepEqual(snap, { poolType: 'string', pool: '{"services":[],"deny":["203.0.113.0/24"]}', versionType: 'string',
    version: '2', changesType: 'stream', lastId: newest, lastVersion: '2' });
  t.deepEqual(await store.snapshot().then((s) => s.version), await store.version());
});

test('an empty Redis reads as no keys at all', async (t) => {
  const server = await startRedis(t);
  const store = await storeOn(t, server);
  t.deepEqual(await store.snapshot(), { poolType: 'none', pool: null, versionType: 'none', version: null,
    changesType: 'none', lastId: null, lastVersion: null });
  t.is(await store.version(), null);
});

test('a write over a version key that is not an integer, or a stream key of another type, changes nothing', async (t) => {
  const server = await startRedis(t);
  const store = await storeOn(t, server);
  const cases: [string[], string, RegExp][] = [
    [['SET', 'xlb:pool:version', 'seven'], 'xlb:pool:version', /"seven" is not an integer from 1/],
    [['SET', 'xlb:pool:version', '007'], 'xlb:pool:version', /"007" is not an integer/],
    [['HSET', 'xlb:pool:version', 'v', '1'], 'xlb:pool:version', /holds a hash, not an integer/],
    [['SET', 'xlb:pool:changes', 'x'], 'xlb:pool:changes', /holds a string, not a stream/],
  ];
  for (const [setup, key, message] of cases) {
    await server.must('FLUSHALL');
    await server.must('SET', 'xlb:pool', 'before');
    await server.must(...setup);
    const err = await t.throwsAsync(store.write(0, 'after', change), { instanceOf: ClusterError });
    t.is(err?.code, 'XLB_REDIS_DATA_INVALID', setup.join(' '));
    t.is(err?.key, key);
    t.regex(err?.message ?? '', message);
    t.is(await server.must('GET', 'xlb:pool'), 'before', 'the document stayed');
    t.is(await server.must('EXISTS', 'xlb:pool:changes'), key === 'xlb:pool:changes' ? '1' : '0', 'no record added');
  }
});

test('a seed fills an empty Redis, replaces only an older unedited seed, and never an edited pool', async (t) => {
  const server = await startRedis(t);
  const store = await storeOn(t, server);
  const seedBy = { node: 'lb-a', detail: 'test' };
  t.deepEqual(await store.seed('"three"', 3, seedBy), { seeded: true, version: 3 });
  t.is(await server.must('GET', 'xlb:pool:version'), '3');
  // Another node held a newer pool: it wins over a seed nobody has edited.
  t.deepEqual(await store.seed('"five"', 5, seedBy), { seeded: true, version: 5 });
  t.deepEqual(await store.seed('"four"', 4, seedBy), { seeded: false, current: 5 });
  t.deepEqual(await store.seed('"five again"', 5, seedBy), { seeded: false, current: 5 });
  t.is(await server.must('GET', 'xlb:pool'), '"five"');
  t.deepEqual(await store.write(5, '"six"', change), { ok: true, version: 6 });
  // An edit made through Redis always stays.
  t.deepEqual(await store.seed('"nine"', 9, seedBy), { seeded: false, current: 6 });
  t.is(await server.must('GET', 'xlb:pool'), '"six"');
  const kinds = (await server.must('XRANGE', 'xlb:pool:changes', '-', '+')).split('\n')
    .filter((_, i, all) => all[i - 1] === 'kind');
  t.deepEqual(kinds, ['seed', 'seed', 'backend add']);
  // A version key alone (no document) is not empty: no seed over it.
  await server.must('FLUSHALL');
  await server.must('SET', 'xlb:pool:version', '2');
  t.deepEqual(await store.seed('"x"', 9, seedBy), { seeded: false, current: 2 });
});

test('the change stream is capped', async (t) => {
  const server = await startRedis(t);
  const store = await storeOn(t, server, 10);
  for (let v = 0; v < 400; v++) t.true((await store.write(v, `${v}`, change)).ok);
  const length = Number(await server.must('XLEN', 'xlb:pool:changes'));
  // MAXLEN ~ trims whole radix-tree nodes (100 records by default): about 10, never all 400.
  t.true(length >= 10 && length <= 200, `XLEN ${length}`);
});

test('with Redis stopped, reads and writes fail at once with XLB_REDIS_UNAVAILABLE', async (t) => {
  const server = await startRedis(t);
  const store = await storeOn(t, server);
  await server.stop();
  // Until the client has seen the connection close, a write may still be sent into it: its outcome is then unknown.
  await waitFor('the client to see the connection closed', () => !store.connected);
  const started = Date.now();
  const write = await t.throwsAsync(store.write(0, 'x', change), { instanceOf: ClusterError });
  t.is(write?.code, 'XLB_REDIS_UNAVAILABLE');
  t.regex(write?.message ?? '', new RegExp(`Redis at redis://127.0.0.1:${server.port}/0 is unavailable .*nothing was changed`));
  const read = await t.throwsAsync(store.snapshot(), { instanceOf: ClusterError });
  t.is(read?.code, 'XLB_REDIS_UNAVAILABLE');
  t.true(Date.now() - started < 3000, 'at once, not after retries');
});
