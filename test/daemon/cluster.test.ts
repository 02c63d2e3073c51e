// The pool in Redis through real daemons (README "Cluster"): two nodes of a pair lab follow one redis-server; edits on
// either reach both nodes' maps; racing edits lose nothing; Redis gone, forwarding goes on and edits fail at once;
// bad data in Redis is refused with its key named; TLS and a password.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ControlClient } from '../../lb/cli/client.js';
import type { Status } from '../../lb/control/api.js';
import { makeTlsFiles } from '../../scripts/lab/redis.js';
import {
  eventually, httpBurst, labRedis, ping, webService, XlbNode, type ConfigObject, type RunResult,
} from '../support/daemon.js';

/** A service with no health check, for edits in bulk: its backends cost no probes. */
const bulk = (): ConfigObject => ({ name: 'bulk', vip: '198.18.100.20', protocol: 'tcp', port: 81, health: { type: 'none' }, backends: [] });

function ok(r: RunResult): RunResult {
  if (r.code !== 0) throw new Error(`lbctl failed (${r.code}): ${r.stderr.trim()}`);
  return r;
}

const backendsOf = (s: Status, service: string) =>
  s.services.find((v) => v.name === service)?.backends.map((b) => `${b.address}:${b.port}`).sort() ?? [];

test('two daemons share one Redis: an edit on A is in B\'s status and maps; a config apply on B reaches A', async (t) => {
  t.timeout(120_000);
  const [a, b] = await XlbNode.pair(t, { backends: 4 });
  const redis = await labRedis(t, a.lab);
  const backends = a.lab.addresses.backends.slice(0, 3);
  const config = (n: XlbNode) => n.config({ redis: { url: redis.url }, services: [webService(backends)] });

  const da = await a.start(config(a));
  t.true(da.logEntries().some((e) => typeof e.msg === 'string' && e.msg.startsWith('Redis held no pool: seeded it with the pool of its config file')), da.log);
  const db = await b.start(config(b));
  t.true(db.logEntries().some((e) => e.msg === `the pool is Redis's (${redis.url}), version 1`), db.log);
  t.like((await b.status()).redis, { state: 'synced', version: 1, endpoint: redis.url });

  const added = a.lab.addresses.backends[3]!;
  const t0 = Date.now();
  ok(await a.lbctl(['backend', 'add', 'web', `${added}:8080`]));
  const seen = await eventually('the backend in B\'s status', 10_000, async () => {
    const s = await b.status();
    return backendsOf(s, 'web').includes(`${added}:8080`) ? s : undefined;
  });
  t.log(`A's edit in B's status after ${Date.now() - t0} ms`);
  t.is(seen.redis!.version, 2);
  t.true((await b.backendsInMaps()).some((e) => e.addr === added && e.port === 8080), 'and in B\'s maps');

  const applied = b.writeConfig(config(b));
  const yaml = (await import('yaml')).stringify({ ...config(b), deny: ['203.0.113.0/24'], services: [webService(backends), bulk()] });
  writeFileSync(applied, yaml);
  ok(await b.lbctl(['config', 'apply', applied]));
  const onA = await eventually('B\'s apply in A\'s status', 10_000, async () => {
    const s = await a.status();
    return s.deny.includes('203.0.113.0/24') && s.services.some((v) => v.name === 'bulk') ? s : undefined;
  });
  t.is(onA.redis!.version, 3);
  t.deepEqual(backendsOf(onA, 'web'), backends.map((x) => `${x}:8080`).sort(), 'the file\'s pool, without A\'s earlier edit');
});

test('100 edits from each node at once: the pool ends with all 200, and both nodes\' maps hold them', async (t) => {
  t.timeout(240_000);
  const [a, b] = await XlbNode.pair(t, { backends: 1 });
  const redis = await labRedis(t, a.lab);
  const config = (n: XlbNode) => n.config({ redis: { url: redis.url }, services: [bulk()] });
  await a.start(config(a));
  await b.start(config(b));

  // 198.18.3.0/24 is nobody's: these backends never get traffic, and cost no probes (health none).
  const address = (i: number) => `198.18.3.${i + 1}`;
  const edits = (n: XlbNode, from: number) => async () => {
    for (let i = from; i < from + 100; i += 10) {
      await Promise.all(Array.from({ length: 10 }, (_, k) => n.lbctl(['backend', 'add', 'bulk', `${address(i + k)}:81`]).then(ok)));
    }
  };
  await Promise.all([edits(a, 0)(), edits(b, 100)()]);
  const want = Array.from({ length: 200 }, (_, i) => `${address(i)}:81`).sort();
  for (const n of [a, b]) {
    const s = await eventually(`all 200 in ${n.lbNs}'s status`, 20_000, async () => {
      const st = await n.status();
      return backendsOf(st, 'bulk').length === 200 ? st : undefined;
    });
    t.deepEqual(backendsOf(s, 'bulk'), want);
    t.is(s.redis!.version, 201);
    const inMaps = (await n.backendsInMaps()).map((e) => `${e.addr}:${e.port}`).sort();
    t.deepEqual(inMaps, want, `${n.lbNs}'s maps hold exactly the pool`);
  }
});

test('Redis stopped: forwarding goes on, an edit fails at once with XLB_REDIS_UNAVAILABLE; back, a change made meanwhile is applied', async (t) => {
  t.timeout(120_000);
  const node = await XlbNode.create(t);
  const redis = await labRedis(t, node.lab, { persist: true });
  await node.start(node.config({ redis: { url: redis.url } }));
  const lab = node.lab;

  const flood = ping(lab, ['-i', '0.01', '-c', '800', '-W', '5'], undefined, 60_000);
  await redis.stop();
  await eventually('status says Redis is unreachable', 15_000, async () => (await node.status()).redis?.state === 'disconnected');
  const edit = await node.lbctl(['backend', 'drain', 'web', `${lab.addresses.backends[0]}:8080`, '--verbose']);
  t.is(edit.code, 1);
  t.regex(edit.stderr, /XLB_REDIS_UNAVAILABLE/);
  // At once: not held until Redis is back (which waits for this). Timed on the socket, without lbctl's start.
  const started = Date.now();
  const direct = await new ControlClient(node.socket).call('POST /backends/drain',
    { service: 'web', address: lab.addresses.backends[0]!, port: 8080 }).catch((e: Error & { code?: string }) => e);
  t.is((direct as { code?: string }).code, 'XLB_REDIS_UNAVAILABLE');
  t.true(Date.now() - started < 5000, `it failed after ${Date.now() - started} ms`);
  t.false((await node.status()).services[1]!.backends[0]!.drained, 'nothing changed');
  const burst = await httpBurst(lab, 20);
  t.is(burst.ok, 20, 'HTTP flows while Redis is gone');

  // Back; before the daemon reconnects (its backoff), a change is written straight into Redis by hand.
  await redis.start();
  const pool = JSON.parse(await redis.must('GET', 'xlb:pool')) as { deny: string[] };
  pool.deny = ['192.0.2.0/24'];
  await redis.must('SET', 'xlb:pool', JSON.stringify(pool));
  await redis.must('INCR', 'xlb:pool:version');
  // SET and INCR are two commands: the daemon may read the new pool under the old version first, then the version.
  const s = await eventually('the change made meanwhile applied, at version 2', 20_000, async () => {
    const st = await node.status();
    return st.deny.includes('192.0.2.0/24') && st.redis?.version === 2 ? st : undefined;
  });
  t.like(s.redis, { state: 'synced', version: 2 });
  const r = await flood;
  t.is(r.loss, 0, r.stdout.slice(-300));
});

test('a malformed pool written with redis-cli is refused, its key and path named; forwarding is unchanged', async (t) => {
  t.timeout(90_000);
  const node = await XlbNode.create(t);
  const redis = await labRedis(t, node.lab);
  await node.start(node.config({ redis: { url: redis.url } }));
  const before = await node.status();

  const pool = JSON.parse(await redis.must('GET', 'xlb:pool')) as { services: { vip: string }[] };
  pool.services[1]!.vip = '300.1.2.3';
  await redis.must('SET', 'xlb:pool', JSON.stringify(pool));
  await redis.must('INCR', 'xlb:pool:version');
  await redis.must('PUBLISH', 'xlb:pool:nudge', '2');
  const s = await eventually('the pool refused', 15_000, async () => {
    const st = await node.status();
    return st.redis?.state === 'refused' ? st : undefined;
  });
  t.deepEqual(s.redis!.refused, { key: 'xlb:pool', version: 2,
    problems: [{ path: 'services[1].vip', message: '"300.1.2.3" is not an IPv4 address' }] });
  t.is(s.redis!.version, 1, 'the node keeps its last good pool');
  t.deepEqual(s.services.map((v) => v.vip), before.services.map((v) => v.vip));
  const table = await node.lbctl(['status']);
  t.regex(table.stdout, /^redis\s+\S+: refusing xlb:pool since /m);
  t.regex(table.stdout, /^ {2}xlb:pool: services\[1\]\.vip: "300\.1\.2\.3" is not an IPv4 address$/m);
  t.regex(await node.metrics(), /^xlb_pool_refused 1$/m);
  const burst = await httpBurst(node.lab, 10);
  t.is(burst.ok, 10, 'forwarding as before');
  const edit = await node.lbctl(['deny', 'add', '192.0.2.0/24', '--verbose']);
  t.is(edit.code, 1);
  t.regex(edit.stderr, /XLB_REDIS_DATA_INVALID/);
});

test('TLS with a CA file and a password from a file', async (t) => {
  t.timeout(90_000);
  const node = await XlbNode.create(t);
  const tls = await makeTlsFiles(node.dir, [node.lab.switchAddress]);
  const redis = await labRedis(t, node.lab, { tls, password: 'lab-secret' });
  const passwordFile = join(node.dir, 'redis.pass');
  writeFileSync(passwordFile, 'lab-secret\n');
  await node.start(node.config({ redis: { url: redis.url, password_file: passwordFile, ca_file: tls.ca } }));
  const s = await node.status();
  t.like(s.redis, { state: 'synced', version: 1 });
  t.regex(s.redis!.endpoint, /^rediss:\/\//);
  t.regex(await node.metrics(), /^xlb_redis_up 1$/m);
});
