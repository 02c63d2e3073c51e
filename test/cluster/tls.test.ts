import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { redisConnector } from '../../cluster/connection.js';
import type { RedisUrlConfig } from '../../config/types.js';
import { ClusterError } from '../../cluster/errors.js';
import { PoolFollower } from '../../cluster/follower.js';
import { PoolWriter } from '../../cluster/writer.js';
import type { Pool } from '../../config/pool.js';
import { makeTlsFiles, type TlsFiles } from '../../scripts/lab/redis.js';
import {
  backend, fastTuning, LogCapture, startRedis, waitFor, webPool, type TestContext,
} from './support.js';

const PASSWORD = 'correct horse';

async function tlsFiles(t: TestContext): Promise<TlsFiles & { dir: string; password: string; wrong: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'xlb-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'password'), `${PASSWORD}\n`);
  writeFileSync(join(dir, 'wrong'), 'battery staple\n');
  return { ...(await makeTlsFiles(dir)), dir, password: join(dir, 'password'), wrong: join(dir, 'wrong') };
}

function pair(t: TestContext, config: RedisUrlConfig, held: { pool: Pool; version: number }) {
  const logs = new LogCapture();
  const writer = new PoolWriter({ connector: redisConnector(config, 'lb-a', fastTuning()), keyPrefix: 'xlb', nodeId: 'lb-a', logger: logs.logger });
  const follower = new PoolFollower({ connector: redisConnector(config, 'lb-b', fastTuning()), keyPrefix: 'xlb',
    nodeId: 'lb-b', held: () => held, onPool: (u) => void Object.assign(held, { pool: u.pool, version: u.version }), logger: logs.logger });
  follower.start();
  t.teardown(async () => {
    await follower.stop();
    await writer.close();
    if (!t.passed) t.log(logs.text());
  });
  return { writer, follower, logs };
}

test('rediss:// verified with a CA file, and a password from password_file: edits reach the follower', async (t) => {
  const files = await tlsFiles(t);
  const server = await startRedis(t, { tls: files, password: PASSWORD });
  t.regex(server.url, /^rediss:/);
  const held = { pool: webPool(11), version: 0 };
  const { writer, follower } = pair(t, { url: server.url, keyPrefix: 'xlb', caFile: files.ca, passwordFile: files.password },
    held);
  await waitFor('the seed', () => held.version === 1);
  await waitFor('the writer', () => writer.connected);
  await writer.edit({ kind: 'backend add' }, (p) => ({ ...p,
    services: p.services.map((s) => ({ ...s, backends: [...s.backends, backend('198.18.1.12', 8080)] })) }));
  await waitFor('the change', () => held.version === 2);
  t.deepEqual(held.pool, webPool(11, 12));
  t.is(follower.status().endpoint, `rediss://127.0.0.1:${server.port}/0`);
  // The password may also be in the URL.
  const inUrl = pair(t, { url: `rediss://:${encodeURIComponent(PASSWORD)}@127.0.0.1:${server.port}/0`, keyPrefix: 'xlb',
    caFile: files.ca }, { pool: webPool(), version: 0 });
  await waitFor('the URL\'s password', () => inUrl.follower.status().state === 'synced');
});

test('a server whose certificate the CA does not vouch for, or a wrong password: unavailable, said why', async (t) => {
  const files = await tlsFiles(t);
  const server = await startRedis(t, { tls: files, password: PASSWORD });
  const cases: [Partial<RedisUrlConfig>, RegExp][] = [
    [{ passwordFile: files.password }, /certificate/],
    [{ passwordFile: files.wrong, caFile: files.ca }, /WRONGPASS/],
  ];
  for (const [extra, reason] of cases) {
    const held = { pool: webPool(11), version: 0 };
    const { writer, follower, logs } = pair(t, { url: server.url, keyPrefix: 'xlb', ...extra }, held);
    await waitFor(`the follower to say ${reason}`, () => reason.test(follower.status().error ?? ''));
    t.is(follower.status().state, 'disconnected');
    t.is(logs.matching(/unreachable/).length, 1);
    const err = await waitFor(`an edit to fail saying ${reason}`, async () => {
      const e = await writer.replace(webPool(12)).then(() => undefined, (x: unknown) => x as ClusterError);
      return e && reason.test(e.message) ? e : undefined;
    });
    t.is(err.code, 'XLB_REDIS_UNAVAILABLE');
    t.is(held.version, 0);
  }
  t.is(await server.must('EXISTS', 'xlb:pool', 'xlb:pool:version'), '0', 'nothing was written');
});
